"""Replay skips scheduled ticks only when their scan is known to find nothing: the backtest's
outputs are the same byte for byte with and without the skipping."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from bot.engine.runner import Engine
from bot.replay import driver
from bot.replay.backtest import OUTPUTS, run_backtest
from tests.replay.exports import help_desk_export


async def _run(tmp_path, name: str, guard: bool, monkeypatch) -> Counter:
    fired: Counter = Counter()
    orig = Engine.fire_schedule

    async def counting(self, playbook_id, *a, **kw):
        fired[playbook_id] += 1
        return await orig(self, playbook_id, *a, **kw)

    monkeypatch.setattr(Engine, "fire_schedule", counting)
    monkeypatch.setattr(driver, "GUARD_TICKS", guard)
    await run_backtest(tmp_path / "export", tmp_path / name)
    return fired


@pytest.mark.parametrize("pause_after", [None, 9])
async def test_skipped_ticks_change_no_output(tmp_path, monkeypatch, pause_after):
    # with a pause, the history is replayed in two stretches (no ticks through the silence)
    help_desk_export(tmp_path / "export", days=16, pause_after=pause_after)
    every = await _run(tmp_path, "every", False, monkeypatch)
    guarded = await _run(tmp_path, "guarded", True, monkeypatch)
    for name in OUTPUTS:
        # the report numbers its charts' ids across the process
        # and says when it was generated (two runs may fall either side of a minute)
        same = [re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "generated",
                       re.sub(r"svg\d+", "svg", (tmp_path / run / name).read_text())) for run in ("guarded", "every")]
        assert same[0] == same[1], name
    actions = Counter(json.loads(line)["playbook"] for line in (tmp_path / "every" / "actions.jsonl").open())
    # the scans had something to act on: questions pointed to helpers, digests, nudges
    assert actions["unanswered"] > 20 and actions["unanswered_digest"] > 5 and actions["lurkers"] > 0
    assert every["unanswered"] > 900
    assert guarded["unanswered"] < every["unanswered"] / 3
    assert guarded["unanswered_digest"] <= every["unanswered_digest"]
