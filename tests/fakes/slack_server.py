"""A fake Slack of the project's own: Web API, Socket Mode websocket and ``response_url``, on
127.0.0.1 and a free port. It speaks Slack's wire format, so the real slack-bolt / slack_sdk code
runs against it unchanged (pass its ``api_url`` as the client's ``base_url``).

What it checks: every Web API call must carry the bot token (or the app token for
``apps.connections.open``); where the method is described in
``/work/shared/specs/slack-web-openapi-v2.json`` (``SLACK_OPENAPI`` overrides the path) it refuses
unknown methods, unknown parameters and missing required ones with ``invalid_arguments``, the
way a strict Slack would. It records every call (``calls``), and can inject 429s with a
``Retry-After`` header (``rate_limit``) and errors (``fail``) per method. Faults can also come
after the work was done (``accept_then``): the message is stored, and the answer is an error, a
body that is not JSON, a late answer, or a dropped connection: what an outcome-unknown send meets.

Rate limits are enforced as Slack publishes them (``limits=False`` switches them off): each
method's tier (``TIERS``: Tier 2 = 20, Tier 3 = 50, Tier 4 = 100 calls per minute, per method and
workspace, counted over any minute; ``minute_s`` shortens the minute for tests that need many
calls), and chat.postMessage about one a second per channel with short bursts (a token bucket of
three). Past them the answer is ``429`` with ``Retry-After`` and ``{"ok": false, "error":
"ratelimited"}``; every refusal is kept in ``refused``, so a test can assert there was none.

In a test::

    fake = FakeSlack()
    await fake.start()
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    ...
    await fake.stop()

Standalone (for load and fault tests against real ``steward run`` processes)::

    python -m tests.fakes.slack_server --port 0

(``--no-limits``: no rate limits; ``--minute 1``: tiers count calls per second instead of per
minute) prints ``FAKE_SLACK_URL=http://127.0.0.1:PORT/api/`` plus the tokens it accepts, and serves
until interrupted. Other processes can drive and inspect it over HTTP:

- ``GET  /_fake/calls?method=chat.postMessage``  every recorded call (JSON list)
- ``GET  /_fake/responses``                       every ``response_url`` post
- ``GET  /_fake/stored``                          messages Slack holds per channel (``{channel: count}``)
- ``POST /_fake/fail``        ``{"method", "error", "times", "status", "retry_after", "after", "match",
  "accepted", "delay", "reset", "raw_body", "content_type"}``
- ``POST /_fake/rate_limit``  ``{"method", "retry_after", "times", "after"}``
- ``POST /_fake/users``       ``{"id", "name", "tz", "locale", "is_bot", "deleted"}`` or a list of them
- ``POST /_fake/reset``       forget calls, injected faults and responses
- ``POST /_fake/envelope``    ``{"type", "payload"}``: send a Socket Mode envelope, answer with the ack
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import itertools
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.fakes.ratelimit import SlidingWindow, TokenBucket, most_in_window
from tests.shared_paths import spec

SPEC_PATH = Path(os.environ.get("SLACK_OPENAPI") or spec("slack-web-openapi-v2.json"))

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
TEAM_ID = "T0FAKE"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "AFAKE"

#: methods the bot may call that the OpenAPI file does not describe (accepted as they are)
EXTRA_METHODS = {"apps.connections.open"}
#: documented parameters added to Slack after the OpenAPI file was published (message metadata)
NEWER_PARAMS = {"chat.postMessage": {"metadata"}, "conversations.history": {"include_all_metadata"},
                "conversations.replies": {"include_all_metadata"}}
#: parameters slack_sdk may add to any call (a client bound to one workspace of an org sends team_id)
ANY_METHOD_PARAMS = {"team_id"}

#: calls a minute per method and workspace, by tier (https://api.slack.com/apis/rate-limits)
TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
#: the published tier of the methods a bot like Steward calls (auth.test, apps.connections.open and
#: chat.postMessage have limits of their own; chat.postMessage's is per channel, below)
TIERS = {
    "chat.postEphemeral": 4, "chat.update": 3, "chat.delete": 3, "reactions.add": 3,
    "conversations.open": 3, "conversations.info": 3, "conversations.history": 3, "conversations.replies": 3,
    "conversations.kick": 3, "conversations.members": 4, "conversations.list": 2,
    "users.info": 4, "users.list": 2, "users.lookupByEmail": 3,
    "usergroups.list": 2, "usergroups.users.list": 2, "usergroups.users.update": 2,
    "views.open": 4, "views.publish": 4, "team.info": 3,
}
#: chat.postMessage into one channel: about one a second, short bursts allowed
POST_PER_CHANNEL = (1.0, 3)


@dataclass
class Call:
    """One recorded Web API call."""

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params, "status": self.status,
                "response": self.response, "at": self.at}


@dataclass
class Fault:
    """An injected answer for one method: ``times`` calls after the first ``after`` calls."""

    method: str
    error: str = "ratelimited"
    status: int = 200
    retry_after: float | None = None
    times: int | None = 1  # None: forever
    after: int = 0
    #: only calls whose parameters contain these key/values
    match: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    #: carry the call out first (the message is stored), then answer with the fault
    accepted: bool = False
    #: seconds to wait before answering (with ``accepted`` and no ``error``: the real answer, late)
    delay: float | None = None
    #: drop the connection instead of answering (after the request was read)
    reset: bool = False
    #: answer this text (``text/html``) instead of a JSON body, as a proxy in front of Slack does
    raw_body: str | None = None
    #: the raw body's content type (proxies send text/html, text/plain, or even application/json)
    content_type: str = "text/html"

    def applies(self, params: dict[str, Any]) -> bool:
        if any(str(params.get(k)) != str(v) for k, v in self.match.items()):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        return self.times is None or self.times > 0


class Spec:
    """Method descriptions from the Slack Web API OpenAPI (v2) file."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        doc = json.loads(path.read_text(encoding="utf-8"))
        self.methods: dict[str, dict[str, Any]] = {}
        for p, ops in doc["paths"].items():
            for verb, op in ops.items():
                params = {q["name"]: q for q in op.get("parameters", [])}
                self.methods[p.lstrip("/")] = {"verb": verb.upper(), "params": params}

    def problems(self, method: str, params: dict[str, Any], has_token: bool) -> list[str]:
        """What a strict Slack would refuse about this call ([] when it is fine)."""
        desc = self.methods.get(method)
        if desc is None:
            return [] if method in EXTRA_METHODS else [f"unknown method '{method}'"]
        out = []
        for name in params:
            if name not in desc["params"] and name not in NEWER_PARAMS.get(method, ()) and name not in ANY_METHOD_PARAMS:
                out.append(f"unknown parameter '{name}'")
        for name, q in desc["params"].items():
            if q.get("required") and name != "token" and params.get(name) in (None, ""):
                out.append(f"missing required parameter '{name}'")
        if desc["params"].get("token", {}).get("required") and not has_token:
            out.append("missing token")
        return out


