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
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.translate import member_from_user
from bot.core.errors import TransientError
from bot.core.events import Event, MemberJoined, MessagePosted
from bot.core.records import Channel, Member
from bot.storage.repositories import Store

log = logging.getLogger("steward.slack")

#: Slack error codes that say "try again later" rather than "no"
_TRANSIENT_CODES = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})


class SlackUnavailable(TransientError):
    """Slack, or a proxy in front of it, did not answer a call properly: try again later."""


def api_error(e: SlackApiError) -> str:
    """Slack's error code from a failed call, or ``http 502`` when the answer was not Slack's JSON
    (a proxy's HTML error page: the SDK then carries a string, or no parsed response at all)."""
    resp = e.response
    data = getattr(resp, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(resp, "status_code", None) or getattr(resp, "status", None)
    return f"http {status}" if status else "no answer"


def is_transient(e: SlackApiError) -> bool:
    """Whether retrying later may succeed: a 429 or 5xx, an answer that was not Slack's JSON, or an
    error code Slack documents as temporary."""
    resp = e.response
    status = getattr(resp, "status_code", None) or getattr(resp, "status", None) or 0
    data = getattr(resp, "data", None)
    return status == 429 or status >= 500 or not isinstance(data, dict) or api_error(e) in _TRANSIENT_CODES


def unavailable(method: str, e: SlackApiError) -> SlackUnavailable:
    return SlackUnavailable(f"Slack {method} failed for now ({api_error(e)}); it will be tried again")


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
                if is_transient(e):
                    raise unavailable("users.info", e) from None
                if api_error(e) in ("user_not_found", "users_not_found"):
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
        return member_from_user(u)

    async def channel_name(self, channel_id: str) -> str:
        """A channel's name without ``#`` (its ID when Slack will not say)."""

        async def load():
            try:
                r = await self.client.conversations_info(channel=channel_id)
            except SlackApiError as e:
                if is_transient(e):
                    raise unavailable("conversations.info", e) from None
                log.info("conversations.info %s: %s", channel_id, api_error(e))
                return channel_id
            ch = r["channel"]
            name = ch.get("name") or channel_id
            kind = "dm" if ch.get("is_im") else "text"
            await self.store.upsert_channel(Channel("slack", channel_id, name, kind,
                                                    (ch.get("topic") or {}).get("value", "")))
            return name

        if not channel_id:
            return ""
        try:
            return await self._channels.get(channel_id, load)
        except SlackUnavailable as e:
            # a name is for display (a link to the channel uses its ID): say so once, show the ID,
            # and ask again next time rather than remember the failure
            log.warning("%s", e)
            return channel_id

    async def usergroup_members(self, usergroup: str) -> frozenset[str]:
        """Members of one user group (cached briefly: managers change rarely, but they do)."""

        async def load():
            try:
                r = await self.client.usergroups_users_list(usergroup=usergroup)
            except SlackApiError as e:
                if is_transient(e):
                    raise unavailable("usergroups.users.list", e) from None
                raise
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
                log.warning("usergroups.users.list %s: %s", g, api_error(e))
            except SlackUnavailable as e:
                log.warning("%s", e)
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
            # team_join carries the whole user (its name is used as it is); a channel join only the ID
            m = None if ev.display_name else await self.member(ev.member_id)
            if m is not None:
                ev = replace(ev, display_name=ev.display_name or m.display_name, is_bot=ev.is_bot or m.is_bot,
                             locale=ev.locale or m.locale, timezone=ev.timezone or m.timezone)
            if ev.channel_id:
                await self.channel_name(ev.channel_id)
            return ev
        if isinstance(ev, MessagePosted):
            name = await self.channel_name(ev.channel_id) if ev.channel_id else None
            if not ev.is_bot and ev.author_id:
                m = await self._record_member(ev.author_id, ev.at)
                if m is not None:
                    ev = replace(ev, is_bot=m.is_bot, author_name=ev.author_name or m.display_name)
            return replace(ev, channel_name=ev.channel_name or name)
        return ev

    async def _record_member(self, member_id: str, seen_at: datetime) -> Member | None:
        async def load():
            m = await self.member(member_id)
            if m is not None:
                known = await self.store.get_member("slack", member_id)
                if known is None or (known.display_name, known.is_bot, known.timezone) != \
                        (m.display_name, m.is_bot, m.timezone):
                    # seen_at: a member first seen by a message (their join may still be on its way)
                    await self.store.upsert_member(m, seen_at=seen_at)
            return m

        return await self._recorded.get(member_id, load)
