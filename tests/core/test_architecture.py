"""Dependency direction: only bot/adapters knows a platform; the core never imports the scheduler."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

FORBIDDEN = ("slack_bolt", "slack_sdk", "discord", "apscheduler")
PLATFORM_FREE = ("core", "engine", "messaging", "community", "delivery", "outreach", "moderation", "storage")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
            if node.module.startswith("bot.adapters"):
                out.add("bot.adapters")
    return out


def test_inner_packages_do_not_import_platforms():
    offenders = []
    for pkg in PLATFORM_FREE:
        for path in (ROOT / "bot" / pkg).rglob("*.py"):
            bad = _imports(path) & {*FORBIDDEN, "bot.adapters"}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_the_check_would_catch_an_offender(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import discord\nfrom slack_sdk.web import WebClient\n")
    assert {"discord", "slack_sdk"} <= _imports(f)


def test_one_place_decides_who_may_do_what():
    """Only bot/core/roles.py reads ``[managers]``: no second predicate for staff, manager or moderator."""
    allowed = {ROOT / "bot" / "core" / "roles.py", ROOT / "bot" / "settings.py"}
    names = {"managers", "slack_user_ids", "discord_user_ids", "slack_usergroup", "discord_role_ids"}
    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} reads .{node.attr}")
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in (
                    "is_staff", "_is_staff", "is_moderator", "_is_moderator", "not_staff_member"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} defines {node.name}")
    assert offenders == []


def test_adapters_make_platform_strings_with_their_own_escapers():
    """What a platform is sent comes from the adapters' dialects (to_mrkdwn, to_discord and their
    plain forms). to_plain and unescape give back member markup live (the Slack notification text once
    carried <!channel> that way), so no adapter imports them."""
    offenders = []
    for path in (ROOT / "bot" / "adapters").rglob("*.py"):
        if path.name == "format.py":  # the dialects themselves
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "bot.messaging.markdown":
                bad = {a.name for a in node.names} & {"to_plain", "unescape", "render"}
                if bad:
                    offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def _bot_imports(path: Path) -> set[str]:
    """Every ``bot.*`` module a file imports, at any depth (a late import counts too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("bot."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("bot."):
            out.add(node.module)
    return out


#: the layers under delivery, and the ones over it (features, the app and the edges)
UNDER_DELIVERY = ("core", "storage", "engine", "messaging")
OVER_DELIVERY = ("outreach", "community", "moderation", "adapters", "replay", "app", "cli", "commands",
                 "checks", "reliability", "privacy", "scheduling")


def _layer_offenders(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    offenders = []
    for pkg in packages:
        base = ROOT / "bot" / pkg
        paths = base.rglob("*.py") if base.is_dir() else [base.with_suffix(".py")]
        for path in paths:
            bad = sorted(m for m in _bot_imports(path) if m.split(".")[1] in forbidden)
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {bad}")
    return offenders


def test_delivery_sits_between_the_engine_and_the_features():
    """core < storage < engine < delivery < features: the engine queues through the ``OutboxPort``
    (bot/core/ports.py), never the outbox itself, and delivery knows no feature, app or platform."""
    assert _layer_offenders(UNDER_DELIVERY, ("delivery",)) == []
    assert _layer_offenders(("delivery",), OVER_DELIVERY) == []


def test_the_layer_check_would_catch_an_offender(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def late():\n    from bot.delivery.outbox import Outbox\n")
    assert _bot_imports(f) == {"bot.delivery.outbox"}
