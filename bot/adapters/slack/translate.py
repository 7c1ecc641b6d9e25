"""Slack payloads → core events: pure functions of the payload, no API calls.

One table (``TABLE``) maps a Slack event type, and for ``message`` its subtype, to the function
that builds the core event. Anything not in the table, and anything the bot itself did, becomes
``None``. Enrichment (display names, time zones, channel names) happens elsewhere
(``directory.py``), after translation.
"""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.events import (
    ButtonClicked,
    CommandInvoked,
    DirectMessageReceived,
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageReported,
    ReactionAdded,
    ReactionRemoved,
)
from bot.core.records import Member

P = "slack"
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
#: action_id of a digest button: ``steward:<core action>:<item>:<button>``
ACTION_PREFIX = "steward:"


@dataclass(frozen=True)
class Self:
    """Who the bot is on Slack, so that its own events are ignored."""

    user_id: str | None = None
    bot_id: str | None = None

    def is_me(self, user: str | None, bot: str | None = None) -> bool:
        return bool((user and user == self.user_id) or (bot and bot == self.bot_id))


def ts_to_datetime(ts: str | float | None, default: datetime | None = None) -> datetime:
    """Slack's ``1700000000.000100`` → aware UTC datetime."""
    if ts in (None, ""):
        return default or datetime.now(UTC)
    return datetime.fromtimestamp(float(ts), UTC)


def slack_locale(locale: str | None) -> str | None:
    """``nl-NL`` → ``nl``: message templates are per language."""
    if not locale:
        return None
    return locale.replace("_", "-").split("-")[0].lower() or None


def plain_text(text: str | None) -> str:
    """Slack escapes ``&``, ``<`` and ``>`` in message text; store what the member typed."""
    return html.unescape(text or "") if text and "&" in text else (text or "")


def mentions(text: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MENTION.findall(text or "")))


def display_name(user: dict[str, Any]) -> str:
    """The name a person would call this member by; "" when Slack has none. Never the ID: the
    legacy ``name`` handle of many accounts is just the ID in lower case (``u92mb9b8q``)."""
    prof = user.get("profile") or {}
    uid = str(user.get("id") or "")
    for name in (prof.get("display_name"), prof.get("real_name"), user.get("real_name"), user.get("name")):
        name = (name or "").strip()
        if name and name.lower() != uid.lower():
            return name
    return ""


def member_from_user(user: dict[str, Any]) -> Member:
    """A Slack user object (users.info, users.list, ``team_join``) as the core sees a member."""
    return Member(P, user["id"], display_name=display_name(user), locale=slack_locale(user.get("locale")),
                  timezone=user.get("tz"), is_bot=bool(user.get("is_bot") or user.get("is_app_user")),
                  is_staff=bool(user.get("is_admin") or user.get("is_owner")))


# ---------------------------------------------------------------------- one function per row
def _team_join(ev: dict, me: Self, at: datetime) -> Event | None:
    user = ev.get("user") or {}
    if not isinstance(user, dict) or not user.get("id") or me.is_me(user.get("id")):
        return None
    return MemberJoined(P, at, member_id=user["id"], display_name=display_name(user),
                        is_bot=bool(user.get("is_bot") or user.get("is_app_user")),
                        locale=slack_locale(user.get("locale")), timezone=user.get("tz"))


def _member_joined_channel(ev: dict, me: Self, at: datetime) -> Event | None:
    if me.is_me(ev.get("user")):
        return None
    return MemberJoined(P, at, member_id=ev.get("user", ""), channel_id=ev.get("channel"))


def _member_left_channel(ev: dict, me: Self, at: datetime) -> Event | None:
    if me.is_me(ev.get("user")):
        return None
    return MemberLeft(P, at, member_id=ev.get("user", ""), channel_id=ev.get("channel"))


def _thread_of(ev: dict) -> str | None:
    # a thread's root carries thread_ts == ts once it has replies; it is not a reply itself
    t = ev.get("thread_ts")
    return t if t and t != ev.get("ts") else None


