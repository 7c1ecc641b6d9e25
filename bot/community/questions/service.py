"""Persistence of questions: ``QuestionService`` feeds messages and reactions to the tracker and
writes new questions, answers, helps and late thread replies in batches."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from bot.community.questions.changes import Change, TrackedQuestion
from bot.community.questions.settings import AnswerRules, question_settings
from bot.community.questions.statements import (
    ACTIVE,
    HELPS,
    LATE_ANSWER,
    LATE_HELP,
    MT,
    QT,
    SET_TIER,
    forgotten_in,
)
from bot.community.questions.tracker import ConversationTracker
from bot.core.clock import as_utc
from bot.core.events import Event, MemberJoined, MessageDeleted, MessagePosted, ReactionAdded
from bot.storage.buffer import WriteBehind
from bot.storage.repositories import Store

__all__ = ["HELPS", "MT", "QT", "REPLY", "QuestionService"]

#: the evidence of a ``helps`` row that records a reply rather than an answer to a question
REPLY = "reply: "


def _key(platform: str, channel_id: str, message_id: str) -> tuple[str, str, str]:
    return platform, channel_id, message_id


class QuestionService:
    """Keeps the questions table in step with the conversation: an engine observer feeds every
    message and reaction to the tracker; new questions, answers, helps and late thread replies (to a
    question the tracker has let go of) are written in batches (the message stream is the hot path):
    a full batch is written behind (bot/storage/buffer.py). The buffer is registered with the store,
    so ``store.flush()``, which comes before anything reads them, writes them too."""

    def __init__(self, store: Store, settings: Any, *, batch_size: int = 500) -> None:
        self.store = store
        self.settings = settings
        self.qs = question_settings(settings)
        help_ids = set(self.qs.help_channels)
        resolve = getattr(settings, "channel_id", None)
        for name in self.qs.help_channels:
            for plat in ("slack", "discord"):
                cid = resolve(name, plat) if callable(resolve) else None
                if cid:
                    help_ids.add(cid)
        self.tracker = ConversationTracker(AnswerRules.model_validate(
            self.qs.model_dump(include=set(AnswerRules.model_fields))), help_channels=help_ids)
        self._new: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._updates: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._helps: list[dict[str, Any]] = []
        self._active: dict[tuple[str, str], datetime] = {}
        #: late thread replies, in arrival order: (platform, channel, root message, replier, at)
        self._late: list[tuple[str, str, str, str, datetime]] = []
        self._named: set[tuple[str, str]] = set()
        self.buffer = WriteBehind(take=self._take, write=self._write, pending=self._pending,
                                  batch_size=batch_size, lock=store.batch_lock)
        store.register_buffer(self.buffer)
        #: newest question asked per platform, so an idle tick skips the query (replays cross years)
        self._latest: dict[str, datetime | None] = {}
        #: bumped on every change of a question's state; with ``_asked`` it lets a scan that found
        #: nothing due skip its query until something changes or a waiting question comes due
        self.version = 0
        self._asked: dict[str, list[datetime]] = {}
        self._first_seen: dict[str, datetime] = {}
        self.quiet_until: dict[tuple, tuple[int, datetime]] = {}
        #: questions that just went unanswered or were resolved, for whoever reports them (webhooks:
        #: they take them after each event); None while nobody does
        self.decided: list[tuple[str, Change]] | None = None

    # ---- observing
    async def observe(self, ev: Event, facts: dict[str, Any]) -> None:
        """Engine observer: every event passes here before the playbooks run."""
        self._first_seen.setdefault(ev.platform, ev.at)
        if isinstance(ev, MessagePosted):
            await self._message(ev)
        elif isinstance(ev, ReactionAdded):
            self._touch(ev.platform, ev.member_id, ev.at)
            for ch in self.tracker.reaction(platform=ev.platform, channel_id=ev.channel_id,
                                            message_id=ev.message_id, member_id=ev.member_id, emoji=ev.emoji,
                                            at=ev.at, message_author_id=ev.message_author_id):
                self._record(ch)
        elif isinstance(ev, MemberJoined):
            self.tracker.learn_name(ev.platform, ev.member_id, ev.display_name, is_bot=ev.is_bot)
            self._named.add((ev.platform, ev.member_id))
        elif isinstance(ev, MessageDeleted):
            await self.withdraw(ev.platform, ev.channel_id, ev.message_id)
            return
        else:
            return
        # members' last-active times are one row per member, rewritten as they talk: they wait for a
        # flush (a scan, a report, the live loop's periodic one) unless they pile up
        if self._pending() >= self.buffer.batch_size or self._active_piled_up():
            await self.buffer.write_behind()

    async def _message(self, ev: MessagePosted) -> None:
        key = (ev.platform, ev.author_id)
        if key not in self._named:
            self._named.add(key)
            name, bot = ev.author_name, ev.is_bot
            if not name:
                m = await self.store.get_member(ev.platform, ev.author_id)
                name, bot = (m.display_name if m else None), bot or bool(m and m.is_bot)
            self.tracker.learn_name(ev.platform, ev.author_id, name, is_bot=bot)
        if not ev.is_bot:
            self._touch(ev.platform, ev.author_id, ev.at)
        changes = self.tracker.observe(platform=ev.platform, channel_id=ev.channel_id, message_id=ev.message_id,
                                       author_id=ev.author_id, at=ev.at, text=ev.text, mentions=ev.mentions,
                                       thread_id=ev.thread_id, reply_to=ev.reply_to, is_bot=ev.is_bot,
                                       channel_name=ev.channel_name)
        if not ev.is_bot:  # whom the model linked it to, for health's creators and replies
            p = self.tracker.parent
            self.store.link_message(ev.platform, ev.channel_id, ev.message_id, "" if p is None else p.author)
        for ch in changes:
            self._record(ch)
        root = ev.thread_id or ev.reply_to
        if root and not ev.is_bot and not any(c.kind == "answered" for c in changes) \
                and self.tracker.has_let_go(ev.platform, ev.channel_id, root):
            # a late reply in the thread of a question the tracker has already let go of: it answers
            # the question if it is still open and the replier is not the asker (decided in ``_write``)
            self.version += 1
            self._late.append((ev.platform, ev.channel_id, root, ev.author_id, ev.at))

    def _touch(self, platform: str, member_id: str, at: datetime) -> None:
        k = (platform, member_id)
        prev = self._active.get(k)
        if prev is None or at > prev:
            self._active[k] = at

    def _record(self, ch: Change) -> None:
        if ch.kind == "replied":
            self._helps.append({"platform": ch.platform, "helper_id": ch.by, "member_id": ch.to,
                                "channel_id": ch.channel_id, "question_id": ch.ref, "at": ch.at,
                                "evidence": (REPLY + ch.evidence)[:64]})
            return
        q = ch.question
        k = _key(q.platform, q.channel_id, q.message_id)
        self.version += 1
        if ch.kind == "asked":
            asked = self._asked.setdefault(q.platform, [])
            asked.append(q.asked_at)
            if len(asked) > 4096:
                del asked[:2048]
            if q.platform in self._latest:
                prev = self._latest[q.platform]
                self._latest[q.platform] = q.asked_at if prev is None or q.asked_at > prev else prev
            self._new[k] = {"platform": q.platform, "channel_id": q.channel_id, "message_id": q.message_id,
                            "author_id": q.author_id, "asked_at": q.asked_at, "status": "open",
                            "answered_by": [], "first_response_at": None, "tier": 0, "reason": None}
            return
        if self.decided is not None and (ch.kind == "unanswered" or q.status == "resolved"):
            self.decided.append(("unanswered" if ch.kind == "unanswered" else "resolved", ch))
        if ch.kind == "unanswered":
            # still open (the escalation scan decides what to do with it); the reason is kept
            values: dict[str, Any] = {"reason": ch.evidence[:200]}
            if k in self._new:
                self._new[k].update(values)
            else:
                self._updates.setdefault(k, {}).update(values)
            return
        values = {"status": q.status, "answered_by": list(q.answered_by),
                  "first_response_at": q.first_response_at, "reason": (q.evidence or ch.evidence)[:200]}
        if q.status == "resolved":
            values.update(resolved_by=q.author_id, resolved_at=ch.at)
        if k in self._new:
            self._new[k].update(values)
        else:
            self._updates.setdefault(k, {}).update(values)
        if ch.by and ch.by != q.author_id and ch.kind == "answered":
            self._helps.append({"platform": q.platform, "helper_id": ch.by, "member_id": q.author_id,
                                "channel_id": q.channel_id, "question_id": q.message_id,
                                "at": ch.at or q.asked_at, "evidence": ch.evidence[:64]})

    def _pending(self) -> int:
        return len(self._new) + len(self._updates) + len(self._helps) + len(self._late)

    def forget_member(self, platform: str, member_id: str) -> None:
        """Let go of everything held in memory about a forgotten member (called after the database
        forget): their questions, name and place in conversations, and buffered rows about them."""
        self.tracker.forget(platform, member_id)
        self._active.pop((platform, member_id), None)
        self._named.discard((platform, member_id))
        self._new = {k: v for k, v in self._new.items() if (k[0], v["author_id"]) != (platform, member_id)}
        self._helps = [h for h in self._helps if h["platform"] != platform
                       or member_id not in (h["helper_id"], h["member_id"])]
        self._late = [x for x in self._late if (x[0], x[3]) != (platform, member_id)]

    def _active_piled_up(self) -> bool:
        return len(self._active) >= 8 * self.buffer.batch_size

    def _take(self, final: bool) -> tuple[dict, dict, list, list, dict] | None:
        """The buffered rows, as one batch (None: nothing buffered). Members' last-active times are
        left to wait unless this is a flush or they pile up."""
        if not (self._new or self._updates or self._helps or self._late or self._active):
            return None
        new, self._new = self._new, {}
        updates, self._updates = self._updates, {}
        helps, self._helps = self._helps, []
        late, self._late = self._late, []
        if final or self._active_piled_up():
            act, self._active = self._active, {}
        else:
            act = {}
        return new, updates, helps, late, act

    async def _write(self, batch: tuple[dict, dict, list, list, dict]) -> None:
        new, updates, helps, late, active = batch
        try:
            async with self.store.batch_lock, self.store.database.begin() as conn:
                gone = await forgotten_in(conn, new, updates, helps, late)
                if gone:
                    # forgotten (maybe by `steward forget` in another process) while still in this
                    # buffer or in the tracker's memory: nothing about them is written back
                    new = {k: v for k, v in new.items() if (k[0], v["author_id"]) not in gone}
                    helps = [h for h in helps if (h["platform"], h["helper_id"]) not in gone
                             and (h["platform"], h["member_id"]) not in gone]
                    late = [x for x in late if (x[0], x[3]) not in gone]
                    for (plat, _c, _m), values in updates.items():
                        if "answered_by" in values:
                            values["answered_by"] = [a for a in values["answered_by"] if (plat, a) not in gone]
                if new:
                    await self.store.insert_ignore(conn, QT, list(new.values()),
                                                   ("platform", "channel_id", "message_id"))
                # updates that set the same columns go as one executemany (one round trip each)
                groups: dict[tuple[str, ...], list[dict]] = {}
                for (plat, cid, mid), values in updates.items():
                    groups.setdefault(tuple(sorted(values)), []).append(
                        {"k_p": plat, "k_c": cid, "k_m": mid, **{f"v_{c}": v for c, v in values.items()}})
                for cols, params in groups.items():
                    await conn.execute(update(QT).where(QT.c.platform == bindparam("k_p"),
                                                        QT.c.channel_id == bindparam("k_c"),
                                                        QT.c.message_id == bindparam("k_m"), QT.c.status == "open")
                                       .values({c: bindparam(f"v_{c}") for c in cols}), params)
                if helps:
                    await conn.execute(insert(HELPS), helps)
                if late:
                    await self._write_late(conn, late)
                if active:
                    await conn.execute(ACTIVE, [{"p": p, "m": m, "t": t} for (p, m), t in active.items()])
        except BaseException:
            # rolled back: put the batch back under what has arrived since, so nothing is lost
            for k, row in new.items():
                self._new.setdefault(k, row)
            for k, values in updates.items():
                self._updates[k] = {**values, **self._updates.get(k, {})}
            self._helps[:0] = helps
            self._late[:0] = late
            for k, t in active.items():
                if k not in self._active or self._active[k] < t:
                    self._active[k] = t
            raise

    @staticmethod
    async def _write_late(conn: Any, late: list[tuple[str, str, str, str, datetime]]) -> None:
        """Late thread replies, as if applied one at a time in arrival order: a reply answers its
        question when the row exists, is still open and the replier is not the asker (the question
        is answered by them, with a helps row). Applied in rounds: round n holds each question's
        n-th reply, so within a round no question comes twice and the helps INSERT of every reply
        can go before the UPDATEs (it reads the status before its own reply changes it) as one
        executemany each. A second reply by the same member to the same question can change nothing
        the first did not, so it is left out."""
        rounds: list[list[dict[str, Any]]] = []
        count: dict[tuple[str, str, str], int] = {}
        seen: set[tuple[str, str, str, str]] = set()
        for plat, cid, root, by, at in late:
            if (plat, cid, root, by) in seen:
                continue
            seen.add((plat, cid, root, by))
            n = count.get((plat, cid, root), 0)
            count[(plat, cid, root)] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append({"l_p": plat, "l_c": cid, "l_m": root, "l_by": by, "l_at": at, "l_ab": [by]})
        for params in rounds:
            await conn.execute(LATE_HELP, params)
            await conn.execute(LATE_ANSWER, params)

    def quiet_hint(self, platform: str, cutoff: datetime, wait: timedelta) -> datetime | None:
        """After a scan found nothing older than ``cutoff``: when the earliest question this process saw
        asked since then comes due. None when this process cannot know (it has not watched the whole
        span, or other instances share a PostgreSQL store and see traffic this one does not)."""
        first = self._first_seen.get(platform)
        if self.store.is_postgres or first is None or cutoff < first:
            return None
        pending = [t for t in self._asked.get(platform, ()) if t > cutoff]
        return min(pending) + wait if pending else datetime.max.replace(tzinfo=cutoff.tzinfo)

    async def latest_asked(self, platform: str) -> datetime | None:
        """When the newest question on ``platform`` was asked (read once, then kept up to date)."""
        if platform not in self._latest:
            await self.store.flush()
            async with self.store.database.connect() as conn:
                v = (await conn.execute(select(func.max(QT.c.asked_at)).where(QT.c.platform == platform))).scalar()
            self._latest[platform] = as_utc(v) if v is not None else None
        return self._latest[platform]

    # ---- decisions from people
    async def resolve(self, platform: str, channel_id: str, message_id: str, *, by: str, at: datetime) -> bool:
        """Mark a question resolved (button, reaction or thanks). False when there is no such question."""
        self.version += 1
        await self.store.flush()
        async with self.store.database.begin() as conn:
            res = await conn.execute(update(QT).where(
                QT.c.platform == platform, QT.c.channel_id == channel_id, QT.c.message_id == message_id,
                QT.c.status == "open").values(status="resolved", resolved_by=by, resolved_at=at))
            row = (await conn.execute(select(QT.c.author_id, QT.c.asked_at).where(
                QT.c.platform == platform, QT.c.channel_id == channel_id, QT.c.message_id == message_id))).first() \
                if res.rowcount and self.decided is not None else None
        # whatever the row said (resolved now, or answered before), the tracker lets go of it: it
        # must not decide later that the question was answered or went unanswered
        self.tracker.settle(platform, channel_id, message_id)
        if row is not None and self.decided is not None:
            q = TrackedQuestion(platform, channel_id, message_id, row.author_id, as_utc(row.asked_at), "",
                                status="resolved")
            self.decided.append(("resolved", Change("resolved", q, by=by, at=at)))
        return bool(res.rowcount)

    async def withdraw(self, platform: str, channel_id: str, message_id: str) -> bool:
        """The message was deleted. A question still open goes as if never asked: not listed as
        unanswered, not pointed to in a nudge, not counted in health. One that was answered or resolved
        stays (that happened). True when an open question was withdrawn."""
        self.tracker.settle(platform, channel_id, message_id)
        await self.store.flush()
        async with self.store.database.begin() as conn:
            res = await conn.execute(delete(QT).where(
                QT.c.platform == platform, QT.c.channel_id == channel_id, QT.c.message_id == message_id,
                QT.c.status == "open"))
        if res.rowcount:
            self.version += 1
        return bool(res.rowcount)

    async def take_decided(self) -> list[tuple[str, Change]]:
        """What was decided since the last call, for whoever reports it (webhooks). A question let
        go of unanswered that is no longer open in the database (resolved by a manager or answered
        in its thread, here or by another instance) is left out: one query for the lot."""
        decided, self.decided = self.decided or [], ([] if self.decided is not None else None)
        gone = [ch.question for what, ch in decided if what == "unanswered"]
        if not gone:
            return decided
        async with self.store.database.connect() as conn:
            rows = (await conn.execute(select(QT.c.platform, QT.c.channel_id, QT.c.message_id).where(
                QT.c.status == "open", or_(*(
                    (QT.c.platform == q.platform) & (QT.c.channel_id == q.channel_id) & (QT.c.message_id == q.message_id)
                    for q in gone))))).all()
        # asked and let go of within one batch: not written yet, open in the buffer
        still_open = {tuple(r) for r in rows} | {k for k, v in self._new.items() if v["status"] == "open"}
        return [(what, ch) for what, ch in decided if what != "unanswered"
                or _key(ch.question.platform, ch.question.channel_id, ch.question.message_id) in still_open]

    async def set_tier(self, platform: str, keys: Iterable[tuple[str, str]], tier: int) -> None:
        self.version += 1
        await self.store.flush()
        params = [{"k_p": platform, "k_c": cid, "k_m": mid, "k_t": tier} for cid, mid in keys]
        if not params:
            return
        async with self.store.database.begin() as conn:  # one executemany: one round trip
            await conn.execute(SET_TIER, params)
