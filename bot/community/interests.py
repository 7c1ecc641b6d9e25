"""Members' interests in admin-defined topics (``topics.yaml``: id, name per language, channels,
terms). Inferred from the topic channels a member is in and posts in and from topic words in what
they write (counted as they post); chosen by the member with ``/steward interests``. Chosen interests
win over inferred ones; a member who cleared theirs has none inferred until they choose again."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select

from bot.core.errors import Problem
from bot.core.events import Event, MessagePosted
from bot.storage.models_belonging import MemberInterestRow

if TYPE_CHECKING:
    from bot.app import App

MI = MemberInterestRow.__table__
#: the shipped topics (the repository root), used when the config names none
SHIPPED = Path(__file__).resolve().parent.parent.parent / "topics.yaml"
#: what one post in a topic channel, being in one, and one topic word weigh; a topic needs MIN_SCORE
POST, MEMBER, TERM = 2.0, 1.0, 1.0
MIN_SCORE = 3.0
#: at most this many interests per member are inferred (the strongest)
TOP = 3
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: ``_WORD`` in lowercased ASCII text
_WORD_ASCII = re.compile(r"[a-z0-9]+")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Topic(_M):
    id: str
    name: dict[str, str] = Field(min_length=1, description="the topic's name per language, e.g. {en: ..., nl: ...}")
    channels: list[str] = Field(default_factory=list)
    terms: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("id must be lowercase letters, digits, '-' or '_'")
        return v

    @field_validator("terms")
    @classmethod
    def _terms(cls, v: list[str]) -> list[str]:
        for t in v:
            if not _WORD.fullmatch(t.lower()):
                raise ValueError(f"term {t!r} must be one word")
        return [t.lower() for t in v]

    def label(self, locale: str | None) -> str:
        return self.name.get((locale or "en").split("-")[0]) or self.name.get("en") or next(iter(self.name.values()))


class TopicsFile(_M):
    topics: list[Topic] = Field(default_factory=list)


@dataclass
class Topics:
    topics: dict[str, Topic] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: word -> topic ids
    by_term: dict[str, set[str]] = field(default_factory=dict)

    def channel_ids(self, topic: Topic, settings: Any, platform: str) -> list[str]:
        resolve = getattr(settings, "channel_id", None)
        return [(resolve(c, platform) if callable(resolve) else None) or c for c in topic.channels]


def topics_path(settings: Any) -> Path:
    cfg = (getattr(settings, "features", None) or {}).get("interests") or {}
    name = cfg.get("topics")
    if not name:
        return SHIPPED
    return settings.path(name) if hasattr(settings, "path") else Path(name)


def load_topics(path: Path) -> Topics:
    """The topics in ``path``; each problem as ``file:line: topics: what is wrong``."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    out = Topics()
    if not path.exists():
        return out
    try:
        doc = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        out.problems.append(Problem(str(path), (mark.line + 1) if mark else 1, "topics", f"not YAML: {e}"))
        return out
    try:
        parsed = TopicsFile.model_validate(doc or {})
    except ValidationError as e:
        for err in e.errors():
            line, node = 1, doc
            for key in err["loc"]:
                try:
                    if hasattr(node, "lc") and isinstance(key, int):
                        line = node.lc.item(key)[0] + 1
                    elif hasattr(node, "lc") and key in node:
                        line = node.lc.key(key)[0] + 1
                    node = node[key]
                except (KeyError, IndexError, TypeError):
                    break
            where = ".".join(str(x) for x in err["loc"])
            out.problems.append(Problem(str(path), line, "topics", f"{where}: {err['msg']}"))
        return out
    for i, t in enumerate(parsed.topics):
        if t.id in out.topics:
            line = doc["topics"].lc.item(i)[0] + 1
            out.problems.append(Problem(str(path), line, "topics", f"topic {t.id!r} is defined twice"))
            continue
        out.topics[t.id] = t
        for term in t.terms:
            out.by_term.setdefault(term, set()).add(t.id)
    return out


def check_topics(settings: Any, playbooks: dict) -> list[Problem]:
    """``steward check``: the topics file parses, and its channels are in the config."""
    path = topics_path(settings)
    if not path.exists():
        return [] if path == SHIPPED else [Problem(str(path), 1, "topics", "the topics file does not exist")]
    t = load_topics(path)
    probs = list(t.problems)
    names = settings.channel_names() if getattr(settings, "channels", None) else None
    if names is not None:
        for topic in t.topics.values():
            for ch in topic.channels:
                if ch not in names and not ch.isalnum():
                    probs.append(Problem(str(path), 1, "topics", f"topic {topic.id}: channel {ch!r} is not in "
                                                                 "the config's [channels]", "warning"))
    return probs


@dataclass(frozen=True)
class Interest:
    topic: str
    source: str  # chosen | inferred
    score: float