def _message(ev: dict, me: Self, at: datetime, *, kind: str | None = None) -> Event | None:
    if me.is_me(ev.get("user"), ev.get("bot_id")):
        return None
    is_bot = bool(ev.get("bot_id")) or ev.get("subtype") == "bot_message"
    author = ev.get("user") or ev.get("bot_id") or ""
    text = ev.get("text") or ""
    if ev.get("channel_type") == "im":
        # a member writing to Steward itself (e.g. "stop"): not a community message
        if is_bot or not ev.get("user"):
            return None
        return DirectMessageReceived(P, at, member_id=author, channel_id=ev.get("channel", ""),
                                     message_id=ev.get("ts", ""), text=plain_text(text))
    return MessagePosted(P, at, channel_id=ev.get("channel", ""), message_id=ev.get("ts", ""), author_id=author,
                         text=plain_text(text), thread_id=_thread_of(ev), mentions=mentions(text), is_bot=is_bot,
                         author_name=ev.get("username") if is_bot else None, kind=kind)


def _me_message(ev: dict, me: Self, at: datetime) -> Event | None:
    return _message(ev, me, at, kind="me")


def _channel_join(ev: dict, me: Self, at: datetime) -> Event | None:
    return _member_joined_channel(ev, me, at)


def _channel_leave(ev: dict, me: Self, at: datetime) -> Event | None:
    return _member_left_channel(ev, me, at)


def _message_changed(ev: dict, me: Self, at: datetime) -> Event | None:
    new = ev.get("message") or {}
    old = ev.get("previous_message") or {}
    if me.is_me(new.get("user"), new.get("bot_id")):
        return None
    # Slack also sends message_changed when it unfurls a link; the text is then unchanged
    if new.get("text") == old.get("text"):
        return None
    edited = (new.get("edited") or {}).get("ts") or ev.get("event_ts") or ev.get("ts")
    return MessageEdited(P, ts_to_datetime(edited, at), channel_id=ev.get("channel", ""),
                         message_id=new.get("ts", ""), author_id=new.get("user", ""),
                         text=plain_text(new.get("text")))


def _message_deleted(ev: dict, me: Self, at: datetime) -> Event | None:
    return MessageDeleted(P, at, channel_id=ev.get("channel", ""),
                          message_id=ev.get("deleted_ts") or (ev.get("previous_message") or {}).get("ts", ""))


def _reaction(cls: type) -> Callable[[dict, Self, datetime], Event | None]:
    def build(ev: dict, me: Self, at: datetime) -> Event | None:
        item = ev.get("item") or {}
        if item.get("type") != "message" or me.is_me(ev.get("user")):
            return None
        kw: dict[str, Any] = {"channel_id": item.get("channel", ""), "message_id": item.get("ts", ""),
                              "member_id": ev.get("user", ""), "emoji": ev.get("reaction", "")}
        if cls is ReactionAdded:
            kw["message_author_id"] = ev.get("item_user")
        return cls(P, at, **kw)

    return build


def _app_mention(ev: dict, me: Self, at: datetime) -> Event | None:
    # the same message also arrives as a plain message event; both carry the same ts, so the
    # store keeps one row and playbooks run once per message
    return _message(ev, me, at)


Builder = Callable[[dict, Self, datetime], Event | None]

#: (event type, message subtype) → builder. ``None`` as the subtype: no subtype.
TABLE: dict[tuple[str, str | None], Builder] = {
    ("team_join", None): _team_join,
    ("member_joined_channel", None): _member_joined_channel,
    ("member_left_channel", None): _member_left_channel,
    ("message", None): _message,
    ("message", "thread_broadcast"): _message,
    ("message", "file_share"): _message,
    ("message", "bot_message"): _message,
    ("message", "me_message"): _me_message,
    ("message", "channel_join"): _channel_join,
    ("message", "channel_leave"): _channel_leave,
    ("message", "message_changed"): _message_changed,
    ("message", "message_deleted"): _message_deleted,
    ("reaction_added", None): _reaction(ReactionAdded),
    ("reaction_removed", None): _reaction(ReactionRemoved),
    ("app_mention", None): _app_mention,
}


def translate(event: dict[str, Any], me: Self = Self(), *, received_at: datetime | None = None) -> Event | None:
    """One Slack event (the ``event`` object of an ``event_callback``) → a core event, or None."""
    etype = event.get("type", "")
    sub = event.get("subtype") if etype == "message" else None
    build = TABLE.get((etype, sub))
    if build is None:
        return None
    at = ts_to_datetime(event.get("ts") or event.get("event_ts"), received_at)
    return build(event, me, at)


# ---------------------------------------------------------------------- interactivity
def parse_command_text(text: str) -> tuple[str, tuple[str, ...]]:
    """``nudge <@U123|rosa>`` → ``("nudge", ("U123",))``: Slack's member and channel references
    become bare IDs so handlers see the same thing on every platform."""
    text = re.sub(r"<[@#]([A-Z0-9]+)(?:\|[^>]*)?>", r"\1", text or "").strip()
    try:
        parts = shlex.split(text)
    except ValueError:  # an unbalanced quote: fall back to plain words
        parts = text.split()
    if not parts:
        return "help", ()
    return parts[0].lower(), tuple(parts[1:])


