"""manifest.yml agrees with the code: the command, the shortcut, the events the translation table
knows, and a scope for every Web API method the bot calls (scopes as the OpenAPI file names them)."""

from __future__ import annotations

import json

from ruamel.yaml import YAML

from bot.adapters.slack.listeners import COMMAND, REPORT_CALLBACK
from bot.adapters.slack.translate import TABLE
from tests.conftest import ROOT
from tests.fakes.slack_server import SPEC_PATH

MANIFEST = YAML(typ="safe").load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
#: every Web API method the adapter calls (gateway, directory, runtime)
METHODS = ["auth.test", "chat.postMessage", "chat.postEphemeral", "chat.delete", "conversations.open",
           "conversations.info", "conversations.kick", "conversations.history", "conversations.replies",
           "reactions.add", "users.info", "usergroups.users.list", "usergroups.users.update"]
#: the OpenAPI file predates granular bot scopes; these are the same permissions under today's names
GRANULAR = {"chat:write:bot": "chat:write", "channels:write": "channels:manage"}


def test_command_and_shortcut():
    [cmd] = MANIFEST["features"]["slash_commands"]
    assert cmd["command"] == COMMAND and cmd["should_escape"] is True
    [shortcut] = MANIFEST["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", REPORT_CALLBACK)
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True


def test_events_match_the_translation_table():
    subscribed = {e.split(".")[0] for e in MANIFEST["settings"]["event_subscriptions"]["bot_events"]}
    assert subscribed == {t for t, _ in TABLE}


def test_every_method_has_its_scope():
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    missing = []
    for m in METHODS:
        op = next(iter(spec["paths"]["/" + m].values()))
        wanted = {GRANULAR.get(s, s) for sec in op.get("security", []) for s in sec.get("slackAuth", [])}
        if "none" not in wanted and not wanted & scopes:
            missing.append(f"{m}: one of {sorted(wanted)}")
    assert missing == []