class InterestService:
    """Reads and keeps members' interests; counts topic words as members post."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.topics = load_topics(topics_path(app.settings))
        #: (platform, member, topic, source) -> count not yet written: "terms" (messages with topic
        #: words), "posts" (messages in the topic's channels)
        self._counts: Counter[tuple[str, str, str, str]] = Counter()
        self._chans: dict[str, dict[str, list[str]]] = {}
        app.store.register_buffer(self)

    # ------------------------------------------------------------------ counting as members post
    async def observe(self, ev: Event, facts: dict[str, Any]) -> None:
        if not self.topics.topics or not isinstance(ev, MessagePosted) or ev.is_bot:
            return
        chans = self._chans.get(ev.platform)
        if chans is None:
            chans = self._chans[ev.platform] = self._channel_topics(ev.platform)
        for topic in chans.get(ev.channel_id, ()):
            self._counts[(ev.platform, ev.author_id, topic, "posts")] += 1
        if not ev.text or not self.topics.by_term:
            return
        by_term = self.topics.by_term
        low = ev.text.lower()
        hit: set[str] = set()
        # the message's words that are topic words, in one pass in C (most words are not)
        for w in by_term.keys() & (_WORD_ASCII if low.isascii() else _WORD).findall(low):
            hit |= by_term[w]
        for topic in hit:  # one count per topic per message
            self._counts[(ev.platform, ev.author_id, topic, "terms")] += 1

    async def flush(self) -> None:
        if not self._counts:
            return
        batch, self._counts = self._counts, Counter()
        now = self.app.clock.now()
        store = self.app.store
        if store.is_postgres:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        rows = [{"platform": p, "member_id": m, "topic": t, "source": src, "score": float(n), "updated_at": now}
                for (p, m, t, src), n in batch.items()]
        stmt = insert(MI)
        stmt = stmt.on_conflict_do_update(index_elements=["platform", "member_id", "topic", "source"],
                                          set_={"score": MI.c.score + stmt.excluded.score, "updated_at": now})
        try:
            async with store.batch_lock, store.database.begin() as conn:
                await conn.execute(stmt, rows)
        except Exception:
            self._counts.update(batch)  # kept for the next flush: nothing counted is lost
            raise

    def forget_member(self, platform: str, member_id: str) -> None:
        for k in [k for k in self._counts if k[0] == platform and k[1] == member_id]:
            del self._counts[k]

    # ------------------------------------------------------------------ reading
    def _channel_topics(self, platform: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for t in self.topics.topics.values():
            for cid in self.topics.channel_ids(t, self.app.settings, platform):
                out[cid].append(t.id)
        return out

    async def of(self, platform: str, member_id: str) -> list[Interest]:
        """The member's interests: their chosen ones if any, else the inferred ones (none after a clear)."""
        got = await self.infer(platform, [member_id])
        return got.get(member_id, [])

    async def infer(self, platform: str, member_ids: Any = None) -> dict[str, list[Interest]]:
        """Interests of ``member_ids`` (a list, or a select of member IDs; every member with any, when
        None), in two queries: the topic channels they are in, and what they chose or was counted as
        they posted (messages in a topic's channels, messages with its words)."""
        if isinstance(member_ids, list) and not member_ids:
            return {}
        await self.app.store.flush()
        chan_topics = self._channel_topics(platform)
        topic_ids = self.topics.topics
        scores: dict[str, dict[str, float]] = {}
        chosen: dict[str, list[str]] = {}
        cleared: set[str] = set()
        from bot.storage.models import ChannelMemberRow

        CM = ChannelMemberRow.__table__
        chans = list(chan_topics)

        def add(m: str, t: str, v: float) -> None:
            d = scores.get(m)
            if d is None:
                scores[m] = {t: v}
            else:
                d[t] = d.get(t, 0.0) + v

        async with self.app.store.database.connect() as conn:
            if chans:
                q = select(CM.c.member_id, CM.c.channel_id).where(
                    CM.c.platform == platform, CM.c.left_at.is_(None), CM.c.channel_id.in_(chans))
                if member_ids is not None:
                    q = q.where(CM.c.member_id.in_(member_ids))
                for m, c in await conn.execute(q):
                    for t in chan_topics[c]:
                        add(m, t, MEMBER)
            q = select(MI.c.member_id, MI.c.topic, MI.c.source, MI.c.score).where(MI.c.platform == platform)
            if member_ids is not None:
                q = q.where(MI.c.member_id.in_(member_ids))
            for m, t, src, sc in await conn.execute(q):
                if src == "posts":
                    if t in topic_ids:
                        add(m, t, POST * min(float(sc), 10.0))
                elif src == "terms":
                    if t in topic_ids:
                        add(m, t, TERM * min(float(sc), 10.0))
                elif src == "chosen":
                    chosen.setdefault(m, []).append(t)
                elif src == "cleared":
                    cleared.add(m)
        out: dict[str, list[Interest]] = {}
        for m, ts in chosen.items():
            got = [Interest(t, "chosen", 100.0) for t in ts if t in topic_ids]
            if got:
                out[m] = got
        for m, d in scores.items():
            if m in out or m in cleared:
                continue
            best = sorted(((v, t) for t, v in d.items() if v >= MIN_SCORE), reverse=True)[:TOP]
            if best:
                out[m] = [Interest(t, "inferred", v) for v, t in best]
        return out

    # ------------------------------------------------------------------ the member's choices
    async def choose(self, platform: str, member_id: str, topics: list[str]) -> None:
        now = self.app.clock.now()
        async with self.app.store.database.begin() as conn:
            await conn.execute(delete(MI).where(MI.c.platform == platform, MI.c.member_id == member_id,
                                                MI.c.source.in_(("chosen", "cleared"))))
            for t in dict.fromkeys(topics):
                await conn.execute(MI.insert().values(platform=platform, member_id=member_id, topic=t,
                                                      source="chosen", score=100.0, updated_at=now))

    async def clear(self, platform: str, member_id: str) -> None:
        """Forget every interest of the member (chosen and counted) and infer none until they choose."""
        self.forget_member(platform, member_id)
        async with self.app.store.database.begin() as conn:
            await conn.execute(delete(MI).where(MI.c.platform == platform, MI.c.member_id == member_id))
            await conn.execute(MI.insert().values(platform=platform, member_id=member_id, topic="*",
                                                  source="cleared", score=0.0, updated_at=self.app.clock.now()))

    # ------------------------------------------------------------------ what others use
    async def fit_channel(self, platform: str, member_id: str) -> dict[str, Any] | None:
        """The channel of the member's strongest interest that has one, and the topic's name."""
        m = await self.app.store.get_member(platform, member_id)
        prefs = await self.app.store.preferences(platform, member_id)
        locale = prefs.locale or (m.locale if m else None) or self.app.settings.community.default_locale
        names = {cid: n for n, cid in _config_channels(self.app.settings, platform).items()}
        for it in await self.of(platform, member_id):
            topic = self.topics.topics[it.topic]
            for cid in self.topics.channel_ids(topic, self.app.settings, platform):
                name = names.get(cid) or await self.app.services.channel_display(platform, cid)
                return {"channel": {"id": cid, "name": name}, "topic": topic.label(locale)}
        return None

    def topic_of(self, platform: str, channel_id: str, text: str, locale: str | None) -> str | None:
        """The topic a message belongs to, by name: the topic whose words it uses most, else its
        channel's topic (a tie goes to the channel's); None when nothing shows one."""
        chan = self._chans.get(platform)
        if chan is None:
            chan = self._chans[platform] = self._channel_topics(platform)
        here = chan.get(channel_id, [])
        hits: Counter[str] = Counter(t for w in set(_WORD.findall((text or "").lower()))
                                     for t in self.topics.by_term.get(w, ()))
        ranked = sorted(set(hits) | set(here), key=lambda t: (-hits[t], t not in here, t))
        return self.topics.topics[ranked[0]].label(locale) if ranked else None

    def matcher(self, platform: str, interests: list[Interest]):
        """``fits(channel_id, text)``: whether a message is in one of these interests."""
        chans: set[str] = set()
        terms: set[str] = set()
        for it in interests:
            t = self.topics.topics.get(it.topic)
            if t is not None:
                chans.update(self.topics.channel_ids(t, self.app.settings, platform))
                terms.update(t.terms)

        def fits(channel_id: str, text: str) -> bool:
            return channel_id in chans or bool(terms.intersection(_WORD.findall((text or "").lower())))

        return fits


