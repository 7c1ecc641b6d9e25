"""Hostile playbooks and templates: bounded work, one `file:line: id: message` line, the others load.

A few hundred bytes of YAML aliases describe billions of values (the "billion laughs"); a template
with two nested loops renders for hours. `steward check` and a live reload must refuse them
quickly, with their file and line, and keep the rest.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

from bot.app import check_context, templates_for
from bot.engine.loader import load_dir
from bot.messaging.templates import Templates
from tests.conftest import ROOT, test_settings

SHIPPED = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yaml"))


def alias_bomb(pb_id: str, levels: int, size: int) -> str:
    """A valid-looking playbook whose ``vars`` hold ``9 ** levels`` values once aliases are followed,
    padded with a comment to exactly ``size`` bytes (``levels`` 9: 387 million values)."""
    lines = [f"id: {pb_id}", "trigger:", "  event: member_joined", "vars:",
             '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"  a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    lines += ["actions:", "  - add_reaction: {emoji: wave}"]
    text = "\n".join(lines) + "\n"
    pad = size - len(text) - 2
    assert pad >= 0, len(text)
    return text + "#" + "x" * pad + "\n"


def _bombs(directory: Path) -> dict[str, int]:
    """The two bombs of the report, written into ``directory``: file name -> the line refused."""
    (directory / "bomb553.yaml").write_text(alias_bomb("bomb-553", 9, 553))
    (directory / "bomb614.yaml").write_text(alias_bomb("bomb-614", 10, 614))
    assert [len((directory / f).read_bytes()) for f in ("bomb553.yaml", "bomb614.yaml")] == [553, 614]
    # the alias that takes the count past the limit: a4 holds 9**5 = 59,049 values
    return {"bomb553.yaml": 9, "bomb614.yaml": 9}


def _with_shipped(tmp_path: Path) -> Path:
    pdir = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", pdir)
    return pdir


def test_steward_check_refuses_alias_bombs_with_one_line_each_and_the_rest_load(tmp_path):
    pdir = _with_shipped(tmp_path)
    lines = _bombs(pdir)
    proc = subprocess.run([sys.executable, "-m", "bot", "check", "--config", str(ROOT / "config.example.toml"),
                           "--playbooks", str(pdir)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    out = [ln for ln in proc.stdout.splitlines() if "warning" not in ln]
    assert out == [
        f"{pdir / 'bomb553.yaml'}:{lines['bomb553.yaml']}: bomb-553: anchors and aliases expand the playbook "
        "past 10,000 values (an alias bomb?): refused",
        f"{pdir / 'bomb614.yaml'}:{lines['bomb614.yaml']}: bomb-614: anchors and aliases expand the playbook "
        "past 10,000 values (an alias bomb?): refused",
    ], proc.stdout


def test_an_alias_bomb_is_refused_in_little_memory_and_the_others_load(tmp_path):
    pdir = _with_shipped(tmp_path)
    _bombs(pdir)
    (pdir / "bomb614.yaml").unlink()  # the smaller one is enough to measure; both are refused alike
    settings = test_settings(f"sqlite:///{tmp_path / 'x.db'}")
    ctx = check_context(settings, templates_for(ROOT / "messages"))
    load_dir(ROOT / "playbooks", ctx)  # imports and template compilation, outside the measurement
    tracemalloc.start()
    try:
        result = load_dir(pdir, ctx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sorted(pb.file.rsplit("/", 1)[1].removesuffix(".yaml") for pb in result.playbooks.values()) == SHIPPED
    assert [(p.playbook_id, p.line) for p in result.errors] == [("bomb-553", 9)]
    assert peak < 30 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_aliases_that_stay_small_are_fine_and_self_reference_nesting_and_size_are_refused(tmp_path):
    (tmp_path / "shared.yaml").write_text(
        "id: shared\ntrigger:\n  event: member_joined\nvars:\n  base: &base {x: 1, y: 2}\n  other:\n"
        "    <<: *base\n    z: 3\nactions:\n  - add_reaction: &wave {emoji: wave}\n  - add_reaction: *wave\n")
    (tmp_path / "loop.yaml").write_text("id: loop\nvars:\n  a: &a [1, *a]\n")
    (tmp_path / "deep.yaml").write_text("id: deep\nvars:\n  a: " + "[" * 20_000 + "]" * 20_000 + "\n")
    (tmp_path / "big.yaml").write_text("id: big\n# " + "x" * 70_000 + "\n")
    result = load_dir(tmp_path, check_context(test_settings(f"sqlite:///{tmp_path / 'x.db'}"),
                                              templates_for(ROOT / "messages")))
    assert list(result.playbooks) == ["shared"]
    assert result.playbooks["shared"].spec.vars["other"] == {"x": 1, "y": 2, "z": 3}
    assert sorted(str(p).removeprefix(f"{tmp_path}/") for p in result.errors) == [
        "big.yaml:1: big: the file is 70,011 bytes; a playbook may have at most 65,536",
        "deep.yaml:3: deep: YAML syntax: blocks nest more than 64 deep",
        "loop.yaml:3: loop: an alias refers to the block that contains it: refused",
    ]


NESTED_LOOPS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}Hi\n"


def test_steward_check_stops_a_template_with_nested_loops_with_its_file_and_line(tmp_path):
    messages = tmp_path / "messages"
    for loc in ("en", "nl"):
        (messages / loc).mkdir(parents=True)
        (messages / loc / "greeting.j2").write_text("Hello {{ member.name }}\n\n" + NESTED_LOOPS)
    pdir = tmp_path / "playbooks"
    pdir.mkdir()
    (pdir / "greet.yaml").write_text("id: greet\ntrigger:\n  event: member_joined\nactions:\n"
                                     "  - send_dm:\n      template: greeting\n")
    proc = subprocess.run([sys.executable, "-m", "bot", "check", "--playbooks", str(pdir), "--messages",
                           str(messages)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    budget = "render budget exceeded: more than 100,000 loop iterations and calls"
    assert proc.stdout.splitlines() == [
        f"{messages / 'en' / 'greeting.j2'}:3: -: {budget}",
        f"{messages / 'nl' / 'greeting.j2'}:3: -: {budget}",
        f"{pdir / 'greet.yaml'}:6: greet: send_dm: template 'greeting' does not render: "
        f"en/greeting.j2:3: {budget}; nl/greeting.j2:3: {budget}",
    ], proc.stdout


def test_the_render_budget_stops_what_loops_cannot_see(tmp_path):
    (tmp_path / "en").mkdir()
    bombs = {
        "macro": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "repeat": '{{ "x" * 1000000000 }}',
        "doubling": '{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
                    "{% endfor %}{{ ns.s }}",
        "width": '{{ "x"|center(1000000000) }}',
        "method": '{{ "x".ljust(1000000000) }}',
        "output": "{% for i in range(99999) %}xxxxxxxxxx{% endfor %}",
        "grow": "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
    }
    for name, src in bombs.items():
        (tmp_path / "en" / f"{name}.j2").write_text(src + "\n")
    (tmp_path / "en" / "fine.j2").write_text("{% for q in questions %}{{ q.text|excerpt(20) }} "
                                             "{{ loop.index }}{% endfor %} {{ [1, 2]|join(',') }}\n")
    problems = {Path(f).stem: msg for f, _, msg in templates_for(tmp_path).check_all(required_locales=("en",))}
    # 2**40 macro calls: whichever comes first on this machine, the step count or the second
    assert problems.pop("macro") in ("render budget exceeded: more than 100,000 loop iterations and calls",
                                     "render budget exceeded: rendering took more than 1 s")
    assert problems == {
        "repeat": "render budget exceeded: a value longer than 100,000",
        "doubling": "render budget exceeded: namespace value 's' longer than 100,000",
        "width": "render budget exceeded: a width or count of 1,000,000,000",
        "method": "render budget exceeded: a width or count of 1,000,000,000",
        "output": "render budget exceeded: output longer than 100,000 characters",
        "grow": "access to attribute 'extend' of 'list' object is unsafe.",
    }
    assert Templates(tmp_path).render("fine", {"questions": [{"text": "How do I?"}]}) == "How do I? 1 1,2"


async def test_a_reload_of_an_alias_bomb_does_not_block_the_event_loop(make_app, tmp_path):
    pdir = _with_shipped(tmp_path)
    app = await make_app(playbooks_dir=pdir)
    before = set(app.engine.playbooks)
    assert len(before) == len(SHIPPED)
    _bombs(pdir)
    (pdir / "bomb614.yaml").unlink()

    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:  # another coroutine on the same loop: an event being handled, say
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = ticks
    result = await app.engine.reload()
    during = ticks - start
    stop.set()
    await task
    assert during > 0, "the event loop did not run while playbooks were reloading"
    assert set(app.engine.playbooks) == before
    assert [(p.playbook_id, p.line) for p in result.errors] == [("bomb-553", 9)]
