"""The shipped reply-link model: what it depends on, what its file records, how it refuses a file it
cannot trust, and the decisions and reasons it gives on a small conversation."""

from __future__ import annotations

import ast
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.conversation.model import BELOW, SHIPPED, ModelError, ReplyModel, shipped
from bot.conversation.tracker import ConversationTracker
from tests.conftest import ROOT

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_the_package_sits_on_the_core_alone():
    """bot/conversation imports only bot.core; at run time no training library (training.py loads
    scikit-learn and numpy inside its functions, for `steward model train`)."""
    offenders = []
    for path in (ROOT / "bot" / "conversation").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level: what importing the file pulls in
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for mod in mods:
                top = mod.split(".")[0]
                if mod.startswith("bot.") and not mod.startswith(("bot.core", "bot.conversation")):
                    offenders.append(f"{path.name} imports {mod}")
                if top in ("sklearn", "numpy", "lightgbm") or mod.startswith("bot.community"):
                    offenders.append(f"{path.name} imports {mod}")
    assert offenders == []


def test_the_shipped_file_is_small_loads_fast_and_says_where_it_came_from():
    assert SHIPPED.stat().st_size < 400 * 1024
    t = time.perf_counter()
    m = ReplyModel.load()
    assert time.perf_counter() - t < 1.0
    doc = json.loads(SHIPPED.read_text())
    trained = doc["trained"]
    assert trained["data"] == "ubuntu-irc-train"
    assert "gold.json" in trained["files"] and len(trained["files"]["gold.json"]) == 64
    assert trained["annotated_messages"] > 50_000 and trained["settings"]["max_lines"] == m.max_lines
    assert trained["selection"]["by"] == "cross-validation grouped by log"
    assert 0 < m.threshold < 1 and 0 < m.link_threshold < 1


@pytest.mark.parametrize("bad", [
    {"threshold": "__import__('os')"},
    {"feature": 99},
    {"left": 5000},
])
def test_a_file_that_is_not_plain_trees_is_refused(bad):
    doc = json.loads(SHIPPED.read_text())
    tree = doc["trees"][0]
    split = next(i for i, f in enumerate(tree["feature"]) if f >= 0)
    for k, v in bad.items():
        tree[k][split] = v
    with pytest.raises(ModelError):
        ReplyModel.from_document(doc)


def test_a_file_for_other_features_is_refused():
    doc = json.loads(SHIPPED.read_text())
    doc["features"] = doc["features"][:-1]
    with pytest.raises(ModelError, match="other features"):
        ReplyModel.from_document(doc)


def test_the_early_stop_only_drops_rows_that_cannot_reach_the_floor():
    """``raw_above`` gives the exact score, or ``BELOW`` for a row whose exact score is under the
    floor; and it does stop early for most rows of a plain chat (else it saves nothing)."""
    import random

    from bot.conversation.features import N_FEATURES, NEVER

    m = shipped()
    rng = random.Random(5)
    rows = []
    for _ in range(3000):
        row = [float(rng.random() < 0.5) for _ in range(N_FEATURES)]
        row[0], row[1], row[25], row[26] = rng.randint(1, 40), rng.uniform(0, 3000), rng.randint(1, 300), \
            rng.randint(1, 300)
        row[13], row[14] = rng.choice((1, 3, 12, NEVER)), rng.choice((2, 9, NEVER))
        rows.append(row)
    dropped = 0
    for row in rows:
        z = m.raw(row)
        for floor in (-6.0, -3.0, -1.386, 0.0, 2.0, z, z + 1e-12):
            got = m.raw_above(row, floor)
            if got == BELOW:
                assert z < floor
                dropped += floor == -1.386
            else:
                assert got == z
    assert dropped > len(rows) // 2, dropped


class Chat:
    def __init__(self) -> None:
        self.tr = ConversationTracker(shipped())
        self.n = 0
        self.answered: dict[str, str] = {}
        self.unanswered: dict[str, str] = {}
        self.links: dict[str, str | None] = {}

    def say(self, who: str, text: str, *, seconds: float = 30) -> str:
        self.n += 1
        mid = f"m{self.n}"
        out = self.tr.observe(platform="slack", channel_id="C", message_id=mid, author_id=who,
                              at=T + timedelta(seconds=self.n * seconds), text=text)
        self.links[mid] = out.parent.message_id if out.parent else None
        for q in out.answered:
            self.answered[q.message_id] = q.reason
        for q in out.unanswered:
            self.unanswered[q.message_id] = q.reason
        return mid


def test_an_addressed_reply_answers_with_the_reason_in_words():
    c = Chat()
    q = c.say("UA", "How do I mount an NFS share at boot?")
    c.say("UC", "good morning all")
    r = c.say("UB", "<@UA>: put it in /etc/fstab with the _netdev option")
    assert c.links[r] == q
    assert c.answered[q] == "answered by @UB 1 min later (addressed @UA)"


def test_a_question_lost_in_other_conversations_is_unanswered_with_why():
    c = Chat()
    q = c.say("UA", "How do I mount an NFS share at boot?")
    for i in range(45):
        a, b = ("UB", "UC") if i % 2 else ("UC", "UB")
        c.say(a, f"<@{b}>: about the build of release {i}, did the cache clear")
    assert q not in c.answered
    reason = c.unanswered[q]
    assert reason == "no reply linked: the next 40 messages belonged to 1 other conversation"


def test_the_answer_models_probability_only_grows_as_replies_come_in():
    """Steward decides a question at once, message by message, yet as the model fitted on whole
    windows would: raising any reply feature never lowers the answer model's score."""
    import random

    from bot.conversation.answers import ANSWER_FEATURES, MONOTONE, N_STATIC

    m = shipped()
    rng = random.Random(7)
    assert len(MONOTONE) == len(ANSWER_FEATURES) and all(MONOTONE[N_STATIC:])
    for _ in range(2000):
        row = [float(rng.random() < 0.5), float(rng.randint(5, 400)), float(rng.choice((1, 2, 5, 40, 10_000))),
               float(rng.random() < 0.3), float(rng.randint(0, 30))]
        row += [rng.random(), rng.random(), rng.random(), float(rng.randint(0, 4)), rng.random(), rng.random()]
        z = m.answer_raw(row)
        for i in range(N_STATIC, len(row)):
            up = list(row)
            up[i] += rng.random() * (3 if i == N_STATIC + 3 else 0.5)
            assert m.answer_raw(up) >= z - 1e-12


def test_a_file_without_the_answer_model_is_refused():
    doc = json.loads(SHIPPED.read_text())
    del doc["answer"]
    doc["version"] = 1
    with pytest.raises(ModelError, match="version 2"):
        ReplyModel.from_document(doc)


def test_the_answer_models_early_stop_keeps_every_decision():
    """``answer_above`` gives the exact score, or ``BELOW`` only for a row under the floor."""
    import random

    m = shipped()
    rng = random.Random(11)
    for _ in range(2000):
        row = [float(rng.random() < 0.5), float(rng.randint(5, 400)), float(rng.choice((1, 2, 5, 40, 10_000))),
               float(rng.random() < 0.3), float(rng.randint(0, 30)), rng.random(), rng.random(), rng.random(),
               float(rng.randint(0, 4)), rng.random(), rng.random()]
        z = m.answer_raw(row)
        for floor in (-2.0, 0.0, 0.405, 1.5, z):
            got = m.answer_above(row, floor)
            assert got == z or (got == BELOW and z < floor)
