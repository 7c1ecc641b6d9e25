"""The steward command: schema, demo, db upgrade."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import ROOT


def _steward(*args, timeout=180, **kw):
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, **kw)


def test_schema_is_valid_json_schema_and_lists_actions():
    import jsonschema

    proc = _steward("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    actions = json.dumps(schema["properties"]["actions"])
    for name in ("send_dm", "post_message", "reply_in_thread", "post_to_moderators", "add_reaction"):
        assert name in actions
    # the shipped playbooks validate against it, as an editor would check them
    from ruamel.yaml import YAML

    v = jsonschema.Draft202012Validator(schema)
    for pb in (ROOT / "playbooks").glob("*.yaml"):
        doc = YAML(typ="safe").load(pb.read_text())
        errors = [e.message for e in v.iter_errors(doc)]
        assert errors == [], (pb.name, errors)


def test_committed_schema_is_current():
    proc = _steward("schema")
    committed = json.loads((ROOT / "schema" / "playbook.schema.json").read_text())
    assert json.loads(proc.stdout) == committed, "run: steward schema > schema/playbook.schema.json"


def test_shipped_playbooks_point_at_the_schema():
    for pb in (ROOT / "playbooks").glob("*.yaml"):
        assert "yaml-language-server: $schema=../schema/playbook.schema.json" in pb.read_text(), pb.name


def test_demo_prints_a_timeline_and_summary():
    proc = _steward("demo", "--limit", "0", "--no-serve", env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "Steward demo: Open Garden" in out and "Timeline" in out and "Summary" in out
    lines = out.splitlines()
    # a newcomer's welcome DM reads as a person would see it, channels named
    assert any("welcome" in ln and "journey_step" in ln and "welcome to Open Garden! One easy first step: "
               "say hello in #introductions" in ln for ln in lines)
    # the sample's hostile display name is shown as the literal text it is
    hostile = re.compile(r"(Hi|Hoi) @everyone <!channel> \*\*bold\*\*, (welcome to|welkom bij) Open Garden!")
    assert any(hostile.search(ln) for ln in lines)


def test_db_upgrade_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    proc = _steward("db", "upgrade", "--url", url)
    assert proc.returncode == 0, proc.stderr
    assert "is at revision" in proc.stdout


def test_a_demo_too_small_for_its_cast_is_refused_with_the_minimum():
    proc = _steward("demo", "--members", "60", "--no-serve", env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "--members" in proc.stderr and "130" in proc.stderr and "Traceback" not in proc.stderr