def _config_channels(settings: Any, platform: str) -> dict[str, str]:
    out = {}
    for name in (settings.channel_names() if getattr(settings, "channels", None) else ()):
        cid = settings.channel_id(name, platform)
        if cid:
            out[name] = cid
    return out


def interests_of(app_or_engine) -> InterestService | None:
    return getattr(app_or_engine.services, "interests", None)


async def interest_findings(app, platform: str) -> list[dict[str, Any]]:
    """Backtest findings: each member's interests (chosen or inferred) with their scores."""
    svc = interests_of(app)
    if svc is None or not svc.topics.topics:
        return []
    got = await svc.infer(platform)
    return [{"kind": "interests", "member": m, "topics": [{"topic": i.topic, "source": i.source,
                                                         "score": round(i.score, 1)} for i in its]}
            for m, its in sorted(got.items())]


async def demo_section(console, app) -> None:
    """``steward demo``: the interests Steward inferred from the sample community."""
    from rich.table import Table

    svc = interests_of(app)
    if svc is None or not svc.topics.topics:
        return
    got = await svc.infer("slack")
    counts = Counter(i.topic for its in got.values() for i in its)
    console.rule("[bold]Interests")
    console.print(f"members with inferred interests: {len(got)} ("
                  + ", ".join(f"{svc.topics.topics[t].label('en')}: {n}" for t, n in counts.most_common()) + ")")
    table = Table(title="Interests (five members)")
    table.add_column("member")
    table.add_column("interests (score)")
    for m in sorted(got)[:5]:
        member = await app.store.get_member("slack", m)
        table.add_row(member.display_name if member else m,
                      ", ".join(f"{svc.topics.topics[i.topic].label('en')} ({i.score:.0f})" for i in got[m]))
    console.print(table)