def _block_problems(blocks: Any) -> list[str]:
    """A few of Block Kit's limits, the ones a digest could break."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return ["blocks is not JSON"]
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    out = []
    if len(blocks) > 50:
        out.append(f"{len(blocks)} blocks (at most 50)")
    for i, b in enumerate(blocks):
        t = b.get("type")
        if t == "section" and len(b.get("text", {}).get("text", "")) > 3000:
            out.append(f"block {i}: section text over 3000 characters")
        if t == "header" and (b.get("text", {}).get("type") != "plain_text" or len(b["text"].get("text", "")) > 150):
            out.append(f"block {i}: header must be plain_text of at most 150 characters")
        if t == "actions":
            els = b.get("elements", [])
            if len(els) > 25:
                out.append(f"block {i}: over 25 elements")
            ids = [e.get("action_id") for e in els]
            if len(set(ids)) != len(ids):
                out.append(f"block {i}: duplicate action_id")
            for e in els:
                if len(e.get("action_id", "")) > 255 or len(e.get("value", "")) > 2000:
                    out.append(f"block {i}: action_id or value too long")
                if e.get("type") == "button" and len(e.get("text", {}).get("text", "")) > 75:
                    out.append(f"block {i}: button text over 75 characters")
    return out


class FakeSlack:
    """The fake server. State is plain attributes tests may read or set."""

    def __init__(self, *, spec: Spec | None = None, bot_token: str = BOT_TOKEN, app_token: str = APP_TOKEN,
                 auto_users: bool = True, auto_channels: bool = True, limits: bool = True,
                 minute_s: float = 60.0) -> None:
        self.spec = spec or Spec()
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = SIGNING_SECRET
        self.team_id = TEAM_ID
        self.bot_user_id = BOT_USER_ID
        #: unknown ``U...`` IDs answer users.info as ordinary members (load tests); set False to refuse
        self.auto_users = auto_users
        #: unknown ``C...`` IDs are public channels named after their ID; set False to refuse
        self.auto_channels = auto_channels
        #: users.list without a ``limit`` answers ``limit_required`` above this many users, as Slack may
        self.users_list_max = 1000
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        #: messages the app posted, per channel, as conversations.history returns them
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        #: enforce Slack's rate limits; ``minute_s``: how long a tier's minute lasts here
        self.limits = limits
        self.minute_s = minute_s
        #: calls answered 429 because a limit was reached (injected faults are not counted here)
        self.refused: list[Call] = []
        self._tiers: dict[str, SlidingWindow] = {}
        self._channels_posted: dict[str, TokenBucket] = {}
        self.acks: dict[str, dict[str, Any]] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_connected = asyncio.Event()
        self._ack_waiters: dict[str, asyncio.Future] = {}
        self._last_ts = 0.0
        self._env = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.add_user(BOT_USER_ID, "steward", is_bot=True)

    # ------------------------------------------------------------------ setup
    def add_user(self, user_id: str, name: str, *, tz: str = "Europe/Amsterdam", locale: str = "en-US",
                 is_bot: bool = False, deleted: bool = False) -> dict[str, Any]:
        """Add (or replace) a workspace user that users.info will describe."""
        u = {"id": user_id, "team_id": self.team_id, "name": name.lower().replace(" ", "."),
             "real_name": name, "deleted": deleted, "is_bot": is_bot, "tz": tz, "locale": locale,
             "tz_offset": 3600, "is_admin": False, "is_owner": False,
             "profile": {"display_name": name, "real_name": name}}
        self.users[user_id] = u
        return u

    def add_channel(self, channel_id: str, name: str, *, is_archived: bool = False,
                    members: list[str] | None = None) -> dict[str, Any]:
        c = {"id": channel_id, "name": name, "is_channel": True, "is_archived": is_archived,
             "is_member": True, "created": 1700000000, "members": list(members or [])}
        self.channels[channel_id] = c
        return c

    def fail(self, method: str, error: str, *, times: int | None = 1, after: int = 0, status: int = 200,
             retry_after: float | None = None, match: dict[str, Any] | None = None, accepted: bool = False,
             delay: float | None = None, reset: bool = False, raw_body: str | None = None,
             content_type: str = "text/html") -> Fault:
        """Answer ``method`` with ``error`` (``times`` calls; None = always) after ``after`` calls."""
        f = Fault(method, error, status, retry_after, times, after, dict(match or {}), accepted=accepted,
                  delay=delay, reset=reset, raw_body=raw_body, content_type=content_type)
        self.faults.append(f)
        return f

    def accept_then(self, method: str, *, status: int = 500, error: str = "internal_error",
                    delay: float | None = None, reset: bool = False, raw_body: str | None = None,
                    times: int | None = 1, after: int = 0, match: dict[str, Any] | None = None) -> Fault:
        """Carry the call out (a message is stored), then answer badly: ``status``/``error``
        (``status=200``: the real answer), after ``delay`` seconds, or not at all (``reset``)."""
        return self.fail(method, "" if status == 200 else error, times=times, after=after, status=status,
                         match=match, accepted=True, delay=delay, reset=reset, raw_body=raw_body)

    def rate_limit(self, method: str, *, retry_after: float = 1, times: int | None = 1, after: int = 0) -> Fault:
        """Answer 429 with ``Retry-After`` (as Slack does) ``times`` calls after ``after`` calls."""
        return self.fail(method, "ratelimited", times=times, after=after, status=429, retry_after=retry_after)

    def reset(self) -> None:
        self.calls.clear()
        self.refused.clear()
        self.responses.clear()
        self.faults.clear()
        self.acks.clear()

    # ------------------------------------------------------------------ reading what happened
    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def calls_to(self, method: str) -> list[Call]:
        """Successful and failed calls to one method, in order."""
        return [c for c in self.calls if c.method == method]

    def most_in_window(self, method: str, seconds: float, *, channel: str | None = None) -> int:
        """The most calls to ``method`` (refused ones too) within any ``seconds``, optionally into one channel."""
        return most_in_window((c.at for c in self.calls if c.method == method
                               and (channel is None or c.params.get("channel") == channel)), seconds)

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Parameters of every chat.postMessage that succeeded (optionally into one channel)."""
        return [c.params for c in self.calls
                if c.method == "chat.postMessage" and c.response.get("ok")
                and (channel is None or c.params.get("channel") == channel)]

    def seen(self, post: dict[str, Any] | str) -> str:
        """What a person sees of a post in the Slack client: its blocks (its text when it has none),
        mentions and channels as names, links as their label, entities decoded, formatting markers
        gone. A string is read as one mrkdwn text (e.g. a post's ``text``, as a notification shows it)."""
        if isinstance(post, str):
            return self._read(post)
        blocks = post.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not blocks:
            return self._read(post.get("text") or "")
        out = []
        for b in blocks:
            texts = [b.get("text")] if b.get("text") else list(b.get("elements") or [])
            for t in texts:
                if isinstance(t, dict) and t.get("type") in ("mrkdwn", "plain_text") and "text" in t:
                    out.append(self._read(t["text"]) if t["type"] == "mrkdwn" else t["text"])
        return "\n".join(out)

    def _read(self, text: str) -> str:
        def user(m: re.Match) -> str:
            u = self.users.get(m[1])
            return "@" + (u["profile"]["display_name"] if u else m[1])

        def chan(m: re.Match) -> str:
            c = self.channels.get(m[1])
            return "#" + (c["name"] if c else (m[2] or m[1]))

        text = re.sub(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", user, text)
        text = re.sub(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>", chan, text)
        text = re.sub(r"<!(channel|here|everyone)(?:\|[^>]*)?>", r"@\1", text)  # a broadcast, as shown
        text = re.sub(r"<([^<>|]+)\|([^<>]+)>", r"\2", text)
        text = re.sub(r"<([^<>]+)>", r"\1", text)
        text = re.sub(r"(?<![\w*_~])[*_~](?=\S)|(?<=\S)[*_~](?![\w*_~])", "", text)
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        return text.replace("\u200b", "")

    def dm_channel(self, user_id: str) -> str:
        return "D" + user_id

    def group_dm(self, *user_ids: str) -> str:
        """The multi-person DM of these members (with the bot), as conversations.open names it."""
        return "G" + "".join(sorted(u.removeprefix("U") for u in user_ids))

    def stored(self, channel: str) -> list[dict[str, Any]]:
        """Messages the app posted that Slack holds in a channel, whatever the answers to the posts
        said (an accepted post answered with a 500 is here)."""
        return list(self.history.get(channel, []))

    def stored_dms_to(self, user_id: str) -> list[dict[str, Any]]:
        return self.stored(self.dm_channel(user_id))

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        return self.posted(self.dm_channel(user_id))

    def response_url(self, key: str = "") -> str:
        return f"{self.url}/response/{key or next(self._env)}"

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/link", self._socket)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/_fake/calls", self._ctl_calls)
        app.router.add_get("/_fake/responses", self._ctl_responses)
        app.router.add_get("/_fake/stored", self._ctl_stored)
        app.router.add_post("/_fake/fail", self._ctl_fail)
        app.router.add_post("/_fake/rate_limit", self._ctl_rate_limit)
        app.router.add_post("/_fake/users", self._ctl_users)
        app.router.add_post("/_fake/reset", self._ctl_reset)
        app.router.add_post("/_fake/envelope", self._ctl_envelope)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ------------------------------------------------------------------ Web API
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            raw = await request.read()
            if ctype == "application/json":
                params.update(json.loads(raw or b"{}"))
            else:
                params.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
        token = params.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token is None:
            return self._answer(method, params, {"ok": False, "error": "not_authed"})
        if token != expected:
            return self._answer(method, params, {"ok": False, "error": "invalid_auth"})
        problems = self.spec.problems(method, params, has_token=True)
        if problems:
            return self._answer(method, params, {"ok": False, "error": "invalid_arguments",
                                                 "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}})
        for f in self.faults:
            if f.method == method and f.applies(params):
                if f.times is not None:
                    f.times -= 1
                return await self._faulty(request, f, method, params)
        wait = self._limit(method, params)
        if wait > 0:
            resp = self._answer(method, params, {"ok": False, "error": "ratelimited"}, status=429,
                                headers={"Retry-After": str(max(1, int(wait + 0.999)))})
            self.refused.append(self.calls[-1])
            return resp
        return self._answer(method, params, self._perform(method, params))

    def _perform(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        return {"ok": True} if handler is None else handler(params)

    async def _faulty(self, request: web.Request, f: Fault, method: str, params: dict[str, Any]) -> web.Response:
        done = self._perform(method, params) if f.accepted else None
        if f.delay:
            await asyncio.sleep(f.delay)
        if f.reset:
            # the request was read (and, when accepted, carried out); the answer never comes
            self.calls.append(Call(method, params, 0, done or {"ok": False, "error": "connection reset"}))
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if done is not None and f.status == 200 and not f.error:
            return self._answer(method, params, done)  # the real answer, late
        headers = {"Retry-After": str(int(f.retry_after) if float(f.retry_after).is_integer()
                                      else f.retry_after)} if f.retry_after is not None else {}
        if f.raw_body is not None:
            self.calls.append(Call(method, params, f.status, {"ok": False, "error": f.raw_body[:200]}))
            return web.Response(text=f.raw_body, status=f.status, headers=headers, content_type=f.content_type)
        return self._answer(method, params, {"ok": False, "error": f.error}, status=f.status, headers=headers)

    def _limit(self, method: str, params: dict[str, Any]) -> float:
        """0 when the call is within its limit (and counts against it); else seconds to wait."""
        if not self.limits:
            return 0.0
        now = time.monotonic()
        if method == "chat.postMessage":
            key = str(params.get("channel", ""))
            bucket = self._channels_posted.get(key)
            if bucket is None:
                bucket = self._channels_posted[key] = TokenBucket(*POST_PER_CHANNEL)
        elif method in TIERS:
            bucket = self._tiers.get(method)
            if bucket is None:
                bucket = self._tiers[method] = SlidingWindow(TIER_PER_MINUTE[TIERS[method]], self.minute_s)
        else:
            return 0.0
        wait = bucket.wait(now)
        if wait <= 0:
            bucket.take(now)
        return wait

    def _answer(self, method: str, params: dict[str, Any], body: dict[str, Any], status: int = 200,
                headers: dict[str, str] | None = None) -> web.Response:
        self.calls.append(Call(method, params, status, body))
        return web.json_response(body, status=status, headers=headers)

    def _ts_next(self) -> str:
        # wall-clock and strictly increasing, like Slack's message timestamps
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def _user(self, user_id: str) -> dict[str, Any] | None:
        u = self.users.get(user_id)
        if u is None and self.auto_users and user_id.startswith(("U", "W")):
            u = self.add_user(user_id, f"member {user_id}")
        return u

    def _channel(self, channel_id: str) -> dict[str, Any] | None:
        c = self.channels.get(channel_id)
        if c is None and self.auto_channels and channel_id.startswith(("C", "G")):
            c = self.add_channel(channel_id, channel_id.lower())
        return c

    def _m_auth_test(self, p):
        return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "steward",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _m_apps_connections_open(self, p):
        return {"ok": True, "url": self.url.replace("http://", "ws://") + "/link?ticket=fake"}

    def _m_users_info(self, p):
        u = self._user(p.get("user", ""))
        if u is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": u}

    def _m_users_lookupByEmail(self, p):
        # needs users:read.email; ``email_scope = False`` answers as Slack does without it
        if not getattr(self, "email_scope", True):
            return {"ok": False, "error": "missing_scope", "needed": "users:read.email"}
        want = str(p.get("email", "")).strip().lower()
        for u in self.users.values():
            if (u["profile"].get("email") or "").lower() == want and want:
                return {"ok": True, "user": u}
        return {"ok": False, "error": "users_not_found"}

    def _m_users_list(self, p):
        # Slack's cursor pagination: an opaque cursor naming where the next page starts, handed
        # out in response_metadata.next_cursor ("" on the last page); a page may be shorter
        # than the limit. The users are those added (add_user), not the auto_users ones.
        limit = p.get("limit")
        if limit not in (None, ""):
            try:
                limit = int(limit)
            except (TypeError, ValueError):
                return {"ok": False, "error": "invalid_limit"}
            if not 1 <= limit <= 1000:
                return {"ok": False, "error": "invalid_limit"}
        else:
            limit = None
        ids = sorted(self.users)
        start = 0
        cursor = p.get("cursor") or ""
        if cursor:
            try:
                kind, _, after = base64.b64decode(cursor, validate=True).decode().partition(":")
            except ValueError:
                return {"ok": False, "error": "invalid_cursor"}
            if kind != "user" or not after:
                return {"ok": False, "error": "invalid_cursor"}
            start = bisect.bisect_left(ids, after)
        if limit is None and len(ids) > self.users_list_max:
            return {"ok": False, "error": "limit_required"}
        page = ids[start:start + (limit or len(ids))]
        rest = ids[start + len(page):]
        next_cursor = base64.b64encode(f"user:{rest[0]}".encode()).decode() if rest else ""
        return {"ok": True, "members": [self.users[i] for i in page], "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": next_cursor}}

    def _m_conversations_info(self, p):
        c = self._channel(p.get("channel", ""))
        if c is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {k: v for k, v in c.items() if k != "members"}}

    def _m_conversations_open(self, p):
        users = str(p.get("users", "")).split(",")
        if len(users) > 1:  # a multi-person DM (an introduction): the same members, the same conversation
            if len(users) > 8 or len(set(users)) != len(users) or not all(users):
                return {"ok": False, "error": "invalid_arguments"}
            for uid in users:
                u = self._user(uid)
                if u is None:
                    return {"ok": False, "error": "user_not_found"}
                if u["deleted"]:
                    return {"ok": False, "error": "user_disabled"}
            return {"ok": True, "channel": {"id": self.group_dm(*users)}}
        if len(users) != 1 or not users[0]:
            return {"ok": False, "error": "invalid_arguments"}
        u = self._user(users[0])
        if u is None:
            return {"ok": False, "error": "user_not_found"}
        if u["is_bot"]:
            return {"ok": False, "error": "cannot_dm_bot"}
        if u["deleted"]:
            return {"ok": False, "error": "user_disabled"}
        return {"ok": True, "channel": {"id": self.dm_channel(u["id"])}}

    def _channel_error(self, cid: str) -> str | None:
        if cid.startswith("D"):
            return None if cid[1:] in self.users else "channel_not_found"
        if cid.startswith("G"):
            return None
        c = self._channel(cid)
        if c is None:
            return "channel_not_found"
        if c["is_archived"]:
            return "is_archived"
        return None

    def _m_chat_postMessage(self, p):
        err = self._channel_error(str(p.get("channel", "")))
        if err:
            return {"ok": False, "error": err}
        if not p.get("text") and not p.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if p.get("blocks"):
            bad = _block_problems(p["blocks"])
            if bad:
                return {"ok": False, "error": "invalid_blocks", "errors": bad}
        ts = self._ts_next()
        msg = {"type": "message", "text": p.get("text", ""), "user": self.bot_user_id, "bot_id": BOT_ID, "ts": ts}
        if p.get("thread_ts"):
            msg["thread_ts"] = p["thread_ts"]
        meta = p.get("metadata")
        if meta:
            msg["metadata"] = json.loads(meta) if isinstance(meta, str) else meta
        self.history.setdefault(str(p["channel"]), []).append(msg)
        return {"ok": True, "channel": p["channel"], "ts": ts, "message": msg}

    def _m_conversations_history(self, p):
        msgs = list(reversed(self.history.get(str(p.get("channel", "")), [])))
        oldest = float(p.get("oldest") or 0)
        msgs = [m for m in msgs if float(m["ts"]) >= oldest][: int(p.get("limit") or 100)]
        if str(p.get("include_all_metadata", "")).lower() not in ("1", "true"):
            msgs = [{k: v for k, v in m.items() if k != "metadata"} for m in msgs]
        return {"ok": True, "messages": msgs, "has_more": False}

    def _m_chat_postEphemeral(self, p):
        err = self._channel_error(str(p.get("channel", "")))
        if err:
            return {"ok": False, "error": err}
        if self._user(str(p.get("user", ""))) is None:
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._ts_next()}

    def _m_chat_delete(self, p):
        return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts")}

    def _m_chat_update(self, p):
        return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts"), "text": p.get("text", "")}

    def _m_reactions_add(self, p):
        return {"ok": True}

    def _m_conversations_kick(self, p):
        c = self._channel(str(p.get("channel", "")))
        if c is None:
            return {"ok": False, "error": "channel_not_found"}
        if p.get("user") not in c["members"]:
            return {"ok": False, "error": "not_in_channel"}
        c["members"].remove(p["user"])
        return {"ok": True}

    def _m_usergroups_users_list(self, p):
        g = p.get("usergroup", "")
        if g not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[g])}

    def _m_usergroups_users_update(self, p):
        g = p.get("usergroup", "")
        users = p.get("users", "")
        self.usergroups[g] = [u for u in (users.split(",") if isinstance(users, str) else users) if u]
        return {"ok": True, "usergroup": {"id": g, "users": list(self.usergroups[g])}}

    # ------------------------------------------------------------------ response_url
    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses.append({"key": request.match_info["key"], **body})
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------ Socket Mode
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self.sockets),
                            "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                            "connection_info": {"app_id": APP_ID}})
        self.socket_connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                eid = data.get("envelope_id")
                if eid:
                    self.acks[eid] = data
                    fut = self._ack_waiters.pop(eid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(data)
        finally:
            self.sockets.remove(ws)
            if not self.sockets:
                self.socket_connected.clear()
        return ws

    async def send_envelope(self, type_: str, payload: dict[str, Any], *, timeout: float = 5.0,
                            envelope_id: str | None = None) -> dict[str, Any]:
        """Send one Socket Mode envelope and return the app's ack (TimeoutError if none comes)."""
        await asyncio.wait_for(self.socket_connected.wait(), timeout)
        eid = envelope_id or f"env-{next(self._env)}"
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._ack_waiters[eid] = fut
        env = {"envelope_id": eid, "type": type_, "payload": payload,
               "accepts_response_payload": type_ != "events_api", "retry_attempt": 0, "retry_reason": ""}
        await self.sockets[-1].send_json(env)
        return await asyncio.wait_for(fut, timeout)

    # ------------------------------------------------------------------ control API (other processes)
    async def _ctl_calls(self, request: web.Request) -> web.Response:
        m = request.query.get("method")
        return web.json_response([c.as_json() for c in self.calls if m is None or c.method == m])

    async def _ctl_stored(self, request: web.Request) -> web.Response:
        return web.json_response({ch: len(msgs) for ch, msgs in self.history.items()})

    async def _ctl_responses(self, request: web.Request) -> web.Response:
        return web.json_response(self.responses)

    async def _ctl_fail(self, request: web.Request) -> web.Response:
        b = await request.json()
        self.fail(b["method"], b.get("error", "internal_error"), times=b.get("times", 1), after=b.get("after", 0),
                  status=b.get("status", 200), retry_after=b.get("retry_after"), match=b.get("match"),
                  accepted=b.get("accepted", False), delay=b.get("delay"), reset=b.get("reset", False),
                  raw_body=b.get("raw_body"), content_type=b.get("content_type", "text/html"))
        return web.json_response({"ok": True})

    async def _ctl_rate_limit(self, request: web.Request) -> web.Response:
        b = await request.json()
        self.rate_limit(b["method"], retry_after=b.get("retry_after", 1), times=b.get("times", 1),
                        after=b.get("after", 0))
        return web.json_response({"ok": True})

    async def _ctl_users(self, request: web.Request) -> web.Response:
        b = await request.json()
        for u in b if isinstance(b, list) else [b]:
            self.add_user(u["id"], u.get("name", u["id"]), tz=u.get("tz", "Europe/Amsterdam"),
                          locale=u.get("locale", "en-US"), is_bot=u.get("is_bot", False),
                          deleted=u.get("deleted", False))
        return web.json_response({"ok": True})

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _ctl_envelope(self, request: web.Request) -> web.Response:
        b = await request.json()
        ack = await self.send_envelope(b["type"], b["payload"])
        return web.json_response(ack)


async def _serve(host: str, port: int, auto: bool, limits: bool = True, minute_s: float = 60.0) -> None:
    fake = FakeSlack(auto_users=auto, auto_channels=auto, limits=limits, minute_s=minute_s)
    await fake.start(host, port)
    print(f"FAKE_SLACK_URL={fake.api_url}", flush=True)
    print(f"SLACK_BOT_TOKEN={fake.bot_token}", flush=True)
    print(f"SLACK_APP_TOKEN={fake.app_token}", flush=True)
    print(f"SLACK_SIGNING_SECRET={fake.signing_secret}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="A fake Slack Web API + Socket Mode server for tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    ap.add_argument("--strict", action="store_true",
                    help="unknown user and channel IDs answer user_not_found / channel_not_found")
    ap.add_argument("--no-limits", action="store_true", help="do not enforce Slack's rate limits")
    ap.add_argument("--minute", type=float, default=60.0,
                    help="seconds a rate-limit tier's minute lasts (shorter for tests that make many calls)")
    a = ap.parse_args(argv)
    try:
        asyncio.run(_serve(a.host, a.port, not a.strict, not a.no_limits, a.minute))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
