"""Load playbooks from YAML, keeping line numbers, and validate in two stages.

Stage 1 is the schema (pydantic). Stage 2 is meaning: registered names, parameters, templates
that exist and render, cron expressions that parse, channels that the config names. Every problem
is ``file:line: playbook-id: message``; a playbook with a problem is disabled, the others load.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from ruamel.yaml.scanner import RoundTripScanner, ScannerError

from bot.core.errors import Problem
from bot.engine.registry import Entry, actions, conditions, rules, scans, triggers
from bot.engine.schema import Playbook, item_name_params


@dataclass(frozen=True)
class Step:
    """A resolved condition, rule or action: its registry entry, validated params, and source line."""

    name: str
    entry: Entry
    params: BaseModel
    line: int


@dataclass
class LoadedPlaybook:
    spec: Playbook
    file: str
    line: int
    conditions: list[Step] = field(default_factory=list)
    rules: list[Step] = field(default_factory=list)
    actions: list[Step] = field(default_factory=list)
    scan: Step | None = None
    filters: BaseModel | None = None

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass
class LoadResult:
    playbooks: dict[str, LoadedPlaybook]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


@dataclass
class CheckContext:
    """What stage 2 needs from outside the engine, injected so the engine stays platform-free."""

    template_exists: Callable[[str], bool] = lambda name: True
    render_sample: Callable[[str], str | None] = lambda name: None  # returns an error text or None
    channel_names: set[str] | None = None  # None: do not check channels
    parse_schedule: Callable[[str, str], str | None] = lambda cron, tz: None  # error text or None
    settings: Any = None


def _line_of(node: Any, loc: Iterable[Any], default: int) -> int:
    """Follow a pydantic error location through the ruamel tree to the nearest line (1-based)."""
    line = default
    cur = node
    for key in loc:
        if isinstance(cur, CommentedMap) and key in cur:
            line = cur.lc.key(key)[0] + 1
            cur = cur[key]
        elif isinstance(cur, CommentedSeq) and isinstance(key, int) and 0 <= key < len(cur):
            line = cur.lc.item(key)[0] + 1
            cur = cur[key]
        # pydantic adds union tags such as 'str' or 'dict[str,any]': skip them
    return line


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _fmt_pydantic(err: dict[str, Any]) -> str:
    loc = ".".join(str(x) for x in err["loc"] if not (isinstance(x, str) and ("[" in x or x in ("str", "dict"))))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    return f"{loc}: {msg}" if loc else msg


TEMPLATE_KEYS = ("template", "fallback_template")


def _resolve_steps(raw: Any, registry, kind: str, pb_id: str, file: str, default_line: int,
                   problems: list[Problem], ctx: CheckContext) -> list[Step]:
    steps: list[Step] = []
    if not isinstance(raw, CommentedSeq):
        return steps
    for i, item in enumerate(raw):
        line = raw.lc.item(i)[0] + 1
        try:
            name, params = item_name_params(_plain(item))
        except ValueError as e:
            problems.append(Problem(file, line, pb_id, f"{kind}s[{i}]: {e}"))
            continue
        entry = registry.get(name)
        if entry is None:
            known = ", ".join(registry.names())
            hint = f"; {name!r} is a rule: list it under rules:" if kind == "condition" and rules.get(name) else ""
            problems.append(Problem(file, line, pb_id, f"unknown {kind} {name!r} (known: {known}){hint}"))
            continue
        try:
            model = entry.params.model_validate(params)
        except ValidationError as e:
            for err in e.errors():
                node = item.get(name) if isinstance(item, CommentedMap) else None
                eline = _line_of(node, err["loc"], line) if node is not None else line
                problems.append(Problem(file, eline, pb_id, f"{kind} {name}: {_fmt_pydantic(err)}"))
            continue
        before = len(problems)
        _check_meaning(name, model, item, line, pb_id, file, problems, ctx)
        if all(p.severity != "error" for p in problems[before:]):  # a warning keeps the step
            steps.append(Step(name, entry, model, line))
    return steps


def _check_meaning(name: str, model: BaseModel, item: Any, line: int, pb_id: str, file: str,
                   problems: list[Problem], ctx: CheckContext) -> None:
    node = item.get(name) if isinstance(item, CommentedMap) else None

    def at(key: str) -> int:
        if isinstance(node, CommentedMap) and key in node:
            return node.lc.key(key)[0] + 1
        return line

    data = model.model_dump()
    for key in TEMPLATE_KEYS:
        tpl = data.get(key)
        if not tpl:
            continue
        if not ctx.template_exists(tpl):
            problems.append(Problem(file, at(key), pb_id, f"{name}: template {tpl!r} does not exist"))
            continue
        err = ctx.render_sample(tpl)
        if err:
            problems.append(Problem(file, at(key), pb_id, f"{name}: template {tpl!r} does not render: {err}"))
    ch = data.get("channel")
    if ch and ch != "here" and ctx.channel_names is not None and ch not in ctx.channel_names:
        known = ", ".join(sorted(ctx.channel_names)) or "none configured"
        problems.append(Problem(file, at("channel"), pb_id,
                                f"{name}: channel {ch!r} is not in the config's [channels] (known: {known})"))
    check = getattr(model, "check", None)
    if callable(check):
        # a message, or (where, message) with ``where`` a path into the parameters (("steps", 2,
        # "template")) for the line of a nested entry
        for found in check(ctx) or ():
            where, msg = found if isinstance(found, tuple) else ((), found)
            sev = "warning" if msg.startswith("warning: ") else "error"
            eline = _line_of(node, where, line) if node is not None else line
            problems.append(Problem(file, eline, pb_id, f"{name}: {msg.removeprefix('warning: ')}", sev))


#: a playbook is a page of YAML (the shipped ones are under 2 KB); a file past this is refused unread
MAX_PLAYBOOK_BYTES = 64 * 1024
#: YAML nodes a playbook may have once its aliases are expanded. Anchors and aliases are allowed
#: (sharing a block between actions is what they are for) but a few aliases of aliases describe a
#: document of billions of nodes in a few hundred bytes (the "billion laughs"), which everything
#: after the parser would expand: that is refused
MAX_EXPANDED_NODES = 10_000
#: how deep blocks may nest (the shipped playbooks go 5 deep); the YAML scanner slows down with
#: the square of the depth, and building the document recurses
MAX_DEPTH = 64
_ID = re.compile(r"^id:[ \t]*['\"]?([\w.-]+)", re.MULTILINE)


class _BoundedScanner(RoundTripScanner):
    """Refuses ``[``/``{`` nested past ``MAX_DEPTH`` as it reads them: past that the scanner's
    bookkeeping of possible keys costs the square of the depth (40 KB of ``[`` took seconds)."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise ScannerError(None, None, f"blocks nest more than {MAX_DEPTH} deep", self.reader.get_mark())
        super().fetch_flow_collection_start(TokenClass, to_push)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Scanner = _BoundedScanner
    return yaml


def _refusal(yaml: YAML, text: str) -> tuple[int, str] | None:
    """(line, message) if ``text`` nests too deep, or expands past ``MAX_EXPANDED_NODES`` once its
    aliases are followed, or has an alias inside the block it names; else None.

    One pass over the parser's events, before anything is built: an alias adds the size of its
    anchor's block, counted once, so this is linear in the file whatever the expansion would be.
    """
    sizes: dict[str, int] = {}  # anchor -> the size of the block it names
    frames: list[list[Any]] = []  # open blocks: [size so far, anchor]
    total = 0
    for ev in yaml.parse(text):
        if isinstance(ev, (SequenceStartEvent, MappingStartEvent)):
            if len(frames) >= MAX_DEPTH:
                return ev.start_mark.line + 1, f"blocks nest more than {MAX_DEPTH} deep"
            frames.append([1, ev.anchor])
            grew = 1
        elif isinstance(ev, CollectionEndEvent):
            size, anchor = frames.pop()
            if anchor:
                sizes[anchor] = size
            if frames:
                frames[-1][0] += size
            continue
        elif isinstance(ev, ScalarEvent):
            if ev.anchor:
                sizes[ev.anchor] = 1
            grew = 1
        elif isinstance(ev, AliasEvent):
            if ev.anchor not in sizes:
                if any(f[1] == ev.anchor for f in frames):
                    return ev.start_mark.line + 1, "an alias refers to the block that contains it: refused"
                continue  # an undefined alias: building the document reports it with its line
            grew = sizes[ev.anchor]
        else:
            continue
        if frames:
            frames[-1][0] += grew
        total += grew
        if total > MAX_EXPANDED_NODES:
            return (ev.start_mark.line + 1, f"anchors and aliases expand the playbook past "
                                            f"{MAX_EXPANDED_NODES:,} values (an alias bomb?): refused")
    return None


def engine_entries() -> None:
    """The engine's own triggers, conditions and actions (imported here, late: they import the
    loader's neighbours). The features' entries come with the app's feature list (bot/app.py)."""
    from bot.engine import actions, conditions, triggers  # noqa: F401


def load_file(path: Path, ctx: CheckContext) -> tuple[LoadedPlaybook | None, list[Problem]]:
    """Load and validate one playbook file."""
    engine_entries()
    problems: list[Problem] = []
    file = str(path)
    yaml = _yaml()
    try:
        size = path.stat().st_size
        if size > MAX_PLAYBOOK_BYTES:
            problems.append(Problem(file, 1, path.stem, f"the file is {size:,} bytes; a playbook may have at most "
                                                        f"{MAX_PLAYBOOK_BYTES:,}"))
            return None, problems
        text = path.read_text(encoding="utf-8")
        # measured before anything is built that would expand what the aliases point at
        if (refused := _refusal(yaml, text)) is not None:
            m = _ID.search(text)
            problems.append(Problem(file, refused[0], m.group(1) if m else path.stem, refused[1]))
            return None, problems
        doc = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        ln = (mark.line + 1) if mark else 1
        problems.append(Problem(file, ln, path.stem, f"YAML syntax: {e.problem or e.context}"))
        return None, problems
    except RecursionError:
        problems.append(Problem(file, 1, path.stem, "YAML nested too deeply"))
        return None, problems
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(file, 1, path.stem, f"cannot read: {e}"))
        return None, problems
    if not isinstance(doc, CommentedMap):
        problems.append(Problem(file, 1, path.stem, "a playbook is a mapping (id:, trigger:, actions:, ...)"))
        return None, problems
    pb_id = str(doc.get("id") or path.stem)
    try:
        spec = Playbook.model_validate(_plain(doc))
    except ValidationError as e:
        for err in e.errors():
            problems.append(Problem(file, _line_of(doc, err["loc"], 1), pb_id, _fmt_pydantic(err)))
        return None, problems

    loaded = LoadedPlaybook(spec=spec, file=file, line=1)
    trig = spec.trigger
    tline = _line_of(doc, ("trigger",), 1)
    if trig.event:
        entry = triggers.get(trig.event)
        if entry is None:
            problems.append(Problem(file, _line_of(doc, ("trigger", "event"), tline), pb_id,
                                    f"unknown trigger event {trig.event!r} (known: {', '.join(triggers.names())})"))
        else:
            try:
                loaded.filters = entry.params.model_validate(trig.filters)
            except ValidationError as e:
                for err in e.errors():
                    problems.append(Problem(file, _line_of(doc, ("trigger", "filters", *err["loc"]), tline),
                                            pb_id, f"trigger filters: {_fmt_pydantic(err)}"))
    elif trig.schedule:
        sline = _line_of(doc, ("trigger", "schedule"), tline)
        try:
            ZoneInfo(trig.schedule.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(Problem(file, _line_of(doc, ("trigger", "schedule", "timezone"), sline), pb_id,
                                    f"schedule: unknown time zone {trig.schedule.timezone!r}"))
        else:
            err = ctx.parse_schedule(trig.schedule.cron, trig.schedule.timezone)
            if err:
                problems.append(Problem(file, _line_of(doc, ("trigger", "schedule", "cron"), sline), pb_id,
                                        f"schedule: {err}"))

    if spec.scan:
        sline = _line_of(doc, ("scan",), 1)
        entry = scans.get(spec.scan.name)
        if entry is None:
            problems.append(Problem(file, _line_of(doc, ("scan", "name"), sline), pb_id,
                                    f"unknown scan {spec.scan.name!r} (known: {', '.join(scans.names()) or 'none'})"))
        else:
            try:
                loaded.scan = Step(spec.scan.name, entry, entry.params.model_validate(spec.scan.params), sline)
            except ValidationError as e:
                for err in e.errors():
                    problems.append(Problem(file, _line_of(doc, ("scan", "params", *err["loc"]), sline),
                                            pb_id, f"scan {spec.scan.name}: {_fmt_pydantic(err)}"))
    loaded.conditions = _resolve_steps(doc.get("conditions"), conditions, "condition", pb_id, file,
                                       _line_of(doc, ("conditions",), 1), problems, ctx)
    loaded.rules = _resolve_steps(doc.get("rules"), rules, "rule", pb_id, file,
                                  _line_of(doc, ("rules",), 1), problems, ctx)
    loaded.actions = _resolve_steps(doc.get("actions"), actions, "action", pb_id, file,
                                    _line_of(doc, ("actions",), 1), problems, ctx)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return loaded, problems


def load_dir(directory: Path, ctx: CheckContext) -> LoadResult:
    """Load every ``*.yaml``/``*.yml`` playbook in a folder; broken ones are reported and left out."""
    playbooks: dict[str, LoadedPlaybook] = {}
    problems: list[Problem] = []
    if not directory.is_dir():
        problems.append(Problem(str(directory), 1, "-", "playbook folder does not exist"))
        return LoadResult(playbooks, problems)
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in files:
        pb, probs = load_file(path, ctx)
        problems.extend(probs)
        if pb is None:
            continue
        if pb.id in playbooks:
            other = playbooks[pb.id]
            problems.append(Problem(str(path), 1, pb.id, f"duplicate id: also used by {other.file}"))
            continue
        playbooks[pb.id] = pb
    return LoadResult(playbooks, problems)
