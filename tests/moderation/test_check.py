"""`steward check` on moderation playbooks: a pattern RE2 cannot run is reported with its line."""

from __future__ import annotations

from typer.testing import CliRunner

from bot.cli import cli
from tests.conftest import ROOT

BAD = """\
id: mod-custom
trigger:
  event: message_posted
rules:
  - terms:
      locales: [en, xx]
  - patterns:
      patterns:
        - 'free (nitro|gift)'
        - '(a+)+\\1'
        - '(?<=@)everyone'
actions:
  - open_case: {}
"""


def test_check_reports_unrunnable_patterns_and_unknown_lists(tmp_path):
    pb = tmp_path / "playbooks"
    pb.mkdir()
    (pb / "custom.yaml").write_text(BAD)
    res = CliRunner().invoke(cli, ["check", str(pb), "--messages", str(ROOT / "messages")])
    assert res.exit_code == 1
    f = str(pb / "custom.yaml")
    lines = [ln for ln in res.output.splitlines() if ln.startswith(f)]
    assert lines[0] == f"{f}:5: mod-custom: terms: no term list for locale 'xx' (shipped: en, nl)"
    assert lines[1].startswith(f"{f}:7: mod-custom: patterns: patterns[1] '(a+)+\\\\1' is not a pattern RE2 can run: ")
    assert lines[2].startswith(f"{f}:7: mod-custom: patterns: patterns[2] '(?<=@)everyone' is not a pattern RE2 can run: ")
    assert len(lines) == 3


def test_shipped_moderation_playbooks_are_valid():
    res = CliRunner().invoke(cli, ["check", str(ROOT / "playbooks"), "--messages", str(ROOT / "messages")])
    assert res.exit_code == 0, res.output


def test_check_reports_a_bad_timeout_in_the_config(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[features.moderation]\ntimeout = "one hour"\n')
    res = CliRunner().invoke(cli, ["check", str(ROOT / "playbooks"), "--config", str(cfg),
                                   "--messages", str(ROOT / "messages")])
    assert res.exit_code == 1
    assert f"{cfg}:1: -: [features.moderation] timeout: not a duration: 'one hour'" in res.output
