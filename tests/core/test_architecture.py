"""Dependency direction: layers import downward only; only bot/adapters knows a platform; the core
never imports the scheduler; no file under bot/ is over 400 lines."""

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


#: the layers, lowest first; a module may import its own layer and those below it, never one above.
#: Packages in one layer (the features; adapters, replay and the commands) may import each other.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("bot.core", "bot.settings", "bot.messaging", "bot.redaction")),
    ("storage", ("bot.storage",)),
    ("engine", ("bot.engine",)),
    ("delivery", ("bot.delivery",)),
    ("features", ("bot.community", "bot.moderation", "bot.outreach", "bot.conversation", "bot.commands",
                  "bot.privacy", "bot.reliability", "bot.webhooks", "bot.crm",
                  "bot.people")),
    ("app", ("bot.app", "bot.scheduling")),
    ("edges", ("bot.adapters", "bot.replay", "bot.cli", "bot.privacy_cli", "bot.crm_cli", "bot.checks",
               "bot.__main__", "bot.dashboard")),
)

#: upward imports that changes under way are removing: this list only shrinks (empty: every layer
#: imports downward today). An entry whose import is gone is taken off by hand
KNOWN_UPWARD: set[str] = set()


def layer_of(module: str) -> int | None:
    """The index in LAYERS of ``module`` (the longest matching prefix decides), None if unplaced."""
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return None if best is None else best[0]


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def bot_imports(path: Path) -> set[str]:
    """Every ``bot.*`` module ``path`` imports at run time, at any depth (a function's late import is a
    dependency too); imports under ``if TYPE_CHECKING:`` are for annotations only and are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name == "bot" or a.name.startswith("bot."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "bot":  # from bot import community: the submodules
                out.update(f"bot.{a.name}" for a in node.names)
            elif node.module.startswith("bot."):
                out.add(node.module)
    return out


def upward_imports(root: Path) -> tuple[list[str], list[str]]:
    """(``module -> imported module`` for each import of a higher layer, modules in no layer)."""
    upward, unplaced = [], []
    for path in sorted(root.rglob("*.py")):
        mod = module_name(path, root)
        if mod == "bot":
            continue
        mine = layer_of(mod)
        if mine is None:
            unplaced.append(mod)
            continue
        for imp in sorted(bot_imports(path)):
            theirs = layer_of(imp)
            if theirs is None:
                unplaced.append(imp)
            elif theirs > mine:
                upward.append(f"{mod} -> {imp}")
    return upward, sorted(set(unplaced))


def test_layers_import_downward_only():
    """core < storage < engine < delivery < features < app < adapters / replay / cli."""
    upward, unplaced = upward_imports(ROOT / "bot")
    assert unplaced == [], "place these modules in a layer (LAYERS)"
    assert sorted(set(upward) - KNOWN_UPWARD) == []


def test_the_layer_check_would_catch_an_upward_import(tmp_path):
    pkg = tmp_path / "bot" / "engine"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("from typing import TYPE_CHECKING\n"
                              "from bot.core.events import Event\n"
                              "if TYPE_CHECKING:\n    from bot.app import App\n"
                              "def f():\n    from bot.community import lurkers\n")
    (pkg / "y.py").write_text("import bot.cli\nfrom bot import moderation\n")
    (tmp_path / "bot" / "elsewhere.py").write_text("")
    upward, unplaced = upward_imports(tmp_path / "bot")
    assert upward == ["bot.engine.x -> bot.community", "bot.engine.y -> bot.cli", "bot.engine.y -> bot.moderation"]
    assert unplaced == ["bot.elsewhere"]


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


#: no file under bot/ is longer than this; a longer one is split along a seam
MAX_LINES = 400


def _long_files(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            out.append(f"{path.relative_to(root.parent)}: {n} lines")
    return out


def test_no_file_under_bot_is_over_400_lines():
    long = _long_files(ROOT / "bot")
    assert not long, f"over {MAX_LINES} lines (split along a seam): " + ", ".join(long)


def test_the_length_check_would_name_a_long_file(tmp_path):
    (tmp_path / "bot" / "pkg").mkdir(parents=True)
    (tmp_path / "bot" / "pkg" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "bot" / "small.py").write_text("x = 1\n" * MAX_LINES)
    assert _long_files(tmp_path / "bot") == [f"bot/pkg/big.py: {MAX_LINES + 1} lines"]