def command_event(form: dict[str, Any], *, roles: tuple[str, ...] = (), received_at: datetime | None = None,
                  ) -> CommandInvoked:
    """A ``/steward ...`` slash command (its form fields) → ``CommandInvoked``."""
    sub, args = parse_command_text(form.get("text", ""))
    return CommandInvoked(P, received_at or datetime.now(UTC), member_id=form.get("user_id", ""),
                          channel_id=form.get("channel_id"), command=sub, args=args, roles=roles)


def parse_action_id(action_id: str) -> str | None:
    """``steward:approve:0:1`` → ``approve``; None for buttons that are not Steward's."""
    if not action_id.startswith(ACTION_PREFIX):
        return None
    return action_id[len(ACTION_PREFIX):].split(":", 1)[0] or None


def button_event(body: dict[str, Any], *, received_at: datetime | None = None) -> ButtonClicked | None:
    """A ``block_actions`` payload (the first action) → ``ButtonClicked``."""
    actions = body.get("actions") or []
    if not actions:
        return None
    act = actions[0]
    action = parse_action_id(act.get("action_id", ""))
    if action is None:
        return None
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    message = container.get("message_ts") or (body.get("message") or {}).get("ts")
    return ButtonClicked(P, received_at or datetime.now(UTC), member_id=(body.get("user") or {}).get("id", ""),
                         action=action, value=act.get("value", ""), channel_id=channel, message_id=message,
                         click_id=str(body.get("trigger_id") or act.get("action_ts") or ""))


def report_event(body: dict[str, Any], *, received_at: datetime | None = None) -> MessageReported:
    """The "Report to moderators" message shortcut → ``MessageReported``."""
    msg = body.get("message") or {}
    return MessageReported(P, received_at or datetime.now(UTC), reporter_id=(body.get("user") or {}).get("id", ""),
                           channel_id=(body.get("channel") or {}).get("id", ""),
                           message_id=msg.get("ts") or body.get("message_ts", ""),
                           author_id=msg.get("user") or msg.get("bot_id") or "", text=plain_text(msg.get("text")),
                           reason="reported with the message shortcut")


# ---------------------------------------------------------------------- quoting a member's text
#: Slack's markup in message text: <@U…>, <#C…|name>, <!channel>, <!subteam^S…|@team>, <url|label>
_MARKUP = re.compile(r"<([^<>\s|][^<>]{0,2000})>")
_SCHEME = re.compile(r"(?i)^(?:https?|ftp|mailto|tel|slack):")


def referenced(text: str) -> tuple[list[str], list[str]]:
    """The member and channel IDs a message's markup refers to (each once, in order)."""
    members: dict[str, None] = {}
    channels: dict[str, None] = {}
    for m in _MARKUP.finditer(text or ""):
        target = m.group(1).partition("|")[0]
        if target[:1] == "@" and len(target) > 1:
            members[target[1:]] = None
        elif target[:1] == "#" and len(target) > 1:
            channels[target[1:]] = None
    return list(members), list(channels)


def readable(text: str, members: dict[str, str], channels: dict[str, str]) -> str:
    """A message's text as Slack shows it to people: ``<@U1>`` as @name, ``<#C1>`` as #name,
    ``<!channel>`` as @channel, ``<https://x|click>`` as "click (https://x)". The result is plain
    text, for quoting; whoever sends it escapes it again."""

    def one(m: re.Match[str]) -> str:
        target, _, label = m.group(1).partition("|")
        head, rest = target[:1], target[1:]
        if head == "@" and rest:
            return "@" + (members.get(rest) or label.lstrip("@") or rest)
        if head == "#" and rest:
            return "#" + (channels.get(rest) or label.lstrip("#") or rest)
        if head == "!":
            if rest.startswith("subteam^"):
                return "@" + (label.lstrip("@") or "group")
            if rest.startswith("date^"):
                return label
            return "@" + rest if rest in ("channel", "here", "everyone") else (label or rest)
        if _SCHEME.match(target):
            shown = target[7:] if target.lower().startswith("mailto:") else target
            return f"{label} ({target})" if label and label not in (target, shown) else shown
        return m.group(0)

    return _MARKUP.sub(one, text or "") if "<" in (text or "") else (text or "")
