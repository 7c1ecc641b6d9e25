"""Message templates: ``messages/<locale>/<name>.j2`` in a jinja2 sandbox.

Every ``{{ value }}`` is neutral-escaped unless it is markup the template helpers made (mentions,
channel links), so member-supplied text can never ping, link or format. Nothing a template writes can
mark a value as trusted: ``|safe``, ``|e`` and ``Markup`` are not the helpers' marker, so the value is
escaped all the same, and ``steward check`` says a template using them gets no effect from it.
Undefined variables are errors, and every template is rendered with a sample context at load time so
a typo fails ``steward check`` instead of a send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.exceptions import TemplateError

from bot.messaging.budget import BudgetedSandbox
from bot.messaging.markdown import escape


class _Made(str):
    """Neutral markup one of the helpers below made (a mention, a channel link, a link). The only
    value a template prints unescaped; templates cannot make one themselves."""

    __slots__ = ()


def _finalize(value: Any) -> Any:
    if type(value) is _Made:
        return str(value)
    if value is None:
        return ""
    return escape(value)


def _no_effect(value: Any, *args: Any) -> Any:
    """``|safe``, ``|e``, ``|escape``, ``|forceescape``: the value stays what it was (escaped on output)."""
    return value


#: filters that would mark text as safe or HTML-escape it; here they do nothing and check says so
NO_EFFECT_FILTERS = ("safe", "e", "escape", "forceescape")
#: names that would make markup in other jinja2 setups; undefined here
NO_EFFECT_NAMES = ("Markup", "markup")


def mention(member: Any) -> _Made:
    """``{{ mention(member) }}``: a ping of that member (and only that member)."""
    mid = member.get("id") if isinstance(member, dict) else getattr(member, "id", member)
    return _Made(f"<@{_id(mid)}>")


def channel_link(channel: Any) -> _Made:
    cid = channel.get("id") if isinstance(channel, dict) else getattr(channel, "id", channel)
    return _Made(f"<#{_id(cid)}>")


def _id(value: Any) -> str:
    # an ID is letters, digits and a few separators; anything else cannot close the markup early
    return "".join(c for c in str(value) if c.isascii() and (c.isalnum() or c in "_.:-"))


def link(url: str, text: str | None = None) -> _Made:
    t = escape(text) if text else escape(url)
    # percent-encoded, so no character of the URL can end the link's markup on any platform
    return _Made(f"[{t}]({quote(str(url), safe=_URL_SAFE)})")


_URL_SAFE = ":/?#@!$&'*+,;=%~-._[]"


def excerpt(text: Any, length: int = 120) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= length else s[: length - 1].rstrip() + "…"


def ago(dt: Any, now: Any = None) -> str:
    if not isinstance(dt, datetime):
        return str(dt)
    now = now or datetime.now(UTC)
    secs = max(0, int((now - dt).total_seconds()))
    if secs < 3600:
        return f"{max(1, secs // 60)} min"
    if secs < 86400:
        return f"{secs // 3600} h"
    return f"{secs // 86400} d"


SAMPLE_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


#: ``sample(base) -> variables``: what a feature's actions add to a template's context, as samples
SampleContext = Callable[[dict[str, Any]], dict[str, Any]]


def sample_context(extras: Iterable[SampleContext] = ()) -> dict[str, Any]:
    """Every variable the engine provides to templates, with sample values, and what each of
    ``extras`` (the app's features: bot/engine/feature.py) adds. A template that uses anything else
    fails ``steward check``."""
    member = {"id": "U0SAMPLE", "name": "Sam <@everyone>", "locale": "en", "timezone": "UTC",
              "joined_at": SAMPLE_NOW - timedelta(days=40)}
    channel = {"id": "C0HELP", "name": "help"}
    ctx: dict[str, Any] = {
        "community": {"name": "Example Community", "default_locale": "en"},
        "member": member,
        "actor": member,
        "channel": channel,
        "channels": [channel, {"id": "C0INTRO", "name": "introductions", "topic": "Say hello"}],
        "now": SAMPLE_NOW,
        "platform": "slack",
        "playbook": {"id": "sample", "description": "sample"},
        "vars": {},
        "stop_hint": "Reply **stop** and I won't message you again.",
        "first_step": {"channel": {"id": "C0INTRO", "name": "introductions"}},
        "stats": {},
        "reason": "sample",
    }
    for extra in extras:
        ctx.update(extra(ctx))
    return ctx


class Templates:
    """Finds, checks and renders templates with a locale chain: member's, community default, en."""

    def __init__(self, root: Path, default_locale: str = "en", samples: Iterable[SampleContext] = ()) -> None:
        self.root = Path(root)
        self.default_locale = default_locale
        #: the features' sample variables, for checking templates (``sample_context``)
        self.samples = tuple(samples)
        self.env = BudgetedSandbox(
            loader=FileSystemLoader(str(self.root)),
            undefined=StrictUndefined,
            finalize=_finalize,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.globals.update(mention=mention, channel_link=channel_link, link=link)
        self.env.filters.update(excerpt=excerpt, ago=ago, **dict.fromkeys(NO_EFFECT_FILTERS, _no_effect))
        self._cache: dict[tuple[str, str], Any] = {}

    def locales(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def names(self, locale: str = "en") -> list[str]:
        d = self.root / locale
        return sorted(p.stem for p in d.glob("*.j2")) if d.is_dir() else []

    def exists(self, name: str) -> bool:
        return any((self.root / loc / f"{name}.j2").is_file() for loc in self.chain(None))

    def chain(self, locale: str | None) -> list[str]:
        out: list[str] = []
        for loc in (locale, (locale or "").split("-")[0].split("_")[0] or None, self.default_locale, "en"):
            if loc and loc not in out:
                out.append(loc)
        return out

    def _get(self, name: str, locale: str):
        key = (locale, name)
        t = self._cache.get(key)
        if t is None:
            t = self.env.get_template(f"{locale}/{name}.j2")
            self._cache[key] = t
        return t

    def render(self, name: str, context: dict[str, Any], locale: str | None = None) -> str:
        """Render ``name`` in the first locale of the chain that has it. Returns neutral markdown."""
        for loc in self.chain(locale):
            if (self.root / loc / f"{name}.j2").is_file():
                return self._get(name, loc).render(**context).strip()
        raise TemplateNotFound(name)

    def check_one(self, name: str) -> str | None:
        """Render ``name`` in every locale that has it with the sample context; error text or None."""
        ctx = sample_context(self.samples)
        errors = []
        for loc in self.locales():
            if not (self.root / loc / f"{name}.j2").is_file():
                continue
            try:
                self._get(name, loc).render(**ctx)
            except TemplateSyntaxError as e:
                errors.append(f"{loc}/{name}.j2:{e.lineno}: {e.message}")
            except TemplateError as e:
                errors.append(f"{loc}/{name}.j2:{_tb_line(e) or 1}: {e}")
            except Exception as e:  # a sandbox refusal or a bad filter argument is still the template's fault
                errors.append(f"{loc}/{name}.j2:{_tb_line(e) or 1}: {type(e).__name__}: {e}")
        return "; ".join(errors) or None

    def check_all(self, required_locales: Iterable[str] = ("en", "nl")) -> list[tuple[str, int, str]]:
        """Every template problem as (file, line, message): syntax, undefined names, missing locales."""
        problems: list[tuple[str, int, str]] = []
        ctx = sample_context(self.samples)
        all_names = sorted({n for loc in self.locales() for n in self.names(loc)})
        for loc in self.locales():
            for name in self.names(loc):
                path = self.root / loc / f"{name}.j2"
                problems.extend((str(path), line, msg) for line, msg in self.no_effect(path))
                try:
                    self._get(name, loc).render(**ctx)
                except TemplateSyntaxError as e:
                    problems.append((str(path), e.lineno or 1, e.message or str(e)))
                except TemplateError as e:
                    problems.append((str(path), _tb_line(e) or 1, str(e)))
                except Exception as e:
                    problems.append((str(path), _tb_line(e) or 1, f"{type(e).__name__}: {e}"))
        for name in all_names:
            for loc in required_locales:
                if (self.root / loc).is_dir() and not (self.root / loc / f"{name}.j2").is_file():
                    problems.append((str(self.root / loc / f"{name}.j2"), 1,
                                     f"missing translation of {name!r} (exists in another locale)"))
        return problems


    def no_effect(self, path: Path) -> list[tuple[int, str]]:
        """Uses of ``|safe``/``|e``/``Markup`` in a template: each is refused (the value is escaped all
        the same), and said so with its line."""
        try:
            tree = self.env.parse(path.read_text(encoding="utf-8"))
        except (TemplateSyntaxError, OSError, UnicodeDecodeError):
            return []  # reported by the render check
        out = []
        for node in tree.find_all((nodes.Filter, nodes.Name)):
            if isinstance(node, nodes.Filter) and node.name in NO_EFFECT_FILTERS:
                out.append((node.lineno, f"|{node.name} has no effect: values are always escaped for the "
                                         "platform (use mention(), channel_link() or link() for markup)"))
            elif isinstance(node, nodes.Name) and node.name in NO_EFFECT_NAMES:
                out.append((node.lineno, f"{node.name} is refused: values are always escaped for the platform "
                                         "(use mention(), channel_link() or link() for markup)"))
        return sorted(out)


def _tb_line(exc: BaseException) -> int | None:
    """The template line of a render error, from the traceback jinja2 rewrites."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
