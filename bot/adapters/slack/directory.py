"""Enrichment, apart from translation: who a member is (users.info: display name, time zone,
locale, bot or not), what a channel is called (conversations.info), which user groups a member
is in (usergroups.users.list). Every answer is cached for a while, concurrent lookups of the same
thing share one API call, and what is learned is written to the store."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.translate import display_name, slack_locale
from bot.core.events import Event, MemberJoined, MessagePosted
from bot.core.records import Channel, Member
from bot.storage.repositories import Store

log = logging.getLogger("steward.slack")


class TTLCache:
    """A small async cache: value per key for ``ttl`` seconds, one loader call per key at a time."""

    def __init__(self, ttl: float, max_size: int = 50_000, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self.now = now
        self._data: dict[str, tuple[float, Any]] = {}
        self._pending: dict[str, asyncio.Future] = {}

    def forget(self, key: str) -> None:
        self._data.pop(key, None)

    async def get(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._data.get(key)
        if hit is not None and hit[0] > self.now():
            return hit[1]
        fut = self._pending.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        try:
            value = await load()
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            self._pending.pop(key, None)
        if len(self._data) >= self.max_size:
            self._data.clear()
        self._data[key] = (self.now() + self.ttl, value)
        fut.set_result(value)
        return value


class SlackDirectory:
    """Looks members, channels and user groups up on Slack (cached) and records them."""

    def __init__(self, client: AsyncWebClient, store: Store, *, ttl: float = 3600.0,
                 group_ttl: float = 60.0) -> None:
        self.client = client
        self.store = store
        self._users = TTLCache(ttl)
        self._channels = TTLCache(ttl)
        self._groups = TTLCache(group_ttl)
        self._recorded = TTLCache(ttl)

    def forget_member(self, platform: str, member_id: str) -> None:
        """A forgotten member's profile leaves the caches (the next lookup asks Slack again)."""
        if platform == "slack":
            self._users.forget(member_id)
            self._recorded.forget(member_id)

    async def user(self, user_id: str) -> dict[str, Any] | None:
        """The users.info ``user`` object, or None when Slack does not know the ID."""

        async def load():
            try:
                r = await self.client.users_info(user=user_id, include_locale=True)
            except SlackApiError as e:
                if e.response.get("error") in ("user_not_found", "users_not_found"):
                    return None
                raise
            return r["user"]

        if not user_id:
            return None
        return await self._users.get(user_id, load)

    async def member(self, member_id: str) -> Member | None:
        """A member as the core sees one (the Directory port)."""
        u = await self.user(member_id)
        if u is None:
            return None
        return Member("slack", member_id, display_name=display_name(u), locale=slack_locale(u.get("locale")),
                      timezone=u.get("tz"), is_bot=bool(u.get("is_bot") or u.get("is_app_user")),
                      is_staff=bool(u.get("is_admin") or u.get("is_owner")))

    async def channel_name(self, channel_id: str) -> str:
        """A channel's name without ``#`` (its ID when Slack will not say)."""

        async def load():
            try:
                r = await self.client.conversations_info(channel=channel_id)
            except SlackApiError as e:
                log.info("conversations.info %s: %s", channel_id, e.response.get("error"))
                return channel_id
            ch = r["channel"]
            name = ch.get("name") or channel_id
            kind = "dm" if ch.get("is_im") else "text"
            await self.store.upsert_channel(Channel("slack", channel_id, name, kind,
                                                    (ch.get("topic") or {}).get("value", "")))
            return name

        if not channel_id:
            return ""
        return await self._channels.get(channel_id, load)

    async def usergroup_members(self, usergroup: str) -> frozenset[str]:
        """Members of one user group (cached briefly: managers change rarely, but they do)."""

        async def load():
            r = await self.client.usergroups_users_list(usergroup=usergroup)
            return frozenset(r.get("users") or ())

        return await self._groups.get(usergroup, load)

    async def roles_of(self, member_id: str, groups: list[str]) -> tuple[str, ...]:
        """The configured user groups this member belongs to."""
        out = []
        for g in groups:
            try:
                if member_id in await self.usergroup_members(g):
                    out.append(g)
            except SlackApiError as e:
                log.warning("usergroups.users.list %s: %s", g, e.response.get("error"))
        return tuple(out)

    async def enrich(self, ev: Event) -> Event:
        """Fill in what the payload did not say. A failed lookup leaves the event as it was."""
        try:
            return await self._enrich(ev)
        except Exception as e:  # enrichment is a nicety; the event itself must go through
            log.warning("could not enrich %s: %s", ev.name, e)
            return ev

    async def _enrich(self, ev: Event) -> Event:
        if isinstance(ev, MemberJoined):
            # team_join carries the whole user; a channel join only the ID
            m = None if ev.display_name and ev.timezone else await self.member(ev.member_id)
            if m is not None:
                ev = replace(ev, display_name=ev.display_name or m.display_name, is_bot=ev.is_bot or m.is_bot,
                             locale=ev.locale or m.locale, timezone=ev.timezone or m.timezone)
            if ev.channel_id:
                await self.channel_name(ev.channel_id)
            return ev
        if isinstance(ev, MessagePosted):
            name = await self.channel_name(ev.channel_id) if ev.channel_id else None
            if not ev.is_bot and ev.author_id:
                m = await self._record_member(ev.author_id)
                if m is not None:
                    ev = replace(ev, is_bot=m.is_bot, author_name=ev.author_name or m.display_name)
            return replace(ev, channel_name=ev.channel_name or name)
        return ev

    async def _record_member(self, member_id: str) -> Member | None:
        async def load():
            m = await self.member(member_id)
            if m is not None:
                known = await self.store.get_member("slack", member_id)
                if known is None or (known.display_name, known.is_bot, known.timezone) != \
                        (m.display_name, m.is_bot, m.timezone):
                    await self.store.upsert_member(m)
            return m

        return await self._recorded.get(member_id, load)
