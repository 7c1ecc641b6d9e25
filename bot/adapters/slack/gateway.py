"""Sending to Slack: DMs, channel posts, thread replies, ephemeral answers, reactions, digests as
Block Kit, and the moderation calls (delete, remove from channel, add to the ambassador group).

The outbox owns retries. This client has no retry handlers of its own, so a message is sent once
per attempt the outbox makes: a 429 becomes ``SendResult(retry_after=...)`` and the outbox
reschedules the row; a permanent refusal (``cannot_dm_bot``, ``user_not_found``, ...) becomes
``SendResult(permanent=True)`` and is recorded on the row, never retried.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.blocks import slack_message
from bot.core.records import OutboundMessage, OutboxItem, SendResult

log = logging.getLogger("steward.slack")

#: Slack errors that no retry will fix for this message
PERMANENT_ERRORS = frozenset({
    "cannot_dm_bot", "user_not_found", "users_not_found", "user_disabled", "account_inactive",
    "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived", "msg_too_long", "no_text",
    "invalid_blocks", "invalid_blocks_format", "too_many_attachments", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "cannot_reply_to_message", "user_not_in_channel",
    "invalid_arguments", "invalid_users", "messages_tab_disabled", "message_not_found", "cant_delete_message",
    "cant_kick_self", "cant_kick_from_general", "not_allowed_token_type", "no_such_subteam", "invalid_name",
    "too_many_reactions", "thread_not_found", "invalid_ts", "unsupported", "no_permission",
})
#: answers that mean the thing asked for is already so
ALREADY_DONE = frozenset({"already_reacted"})
#: message metadata type that carries the outbox dedupe key (lets a restarted instance tell
#: whether a message it was sending arrived)
METADATA_TYPE = "steward_outbox"
_SUBTEAM = re.compile(r"^S[A-Z0-9]+$")


class ChannelPacer:
    """About one ``chat.postMessage`` a second per channel (Slack's published limit)."""

    def __init__(self, interval: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.now = now
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, channel: str) -> None:
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._next.get(channel, 0.0) - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            # from when this send actually goes: a late wake-up must not let the next one follow at once
            self._next[channel] = self.now() + self.interval
        if len(self._next) > 10_000:
            t = self.now()
            for k in [k for k, v in self._next.items() if v < t]:
                self._next.pop(k, None)
                if not self._locks[k].locked():
                    self._locks.pop(k, None)


class SlackGateway:
    """The Slack side of the Gateway and ModerationGateway ports."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient, *, ambassador_usergroup: str | None = None,
                 pacer: ChannelPacer | None = None, delivery_paces: Callable[[], bool] | None = None) -> None:
        self.client = client
        self.ambassador_usergroup = ambassador_usergroup
        self.pacer = pacer or ChannelPacer()
        #: true while the delivery worker paces sends itself (its live loop): this gateway then does
        #: not pace them twice. Asked per send, since pacing starts with the loop, after the adapter
        self.delivery_paces = delivery_paces or (lambda: False)
        self._dm_channels: dict[str, str] = {}
        self._blocked_until: dict[str, float] = {}

    # ------------------------------------------------------------------ Gateway
    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one outbound message; never raises for Slack's answers."""
        kind = message.kind
        try:
            if kind == "dm":
                if not message.member_id:
                    return _fail("dm without a member", permanent=True)
                channel = await self.dm_channel(message.member_id)
                return await self._post(message, channel)
            if kind == "group":  # a group DM with the members it names (an introduction)
                if len(message.mention_ids) < 2:
                    return _fail("group message needs two members", permanent=True)
                r = await self._call("conversations.open", users=",".join(message.mention_ids))
                return await self._post(message, r["channel"]["id"])
            if kind in ("channel", "thread"):
                if not message.channel_id:
                    return _fail(f"{kind} message without a channel", permanent=True)
                if kind == "thread" and not message.thread_id:
                    return _fail("thread reply without a thread", permanent=True)
                return await self._post(message, message.channel_id,
                                        thread_ts=message.thread_id if kind == "thread" else None)
            if kind == "ephemeral":
                if not message.channel_id or not message.member_id:
                    return _fail("ephemeral message needs a channel and a member", permanent=True)
                text, blocks = self._render(message)
                r = await self._call("chat.postEphemeral", channel=message.channel_id, user=message.member_id,
                                     text=text, blocks=blocks)
                return SendResult(ok=True, native_id=r.get("message_ts"), channel_id=message.channel_id)
            if kind == "reaction":
                if not (message.channel_id and message.thread_id and message.emoji):
                    return _fail("reaction needs a channel, a message and an emoji", permanent=True)
                await self._call("reactions.add", channel=message.channel_id, timestamp=message.thread_id,
                                 name=message.emoji.strip(":"))
                return SendResult(ok=True, native_id=message.thread_id, channel_id=message.channel_id)
            return _fail(f"unknown message kind {kind!r}", permanent=True)
        except _Refused as r:
            return r.result

    def extra_requests(self, message: OutboundMessage) -> list[str]:
        """The calls a send makes besides posting its message: conversations.open the first time a
        member is written to (Tier 3), so that the outbox reserves that method's slot with the send."""
        if message.kind == "dm" and message.member_id and message.member_id not in self._dm_channels:
            return ["conversations.open"]
        if message.kind == "group":
            return ["conversations.open"]
        return []

    async def dm_channel(self, member_id: str) -> str:
        """The DM channel with a member (conversations.open, remembered)."""
        ch = self._dm_channels.get(member_id)
        if ch is None:
            r = await self._call("conversations.open", users=member_id)
            ch = r["channel"]["id"]
            if len(self._dm_channels) > 100_000:
                self._dm_channels.clear()
            self._dm_channels[member_id] = ch
        return ch

    def _render(self, message: OutboundMessage) -> tuple[str, list[dict] | None]:
        return slack_message(message.text, message.digest, message.buttons)

    async def _post(self, message: OutboundMessage, channel: str, thread_ts: str | None = None) -> SendResult:
        text, blocks = self._render(message)
        args: dict[str, Any] = {"channel": channel, "text": text, "blocks": blocks, "thread_ts": thread_ts,
                                # only the members a message means to ping are pinged: no @channel
                                # or name guessing, and no link previews of member-supplied URLs
                                "link_names": False, "unfurl_links": False, "unfurl_media": False}
        if message.dedupe_key:
            args["metadata"] = {"event_type": METADATA_TYPE, "event_payload": {"dedupe_key": message.dedupe_key}}
        if not self.delivery_paces():
            await self.pacer.wait(channel)
        r = await self._call("chat.postMessage", creates=True, **args)
        return SendResult(ok=True, native_id=r.get("ts"), channel_id=r.get("channel") or channel)

    async def _call(self, method: str, *, creates: bool = False, **kwargs: Any) -> dict[str, Any]:
        """One Web API call; Slack's refusals become ``_Refused`` carrying the SendResult.
        ``creates``: the call makes a message, so an answer that does not say whether it did (a
        5xx, a timeout, a connection lost after the request went out) is ``unsure``."""
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        wait = self._blocked_until.get(method, 0.0) - time.monotonic()
        if wait > 0:
            # Slack told us to wait: don't spend a request finding out it still means it
            raise _Refused(SendResult(ok=False, error="ratelimited", retry_after=round(wait, 3)))
        try:
            r = await getattr(self.client, method.replace(".", "_"))(**kwargs)
            return r.data if isinstance(r.data, dict) else {}
        except SlackApiError as e:
            raise _Refused(self._refusal(method, e, creates=creates)) from None
        except aiohttp.ClientConnectorError as e:  # never connected: nothing was sent
            raise _Refused(SendResult(ok=False, error=f"{method}: {type(e).__name__}: {e}")) from None
        except (aiohttp.ClientError, TimeoutError) as e:
            # the request may have reached Slack and been carried out before the answer was lost
            raise _Refused(SendResult(ok=False, error=f"{method}: {type(e).__name__}: {e}".rstrip(": "),
                                      unsure=creates)) from None

    def _refusal(self, method: str, e: SlackApiError, *, creates: bool = False) -> SendResult:
        resp = e.response
        # a body that is not JSON (a proxy's error page) leaves no dict to read the error from
        data = getattr(resp, "data", None)
        status = getattr(resp, "status_code", None) or getattr(resp, "status", 0) or 0
        headers = getattr(resp, "headers", None) or {}
        error = (data.get("error") if isinstance(data, dict) else None) or f"http {status}"
        if status == 429 or error == "ratelimited":
            try:
                retry = float(headers.get("Retry-After") or headers.get("retry-after") or 1)
            except ValueError:
                retry = 1.0
            self._blocked_until[method] = time.monotonic() + retry
            log.info("%s rate limited: retry in %ss", method, retry)
            return SendResult(ok=False, error="ratelimited", retry_after=retry)
        if error in ALREADY_DONE:
            raise _Done()
        detail = f"{method}: {error}"
        if error in PERMANENT_ERRORS:
            return SendResult(ok=False, error=detail, permanent=True)
        # a server error says nothing about whether the message was made
        return SendResult(ok=False, error=detail, unsure=creates and status >= 500)

    # ------------------------------------------------------------------ recovery
    async def already_sent(self, item: OutboxItem) -> SendResult | None:
        """Whether a message this bot was sending when it stopped did arrive (found by the dedupe
        key in its metadata). None: not found (or not a kind Slack can be asked about)."""
        msg = item.message
        if msg.kind not in ("dm", "channel", "thread", "group") or not msg.dedupe_key:
            return None
        if msg.kind == "group":  # opening the same members' group DM again gives the same conversation
            channel = (await self._call("conversations.open", users=",".join(msg.mention_ids)))["channel"]["id"]
        else:
            channel = await self.dm_channel(msg.member_id or "") if msg.kind == "dm" else msg.channel_id
        oldest = f"{item.created_at.timestamp() - 60:.6f}"
        if msg.kind == "thread":
            r = await self.client.conversations_replies(channel=channel, ts=msg.thread_id, oldest=oldest,
                                                        limit=200, include_all_metadata=True)
        else:
            r = await self.client.conversations_history(channel=channel, oldest=oldest, limit=200,
                                                        include_all_metadata=True)
        for m in r.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == METADATA_TYPE and \
                    (meta.get("event_payload") or {}).get("dedupe_key") == msg.dedupe_key:
                return SendResult(ok=True, native_id=m.get("ts"), channel_id=channel)
        return None

    # ------------------------------------------------------------------ ModerationGateway
    async def delete_message(self, channel_id: str, message_id: str) -> SendResult:
        """chat.delete. With a bot token Slack deletes only the bot's own messages; others answer
        ``cant_delete_message`` (recorded, not retried)."""
        return await self._moderate("chat.delete", channel=channel_id, ts=message_id)

    async def remove_from_channel(self, channel_id: str, member_id: str) -> SendResult:
        """conversations.kick."""
        return await self._moderate("conversations.kick", channel=channel_id, user=member_id)

    async def timeout_member(self, member_id: str, seconds: int, reason: str = "") -> SendResult:
        """Slack has no timeouts."""
        return SendResult(ok=False, error="unsupported: Slack has no member timeouts", permanent=True)

    async def grant_role(self, member_id: str, role: str = "") -> SendResult:
        """Add the member to a user group: ``role`` when it is a user group ID (``S...``), else the
        configured ``[slack] ambassador_usergroup``."""
        group = role if role and _SUBTEAM.match(role) else self.ambassador_usergroup
        if not group:
            return SendResult(ok=False, error="no ambassador user group configured ([slack] ambassador_usergroup)",
                              permanent=True)
        try:
            r = await self._call("usergroups.users.list", usergroup=group)
            users = list(r.get("users") or [])
            if member_id in users:
                return SendResult(ok=True, native_id=group)
            await self._call("usergroups.users.update", usergroup=group, users=",".join([*users, member_id]))
            return SendResult(ok=True, native_id=group)
        except _Refused as r:
            return r.result

    async def _moderate(self, method: str, **kwargs: Any) -> SendResult:
        try:
            await self._call(method, **kwargs)
            return SendResult(ok=True, channel_id=kwargs.get("channel"))
        except _Refused as r:
            return r.result


class _Refused(Exception):
    def __init__(self, result: SendResult) -> None:
        super().__init__(result.error)
        self.result = result


class _Done(_Refused):
    def __init__(self) -> None:
        super().__init__(SendResult(ok=True))


def _fail(error: str, *, permanent: bool = False) -> SendResult:
    return SendResult(ok=False, error=error, permanent=permanent)

