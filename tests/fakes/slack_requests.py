"""What Slack sends to an app, built and signed the way Slack does: Events API callbacks, slash
commands, interactivity payloads (button clicks, message shortcuts), and a sender that POSTs them,
signed with ``X-Slack-Signature`` v0, to an app's ``/slack/events`` endpoint.

Use with ``FakeSlack`` (HTTP mode: ``HttpSender``; Socket Mode: ``FakeSlack.send_envelope``)::

    sender = HttpSender("http://127.0.0.1:3000/slack/events", fake.signing_secret)
    status, body = await sender.event(team_join("U123", "Rosa"))
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack_server import APP_ID, TEAM_ID

_ids = itertools.count(1)


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack adds to every request: timestamp and the v0 HMAC-SHA256 signature."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:{body}".encode()
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def event_callback(event: dict[str, Any], *, team_id: str = TEAM_ID, event_id: str | None = None) -> dict[str, Any]:
    """The Events API envelope around one event."""
    return {"token": "legacy-verification-token", "team_id": team_id, "api_app_id": APP_ID, "event": event,
            "type": "event_callback", "event_id": event_id or f"Ev{next(_ids):08d}",
            "event_time": int(time.time()), "authorizations": [{"team_id": team_id, "user_id": "UBOT",
                                                                 "is_bot": True}]}


def team_join(user_id: str, name: str, *, tz: str = "Europe/Amsterdam", locale: str = "en-US",
              is_bot: bool = False) -> dict[str, Any]:
    return {"type": "team_join", "event_ts": f"{time.time():.6f}",
            "user": {"id": user_id, "team_id": TEAM_ID, "name": name.lower(), "real_name": name, "tz": tz,
                     "locale": locale, "is_bot": is_bot, "deleted": False,
                     "profile": {"display_name": name, "real_name": name}}}


def message(channel: str, user: str, text: str, *, ts: str | None = None, thread_ts: str | None = None,
            **extra: Any) -> dict[str, Any]:
    ev = {"type": "message", "channel": channel, "user": user, "text": text,
          "ts": ts or f"{time.time():.6f}", "channel_type": "channel", **extra}
    if thread_ts:
        ev["thread_ts"] = thread_ts
    return ev


def slash_command(text: str, *, user_id: str, channel_id: str = "CHELP", response_url: str,
                  command: str = "/steward") -> dict[str, str]:
    """The form fields of a slash command invocation."""
    return {"token": "legacy-verification-token", "team_id": TEAM_ID, "team_domain": "fake",
            "channel_id": channel_id, "channel_name": "help", "user_id": user_id, "user_name": user_id.lower(),
            "command": command, "text": text, "api_app_id": APP_ID, "response_url": response_url,
            "trigger_id": f"{next(_ids)}.trigger"}


def block_actions(*, user_id: str, action_id: str, value: str, channel_id: str = "CMODS",
                  message_ts: str = "1700000001.000100", response_url: str = "",
                  label: str = "Button") -> dict[str, Any]:
    """A button click on a message the app posted (``label``: the button's text)."""
    return {"type": "block_actions", "team": {"id": TEAM_ID, "domain": "fake"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
            "api_app_id": APP_ID, "token": "legacy-verification-token", "trigger_id": f"{next(_ids)}.trigger",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                          "is_ephemeral": False},
            "channel": {"id": channel_id, "name": "moderators"},
            "message": {"type": "message", "ts": message_ts, "user": "UBOT", "bot_id": "BBOT", "text": "digest"},
            "response_url": response_url,
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                         "text": {"type": "plain_text", "text": label}, "action_ts": f"{time.time():.6f}"}]}


def message_shortcut(*, user_id: str, channel_id: str, message_ts: str, author_id: str, text: str,
                     response_url: str = "", callback_id: str = "report_message") -> dict[str, Any]:
    """A message shortcut ("Report to moderators") on someone's message."""
    return {"type": "message_action", "callback_id": callback_id, "token": "legacy-verification-token",
            "action_ts": f"{time.time():.6f}", "team": {"id": TEAM_ID, "domain": "fake"},
            "user": {"id": user_id, "name": user_id.lower()}, "channel": {"id": channel_id, "name": "general"},
            "message": {"type": "message", "user": author_id, "text": text, "ts": message_ts},
            "message_ts": message_ts, "response_url": response_url, "trigger_id": f"{next(_ids)}.trigger"}


class HttpSender:
    """POSTs signed requests to an app's Events API endpoint, as Slack does."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.secret = secret

    async def post(self, body: str, content_type: str, *, timestamp: int | None = None,
                   forge: bool = False) -> tuple[int, str]:
        headers = sign("not-the-secret" if forge else self.secret, body, timestamp)
        headers["Content-Type"] = content_type
        async with aiohttp.ClientSession() as s, s.post(self.url, data=body.encode(), headers=headers) as r:
            return r.status, await r.text()

    async def event(self, event: dict[str, Any], **kw: Any) -> tuple[int, str]:
        payload = event if event.get("type") in ("event_callback", "url_verification") else event_callback(event)
        return await self.post(json.dumps(payload), "application/json", **kw)

    async def command(self, form: dict[str, str], **kw: Any) -> tuple[int, str]:
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    async def interaction(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str]:
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw)
