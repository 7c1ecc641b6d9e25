"""``member.first_contribution`` and ``member.level_changed``: where a member stands, as the health
report counts it (bot/community/health.py), over all time: a *reader* has not posted or reacted, a
*contributor* has replied, continued their own lines or reacted, a *creator* has started a
conversation (a message the reply-link model linked to no earlier line, outside threads and platform
replies: the question service observes each message first and keeps the model's decision).

``member.first_contribution`` is a member's first message. A level only rises. Each member's level is looked up once per process (one query) and then kept;
each rise is an event with its own key (member and level), so it is sent once across instances and
restarts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, select

from bot.core.events import MessagePosted, ReactionAdded
from bot.storage.links import starts
from bot.storage.messages import MSG
from bot.storage.models import ReactionRow
from bot.storage.repositories import Store
from bot.webhooks.queue import WebhookQueue

RX = ReactionRow.__table__
LEVELS = ("reader", "contributor", "creator")
#: members whose level is kept in memory at most (then the cache starts again)
CACHE = 200_000


def starts_conversation(ev: MessagePosted, tracker: Any) -> bool:
    """Whether the message starts a conversation, from the reply model's decision on it (``tracker``:
    the question service's, which has just observed it)."""
    return ev.thread_id is None and ev.reply_to is None and tracker is not None and tracker.parent is None


class Levels:
    def __init__(self, store: Store, queue: WebhookQueue, tracker: Any = None) -> None:
        self.store = store
        self.queue = queue
        self.tracker = tracker
        #: (platform, member) → (level, has posted)
        self._level: dict[tuple[str, str], tuple[int, bool]] = {}

    def wanted(self) -> bool:
        return self.queue.wanted("member.first_contribution") or self.queue.wanted("member.level_changed")

    async def observe(self, ev: MessagePosted | ReactionAdded) -> None:
        if isinstance(ev, MessagePosted):
            if ev.is_bot or not ev.author_id:
                return
            who, now, message = (ev.platform, ev.author_id), 2 if starts_conversation(ev, self.tracker) else 1, True
        else:
            if not ev.member_id:
                return
            who, now, message = (ev.platform, ev.member_id), 1, False
        known = self._level.get(who)
        if known is not None and known[0] >= now and (known[1] or not message):
            return
        before, posted = known if known is not None else await self._on_record(ev, who)
        if len(self._level) > CACHE:
            self._level.clear()
        self._level[who] = (max(before, now), posted or message)
        member: dict[str, Any] = {"platform": who[0], "id": who[1]}
        if isinstance(ev, MessagePosted) and ev.author_name:
            member["display_name"] = ev.author_name
        if message and not posted and self.queue.wanted("member.first_contribution"):
            await self.queue.emit("member.first_contribution", {
                "member": member, "channel_id": ev.channel_id, "message_id": ev.message_id, "text": ev.text},
                key=f"{who[0]}:{who[1]}", member=who[1])
        if now > before and self.queue.wanted("member.level_changed"):
            await self.queue.emit("member.level_changed", {
                "member": member, "from": LEVELS[before], "to": LEVELS[now]},
                key=f"{who[0]}:{who[1]}:{LEVELS[now]}", member=who[1])

    async def _on_record(self, ev: MessagePosted | ReactionAdded, who: tuple[str, str]) -> tuple[int, bool]:
        """The member's level, and whether they have posted, from what is stored, this event left out (an earlier one of theirs in
        this process may still be buffered, but then their level is already kept)."""
        platform, mid = who
        own = and_(MSG.c.platform == platform, MSG.c.author_id == mid, MSG.c.is_bot.is_(False))
        if isinstance(ev, MessagePosted):
            own = and_(own, MSG.c.message_id != ev.message_id)
        started = and_(own, starts(MSG))
        reacted = and_(RX.c.platform == platform, RX.c.member_id == mid)
        if isinstance(ev, ReactionAdded):
            reacted = and_(reacted, (RX.c.message_id != ev.message_id) | (RX.c.emoji != ev.emoji))
        q = select(exists().where(started), exists().where(own), exists().where(reacted))
        async with self.store.database.connect() as conn:
            s, posted, r = (await conn.execute(q)).one()
        return (2 if s else 1 if (posted or r) else 0), bool(posted)
