"""Malformed playbooks: each problem names the right file and line; the others keep loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.app import check_context, templates_for
from bot.engine.loader import load_dir
from tests.conftest import ROOT, test_settings

GOOD = """\
id: greet
trigger:
  event: member_joined
actions:
  - post_message:
      channel: welcome
      template: welcome_channel
"""

BROKEN = {
    # YAML syntax error: the unclosed bracket is reported where the parser gives up
    "syntax.yaml": ("id: syntax\ntrigger:\n  event: member_joined\nactions: [\n  - send_dm: {template: x}\n", 5,
                    "YAML syntax"),
    # unknown top-level key
    "unknown_key.yaml": ("id: unknown-key\ntrigger:\n  event: member_joined\nactoins:\n  - add_reaction:\n"
                         "      emoji: wave\nactions:\n  - add_reaction: {emoji: wave}\n", 4, "actoins: unknown key"),
    # a template that does not exist, on the line of the template key
    "missing_template.yaml": ("id: missing-template\ntrigger:\n  event: member_joined\nactions:\n"
                              "  - post_message:\n      channel: welcome\n      template: no_such_template\n", 7,
                              "template 'no_such_template' does not exist"),
    # a cron expression that does not parse
    "bad_cron.yaml": ("id: bad-cron\ndescription: weekly\ntrigger:\n  schedule:\n    cron: \"61 9 * * MON\"\n"
                      "    timezone: Europe/Amsterdam\nactions:\n  - post_to_moderators: {template: welcome_channel}\n",
                      5, "does not parse"),
    # an unknown action name, on its list item
    "unknown_action.yaml": ("id: unknown-action\ntrigger:\n  event: member_joined\nactions:\n"
                            "  - add_reaction: {emoji: wave}\n  - send_pigeon:\n      to: everyone\n", 6,
                            "unknown action 'send_pigeon'"),
    # a channel the config does not name
    "bad_channel.yaml": ("id: bad-channel\ntrigger:\n  event: member_joined\nactions:\n  - post_message:\n"
                         "      template: welcome_channel\n      channel: lobby\n", 7,
                         "channel 'lobby' is not in the config's [channels]"),
    # a wrongly typed parameter
    "bad_param.yaml": ("id: bad-param\ntrigger:\n  event: member_joined\nlimits:\n  per_hour: lots\n"
                       "actions:\n  - add_reaction: {emoji: wave}\n", 5, "per_hour: Input should be a valid integer"),
    # an unknown time zone
    "bad_tz.yaml": ("id: bad-tz\ntrigger:\n  schedule:\n    cron: \"0 9 * * *\"\n    timezone: Mars/Olympus\n"
                    "actions:\n  - post_to_moderators: {template: welcome_channel}\n", 5, "unknown time zone"),
}


def _load(tmp_path: Path):
    for name, (text, _, _) in BROKEN.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "good.yaml").write_text(GOOD)
    settings = test_settings(f"sqlite:///{tmp_path / 'x.db'}")
    templates = templates_for(ROOT / "messages")
    return load_dir(tmp_path, check_context(settings, templates))


def test_each_problem_has_file_line_and_id(tmp_path):
    result = _load(tmp_path)
    lines = [str(p) for p in result.errors]
    for name, (_, line, fragment) in BROKEN.items():
        path = str(tmp_path / name)
        mine = [ln for ln in lines if ln.startswith(f"{path}:")]
        assert mine, f"no problem reported for {name}: {lines}"
        assert any(ln.startswith(f"{path}:{line}: ") and fragment in ln for ln in mine), (name, mine)
    # the id in the line is the playbook's own id
    assert any(f"{tmp_path / 'unknown_action.yaml'}:6: unknown-action: unknown action 'send_pigeon'" in ln
               for ln in lines)


def test_broken_playbooks_are_disabled_and_the_good_one_loads(tmp_path):
    result = _load(tmp_path)
    assert list(result.playbooks) == ["greet"]


def test_check_command_prints_every_problem_and_exits_1(tmp_path):
    for name, (text, _, _) in BROKEN.items():
        (tmp_path / name).write_text(text)
    proc = subprocess.run([sys.executable, "-m", "bot", "check", str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    for name, (_, line, _) in BROKEN.items():
        if name == "bad_channel.yaml":
            continue  # without a config there are no channel names to check against
        assert any(ln.startswith(f"{tmp_path / name}:{line}: ") for ln in out), (name, out)


def test_shipped_playbooks_are_clean():
    proc = subprocess.run([sys.executable, "-m", "bot", "check", "--config", str(ROOT / "config.example.toml")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "" or "warning" in proc.stdout


def test_duplicate_ids_are_reported(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    result = _load(tmp_path)
    assert any(f"{tmp_path / 'b.yaml'}:1: greet: duplicate id" in str(p) for p in result.errors)
