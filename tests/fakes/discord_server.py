"""A fake Discord of the project's own: REST and gateway websocket on 127.0.0.1, port 0.

The real discord.py client connects to it (``Route.BASE`` and the gateway URL pointed here). Every
JSON body the bot sends is validated against ``shared/specs/discord-openapi.json``; a body the real
API would refuse is recorded in ``violations`` and answered with Discord's 50035 error, so the
bot cannot drift from what Discord accepts. Faults (429 with ``retry_after``, 50007, and after the
message was created: a 5xx, a late answer, a dropped connection; see ``accept_then``) can be
injected, every call is recorded, and the gateway speaks HELLO,
IDENTIFY, READY, GUILD_CREATE, dispatches, heartbeats and RESUME/RESUMED.

Rate limits are enforced as Discord enforces them (``limits=False`` switches them off): at most 50
requests in any second over all routes (interaction callbacks and webhooks aside), answered with a
global 429 (``"global": true``, ``X-RateLimit-Global``); and five messages per five seconds per
channel, a window that opens with its first message, described on every answer by
``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket`` and refused past its fifth with a 429 and
``retry_after``. Every refusal is kept in ``refused``, so a test can assert there was none.

Usage (see ``tests/discord/conftest.py``)::

    fake = FakeDiscord()
    await fake.start()
    ... point the bot at fake.api_base / fake.gateway_url, start it, await fake.wait_ready() ...
    await fake.member_join("2001", "Rosa")
    msg = await fake.wait_message(channel_id=WELCOME)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.ratelimit import FixedWindow, SlidingWindow, most_in_window
from tests.shared_paths import spec

SPEC_PATH = spec("discord-openapi.json")

API_PREFIX = "/api/v10"

# intents bits (https://discord.com/developers/docs/topics/gateway#gateway-intents)
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# application flags that say a privileged intent is switched on in the developer portal
APP_FLAG_GUILD_MEMBERS_LIMITED = 1 << 15
APP_FLAG_MESSAGE_CONTENT_LIMITED = 1 << 19

PERM_MANAGE_GUILD = 1 << 5
#: what an ordinary member may do in a channel (view, send, read history, add reactions, use app commands)
PERM_MEMBER = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 6) | (1 << 31) | (1 << 38)

# well-known IDs of the standard test guild
GUILD_ID = "300000000000000001"
APP_ID = "900000000000000001"
BOT_ID = APP_ID
OWNER_ID = "800000000000000001"

#: Discord's global limit: requests a second per bot, all routes together
GLOBAL_PER_S = 50
#: messages per channel: five per five seconds
MESSAGES_PER_CHANNEL = (5, 5.0)
_MESSAGES = re.compile(r"/channels/(\d+)/messages")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name.lower().replace(" ", "_")[:32] or "user", "global_name": name,
            "discriminator": "0", "avatar": None, "bot": bot, "public_flags": 0}


# ---------------------------------------------------------------------------------------- validation
class SpecValidator:
    """Finds the OpenAPI operation for a request and validates its JSON body (draft 2020-12)."""

    def __init__(self, spec_path: Path = SPEC_PATH) -> None:
        import jsonschema

        self.spec = json.loads(spec_path.read_text(encoding="utf-8"))
        schemas = self.spec["components"]["schemas"]
        # The API reads snowflakes in request bodies as strings or integers (discord.py sends integers,
        # e.g. allowed_mentions.users); the spec only writes the string form, which is what it returns.
        schemas["SnowflakeType"] = {"anyOf": [schemas["SnowflakeType"],
                                              {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}]}
        self._routes: list[tuple[re.Pattern, str]] = []
        for path in self.spec["paths"]:
            rx = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$"
            # a literal segment (@me, @original) must win over a parameter
            self._routes.append((re.compile(rx), path))
        self._routes.sort(key=lambda r: r[1].count("{"))
        self._validators: dict[tuple[str, str], Any] = {}
        self._jsonschema = jsonschema

    def operation(self, method: str, path: str) -> tuple[str, dict] | None:
        for rx, tmpl in self._routes:
            if rx.match(path):
                op = self.spec["paths"][tmpl].get(method.lower())
                if op is not None:
                    return tmpl, op
        return None

    def validate_query(self, method: str, path: str, query: Any) -> list[str]:
        """Problems with a request's query string: parameters the operation does not take, or values
        its parameter schemas refuse (integers are read from their text, as the API does)."""
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path}: not an operation of the Discord API"]
        tmpl, op = found
        params = {p["name"]: p.get("schema") or {} for p in op.get("parameters") or [] if p.get("in") == "query"}
        out = []
        for name, raw in query.items():
            schema = params.get(name)
            if schema is None:
                out.append(f"{method} {tmpl}: query parameter {name!r} is not taken")
                continue
            value: Any = raw
            if schema.get("type") == "integer":
                try:
                    value = int(raw)
                except ValueError:
                    out.append(f"{method} {tmpl}: {name}={raw!r} is not an integer")
                    continue
            for e in self._jsonschema.Draft202012Validator(schema).iter_errors(value):
                out.append(f"{method} {tmpl}: {name}: {e.message[:200]}")
        return out

    def validate(self, method: str, path: str, body: Any) -> list[str]:
        """Problems with this request (unknown route, or a body the API's schema refuses)."""
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path}: not an operation of the Discord API"]
        tmpl, op = found
        content = (op.get("requestBody") or {}).get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        if schema is None:
            if body not in (None, {}, b"", ""):
                return [f"{method} {tmpl}: sends a body where the API takes none"]
            return []
        key = (method, tmpl)
        v = self._validators.get(key)
        if v is None:
            root = {**schema, "components": self.spec["components"]}
            v = self._jsonschema.Draft202012Validator(root)
            self._validators[key] = v
        errs = sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))
        return [f"{method} {tmpl}: {'/'.join(str(x) for x in e.absolute_path) or '<body>'}: {e.message[:300]}"
                for e in errs]


# ---------------------------------------------------------------------------------------- records
@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int = 0
    query: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """An injected failure for requests matching ``method`` and ``path`` (a regex on the API path)."""

    method: str
    path: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    #: perform the request first, then answer with the fault; status 0 drops the connection instead
    after: bool = False
    #: with ``after``: wait this long before answering (status 200: the real answer, late)
    delay: float | None = None


@dataclass
class Session:
    session_id: str
    shard: tuple[int, int]
    intents: int
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    identified: int = 1
    resumed: int = 0


@dataclass
class _MemberRun:
    """``count`` members with consecutive user IDs; payloads are made when they are listed."""

    first: int
    count: int
    joined_at: str
    name: str
    #: IDs that left, or became ordinary members (``member_payload``)
    gone: set[int] = field(default_factory=set)

    def payload(self, uid: int) -> dict[str, Any]:
        n = uid - self.first + 1
        return {"user": user_payload(str(uid), f"{self.name} {n}"), "nick": None, "avatar": None, "banner": None,
                "roles": [], "joined_at": self.joined_at, "premium_since": None, "deaf": False, "mute": False,
                "flags": 0, "pending": False, "communication_disabled_until": None}


@dataclass
class FakeInteraction:
    """One interaction sent to the bot and everything the bot answered to it."""

    id: str
    token: str
    payload: dict[str, Any]
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """What the person sees: the edited original response and followups, in order."""
        return self.edits + self.followups

    def text(self) -> str:
        """All visible text of the answer: content, embed titles, descriptions and fields."""
        parts = []
        for cb in self.callbacks:
            d = cb.get("data") or {}
            if cb.get("type") == 4:
                parts.append(_visible_text(d))
        for m in self.messages:
            parts.append(_visible_text(m))
        return "\n".join(p for p in parts if p)

    @property
    def ephemeral(self) -> bool:
        for cb in self.callbacks:
            if (cb.get("data") or {}).get("flags", 0) & 64:
                return True
        return False


def _visible_text(m: dict[str, Any]) -> str:
    out = [m.get("content") or ""]
    for e in m.get("embeds") or []:
        out += [e.get("title") or "", e.get("description") or ""]
        out += [f"{f.get('name', '')}\n{f.get('value', '')}" for f in e.get("fields") or []]
        out.append((e.get("footer") or {}).get("text") or "")
    return "\n".join(x for x in out if x)


def may_ping(m: dict[str, Any]) -> set[str]:
    """Who a message the bot sent is allowed to notify: user IDs, plus "everyone" / "roles" when parsed.
    Without ``allowed_mentions`` Discord would ping everyone the content names."""
    am = m.get("allowed_mentions")
    if am is None:
        return {"<anyone named in the content>"}
    out = {str(u) for u in am.get("users") or []}
    out |= {p for p in am.get("parse") or [] if p in ("everyone", "roles")}
    if "users" in (am.get("parse") or []):
        out.add("<any user named in the content>")
    return out


def custom_ids(m: dict[str, Any]) -> list[str]:
    """Every button custom_id in a message, row by row."""
    return [c.get("custom_id") for row in m.get("components") or [] for c in row.get("components") or []]


# ---------------------------------------------------------------------------------------- the server
class FakeDiscord:
    """The fake server. State is plain dicts in the wire format, so tests read what Discord would hold."""

    def __init__(self, *, spec_path: Path = SPEC_PATH, portal_intents: int = PRIVILEGED,
                 heartbeat_interval_ms: int = 41250, limits: bool = True) -> None:
        self.validator = SpecValidator(spec_path)
        #: privileged intents switched on in the "developer portal"; IDENTIFY asking for more gets 4014
        self.portal_intents = portal_intents
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.token = "fake-bot-token"
        self.bot_user = user_payload(BOT_ID, "Steward", bot=True)
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        #: enforce Discord's rate limits (global, per channel); every refusal is kept in ``refused``
        self.limits = limits
        self.refused: list[Call] = []
        self._global = SlidingWindow(GLOBAL_PER_S, 1.0)
        self._channel_windows: dict[str, FixedWindow] = {}
        self.users: dict[str, dict[str, Any]] = {OWNER_ID: user_payload(OWNER_ID, "Owner")}
        self.guilds: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.reactions: list[tuple[str, str, str]] = []  # (channel, message, emoji) added by the bot
        self.dm_channels: dict[str, str] = {}  # user id → DM channel id
        self.thread_members: dict[str, list[str]] = {}  # private thread id → members added
        self.refuse_dms: set[str] = set()
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.interactions: dict[str, FakeInteraction] = {}
        self.sessions: dict[str, Session] = {}
        self.closes: list[int] = []  # close codes the fake sent
        self.identifies: list[dict[str, Any]] = []
        #: application flags to report instead of those matching ``portal_intents`` (to test a mismatch)
        self.app_flags: int | None = None
        #: on RESUME, also replay this many events the client had already acknowledged (at-least-once)
        self.resume_overlap = 0
        #: how long a nonce sent with ``enforce_nonce`` returns the message it made (Discord: "the
        #: past few minutes"); None: forever
        self.nonce_window_s: float | None = 300.0
        self._nonces: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        #: large member lists held cheaply: per guild, runs of consecutive user IDs (see ``add_members``)
        self._bulk: dict[str, list[_MemberRun]] = {}
        #: the member-list route's bucket, per guild: (requests, per seconds), announced in
        #: X-RateLimit-* headers as Discord does; a request beyond it gets a 429
        self.member_list_limit: tuple[int, float] = (10, 10.0)
        self._member_list_bucket: dict[str, tuple[float, int]] = {}  # guild → (window start, used)
        #: member-list pages answered, and a gate that holds requests after ``_member_list_hold`` pages
        self.member_list_pages = 0
        self._member_list_hold: int | None = None
        self._member_list_gate = asyncio.Event()
        #: Request Guild Members for all members: once per guild per session every 30 s (Discord, 2025)
        self.chunk_all_interval = 30.0
        self._chunk_all_at: dict[tuple[str, str], float] = {}
        self._ids = itertools.count(int(time.time() * 1000 - 1420070400000) << 22)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.add_guild(GUILD_ID, "Test Garden")

    # ------------------------------------------------------------------ lifecycle
    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for s in self.sessions.values():
            if s.ws is not None and not s.ws.closed:
                await s.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    def snowflake(self) -> str:
        return str(next(self._ids))

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every change, and every 20 ms); returns it."""
        async def _wait():
            async with self._changed:
                while True:
                    v = predicate()
                    if v:
                        return v
                    try:  # woken by the fake's own changes; polled for anything else (the bot's state)
                        await asyncio.wait_for(self._changed.wait(), 0.02)
                    except TimeoutError:
                        pass
        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            import os
            if os.environ.get("FAKE_DISCORD_STACKS"):
                for t in asyncio.all_tasks():
                    t.print_stack(limit=8)
            raise AssertionError(f"fake Discord: timed out waiting for {what}; calls: "
                                 + ", ".join(f"{c.method} {c.path} {c.status}" for c in self.calls[-15:])) from None

    # ------------------------------------------------------------------ world building
    def add_guild(self, guild_id: str, name: str) -> dict[str, Any]:
        everyone = {"id": guild_id, "name": "@everyone", "permissions": str(PERM_MEMBER), "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        g = {"id": guild_id, "name": name, "icon": None, "owner_id": OWNER_ID, "roles": [everyone],
             "emojis": [], "stickers": [], "features": [], "channels": [], "threads": [], "members": [],
             "member_count": 0, "large": False, "unavailable": False, "joined_at": _now_iso(),
             "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
             "mfa_level": 0, "premium_tier": 0, "preferred_locale": "en-US", "nsfw_level": 0,
             "system_channel_id": None, "afk_channel_id": None, "afk_timeout": 300, "voice_states": [],
             "presences": [], "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": []}
        self.guilds[guild_id] = g
        self.add_member(guild_id, OWNER_ID, "Owner", announce=False)
        self.add_member(guild_id, BOT_ID, "Steward", bot=True, announce=False)
        return g

    def add_role(self, guild_id: str, role_id: str, name: str, permissions: int = 0) -> None:
        self.guilds[guild_id]["roles"].append({"id": role_id, "name": name, "permissions": str(permissions),
                                               "position": 1, "color": 0, "hoist": False, "managed": False,
                                               "mentionable": False, "flags": 0})

    def add_channel(self, channel_id: str, name: str, *, guild_id: str = GUILD_ID, type: int = 0,
                    parent_id: str | None = None, owner_id: str | None = None) -> dict[str, Any]:
        """A text channel (0), forum (15) or public thread (11, with ``parent_id``)."""
        ch: dict[str, Any] = {"id": channel_id, "type": type, "name": name, "guild_id": guild_id, "position": 0,
                              "permission_overwrites": [], "nsfw": False, "parent_id": parent_id,
                              "last_message_id": None, "rate_limit_per_user": 0, "topic": None, "flags": 0}
        if type in (10, 11, 12):
            ch.update(owner_id=owner_id or OWNER_ID, message_count=0, member_count=1,
                      thread_metadata={"archived": False, "auto_archive_duration": 1440, "locked": False,
                                       "archive_timestamp": _now_iso(), "create_timestamp": _now_iso()})
            self.guilds[guild_id]["threads"].append(ch)
        else:
            if type == 15:
                ch["available_tags"] = []
                ch["default_reaction_emoji"] = None
            self.guilds[guild_id]["channels"].append(ch)
        self.channels[channel_id] = ch
        self.messages.setdefault(channel_id, [])
        return ch

    def member_payload(self, guild_id: str, user_id: str, *, roles: list[str] | None = None) -> dict[str, Any]:
        for m in self.guilds[guild_id]["members"]:
            if m["user"]["id"] == user_id:
                if roles is not None:
                    m["roles"] = roles
                return m
        run = self._run_of(guild_id, user_id)
        if run is None:
            raise KeyError(user_id)
        # a member of a bulk run that a test touches becomes an ordinary member (it can then change)
        m = run.payload(int(user_id))
        self.users[user_id] = m["user"]
        run.gone.add(int(user_id))
        self.guilds[guild_id]["members"].append(m)
        if roles is not None:
            m["roles"] = roles
        return m

    def add_members(self, guild_id: str, count: int, *, first_id: int = 500_000_000_000_000_000,
                    joined_at: datetime | None = None, name: str = "Member") -> range:
        """``count`` members with consecutive user IDs from ``first_id``, named "Member 1", "Member 2",
        ..., who joined at ``joined_at`` (a year ago by default). Held as one run, not ``count``
        payloads, so a guild of 100,000 members costs nothing until it is listed."""
        when = (joined_at or datetime.fromtimestamp(time.time() - 365 * 86400, UTC)).isoformat()
        run = _MemberRun(first_id, count, when, name)
        self._bulk.setdefault(guild_id, []).append(run)
        g = self.guilds[guild_id]
        g["member_count"] = len(g["members"]) + sum(r.count - len(r.gone) for r in self._bulk[guild_id])
        return range(first_id, first_id + count)

    def _run_of(self, guild_id: str, user_id: str) -> _MemberRun | None:
        if not str(user_id).isdigit():
            return None
        uid = int(user_id)
        for run in self._bulk.get(guild_id, ()):
            if run.first <= uid < run.first + run.count and uid not in run.gone:
                return run
        return None

    def member_ids(self, guild_id: str) -> list[str]:
        """Every member's user ID, in ID order (what the member list pages through)."""
        return [str(uid) for uid in self._ids_after(guild_id, 0, None)]

    def _ids_after(self, guild_id: str, after: int, limit: int | None) -> list[int]:
        """User IDs above ``after`` in ascending order, at most ``limit``."""
        explicit = sorted(int(m["user"]["id"]) for m in self.guilds[guild_id]["members"])
        explicit = [u for u in explicit if u > after]
        out = explicit[:limit] if limit is not None else explicit
        for run in self._bulk.get(guild_id, ()):
            start = max(run.first, after + 1)
            stop = run.first + run.count
            if limit is not None:
                stop = min(stop, start + limit + len(run.gone))
            out.extend(u for u in range(start, stop) if u not in run.gone)
            out.sort()
            if limit is not None:
                del out[limit:]
        return out

    def _members_by_id(self, guild_id: str, ids: list[int]) -> list[dict[str, Any]]:
        explicit = {m["user"]["id"]: m for m in self.guilds[guild_id]["members"]}
        out = []
        for uid in ids:
            m = explicit.get(str(uid))
            if m is None:
                run = self._run_of(guild_id, str(uid))
                m = run.payload(uid) if run is not None else None
            if m is not None:
                out.append(m)
        return out

    def add_member(self, guild_id: str, user_id: str, name: str, *, bot: bool = False,
                   roles: list[str] | None = None, announce: bool = True) -> dict[str, Any]:
        user = user_payload(user_id, name, bot=bot)
        self.users[user_id] = user
        m = {"user": user, "nick": None, "avatar": None, "roles": list(roles or []), "joined_at": _now_iso(),
             "premium_since": None, "deaf": False, "mute": False, "flags": 0, "pending": False,
             "communication_disabled_until": None}
        g = self.guilds[guild_id]
        g["members"] = [x for x in g["members"] if x["user"]["id"] != user_id] + [m]
        g["member_count"] = len(g["members"]) + sum(r.count - len(r.gone) for r in self._bulk.get(guild_id, ()))
        return m

    # ------------------------------------------------------------------ gateway: events in
    def _shard_of(self, guild_id: str, count: int) -> int:
        return (int(guild_id) >> 22) % count

    async def dispatch(self, t: str, d: dict[str, Any], *, guild_id: str | None = GUILD_ID) -> int:
        """Send a dispatch to every session that owns the guild; returns how many got it (0 = none live).
        A session that is disconnected keeps the event for its RESUME."""
        n = 0
        for s in list(self.sessions.values()):
            if guild_id is not None and self._shard_of(guild_id, s.shard[1]) != s.shard[0]:
                continue
            if guild_id is None and s.shard[0] != 0:
                continue
            shaped = _for_intents(t, d, s.intents)
            if shaped is None:
                continue
            s.seq += 1
            frame = {"op": 0, "t": t, "s": s.seq, "d": shaped}
            s.log.append(frame)
            if s.ws is not None and not s.ws.closed:
                await s.ws.send_str(json.dumps(frame))
                n += 1
        return n

    async def member_join(self, user_id: str, name: str, *, bot: bool = False, guild_id: str = GUILD_ID) -> None:
        m = self.add_member(guild_id, user_id, name, bot=bot)
        await self.dispatch("GUILD_MEMBER_ADD", {**m, "guild_id": guild_id}, guild_id=guild_id)

    async def member_leave(self, user_id: str, *, guild_id: str = GUILD_ID) -> None:
        g = self.guilds[guild_id]
        run = self._run_of(guild_id, user_id)
        if run is not None:
            self.users.setdefault(user_id, run.payload(int(user_id))["user"])
            run.gone.add(int(user_id))
        user = self.users[user_id]
        g["members"] = [x for x in g["members"] if x["user"]["id"] != user_id]
        await self.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": guild_id, "user": user}, guild_id=guild_id)

    def _message(self, channel_id: str, author: dict[str, Any], content: str, **extra: Any) -> dict[str, Any]:
        mentions = [self.users[u] for u in re.findall(r"<@!?(\d+)>", content) if u in self.users]
        return {"id": extra.pop("id", None) or self.snowflake(), "channel_id": channel_id, "author": author,
                "content": content, "timestamp": _now_iso(), "edited_timestamp": None, "tts": False,
                "mention_everyone": False, "mentions": mentions, "mention_roles": [], "attachments": [],
                "embeds": [], "pinned": False, "type": 0, "components": [], "flags": 0, **extra}

    async def post_message(self, channel_id: str, author_id: str, content: str, *,
                           reply_to: str | None = None, message_id: str | None = None,
                           guild_id: str = GUILD_ID) -> dict[str, Any]:
        """A member posts in a channel or thread: stored, then MESSAGE_CREATE."""
        author = self.users[author_id]
        extra: dict[str, Any] = {"id": message_id}
        if reply_to:
            extra.update(type=19, message_reference={"type": 0, "message_id": reply_to, "channel_id": channel_id,
                                                     "guild_id": guild_id})
        msg = self._message(channel_id, author, content, **extra)
        self.messages.setdefault(channel_id, []).append(msg)
        ch = self.channels.get(channel_id)
        if ch is not None and ch["type"] == 11:
            ch["message_count"] = ch.get("message_count", 0) + 1
        member = {k: v for k, v in self.member_payload(guild_id, author_id).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", {**msg, "guild_id": guild_id, "member": member}, guild_id=guild_id)
        return msg

    async def write_dm(self, user_id: str, content: str) -> dict[str, Any]:
        """A member writes to the bot in their DM channel (opened by the bot before): MESSAGE_CREATE
        without a guild, as Discord sends it (with its text, whatever the intents)."""
        cid = self.dm_channels[user_id]
        msg = self._message(cid, self.users[user_id], content)
        self.messages.setdefault(cid, []).append(msg)
        await self.dispatch("MESSAGE_CREATE", msg, guild_id=None)
        return msg

    async def create_forum_post(self, forum_id: str, author_id: str, title: str, content: str,
                                *, guild_id: str = GUILD_ID) -> dict[str, Any]:
        """A forum post: THREAD_CREATE for the post, then its opening message (same ID as the thread)."""
        thread_id = self.snowflake()
        th = self.add_channel(thread_id, title, guild_id=guild_id, type=11, parent_id=forum_id, owner_id=author_id)
        await self.dispatch("THREAD_CREATE", {**th, "newly_created": True}, guild_id=guild_id)
        return await self.post_message(thread_id, author_id, content, message_id=thread_id, guild_id=guild_id)

    async def start_thread(self, channel_id: str, message_id: str, name: str, *, guild_id: str = GUILD_ID) -> str:
        """A member opens a thread on a message: the thread gets the message's ID, as on Discord."""
        th = self.add_channel(message_id, name, guild_id=guild_id, type=11, parent_id=channel_id)
        await self.dispatch("THREAD_CREATE", {**th, "newly_created": True}, guild_id=guild_id)
        return message_id

    async def edit_message(self, channel_id: str, message_id: str, content: str, *, guild_id: str = GUILD_ID) -> None:
        msg = next(m for m in self.messages[channel_id] if m["id"] == message_id)
        msg.update(content=content, edited_timestamp=_now_iso())
        await self.dispatch("MESSAGE_UPDATE", {**msg, "guild_id": guild_id}, guild_id=guild_id)

    async def delete_message_event(self, channel_id: str, message_id: str, *, guild_id: str = GUILD_ID) -> None:
        await self.dispatch("MESSAGE_DELETE", {"id": message_id, "channel_id": channel_id, "guild_id": guild_id},
                            guild_id=guild_id)

    async def react(self, channel_id: str, message_id: str, user_id: str, emoji: str, *,
                    remove: bool = False, guild_id: str = GUILD_ID) -> None:
        msg = next((m for m in self.messages.get(channel_id, []) if m["id"] == message_id), None)
        d: dict[str, Any] = {"user_id": user_id, "channel_id": channel_id, "message_id": message_id,
                             "guild_id": guild_id, "emoji": {"id": None, "name": emoji}, "burst": False, "type": 0}
        if not remove:
            d["member"] = self.member_payload(guild_id, user_id)
            if msg is not None:
                d["message_author_id"] = msg["author"]["id"]
        await self.dispatch("MESSAGE_REACTION_REMOVE" if remove else "MESSAGE_REACTION_ADD", d, guild_id=guild_id)

    # ------------------------------------------------------------------ interactions
    def _interaction_base(self, type_: int, user_id: str, *, channel_id: str, guild_id: str,
                          permissions: int, roles: list[str] | None) -> tuple[FakeInteraction, dict[str, Any]]:
        iid = self.snowflake()
        token = f"tok-{iid}"
        member = dict(self.member_payload(guild_id, user_id, roles=roles))
        member["permissions"] = str(permissions)
        ch = self.channels[channel_id]
        payload = {"id": iid, "application_id": APP_ID, "type": type_, "token": token, "version": 1,
                   "guild_id": guild_id, "channel_id": channel_id, "channel": ch, "member": member,
                   "app_permissions": str(PERM_MEMBER), "locale": "en-US", "guild_locale": "en-US",
                   "entitlements": [], "authorizing_integration_owners": {"0": guild_id}, "context": 0,
                   "attachment_size_limit": 10485760}
        fi = FakeInteraction(iid, token, payload)
        self.interactions[token] = fi
        return fi, payload

    async def invoke(self, path: list[str], options: dict[str, Any] | None = None, *, user_id: str,
                     channel_id: str, guild_id: str = GUILD_ID, permissions: int = PERM_MEMBER,
                     roles: list[str] | None = None, resolved: dict[str, Any] | None = None) -> FakeInteraction:
        """A member runs an application command: ``path`` like ``["steward", "playbooks", "enable"]``."""
        cmds = self.commands.get(guild_id, []) + self.global_commands
        root = next((c for c in cmds if c["name"] == path[0] and c.get("type", 1) == 1), None)
        if root is None:
            raise AssertionError(f"/{path[0]} is not registered in guild {guild_id}")
        opts = [_option(k, v) for k, v in (options or {}).items()]
        node: list[dict[str, Any]] = opts
        defs = root.get("options") or []
        for depth, name in reversed(list(enumerate(path[1:], start=1))):
            node = [{"type": 2 if depth == 1 and len(path) == 3 else 1, "name": name, "options": node}]
        _check_against_definition(path, options or {}, defs)
        data: dict[str, Any] = {"id": root["id"], "name": path[0], "type": 1, "guild_id": guild_id}
        if len(path) > 1:
            data["options"] = node
        if resolved:
            data["resolved"] = resolved
        fi, payload = self._interaction_base(2, user_id, channel_id=channel_id, guild_id=guild_id,
                                             permissions=permissions, roles=roles)
        payload["data"] = data
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        return fi

    async def redeliver(self, fi: FakeInteraction, *, guild_id: str = GUILD_ID) -> None:
        """The same INTERACTION_CREATE once more (a gateway replays what it is unsure arrived)."""
        await self.dispatch("INTERACTION_CREATE", fi.payload, guild_id=guild_id)

    def resolved_user(self, user_id: str, guild_id: str = GUILD_ID) -> dict[str, Any]:
        m = {k: v for k, v in self.member_payload(guild_id, user_id).items() if k != "user"}
        return {"users": {user_id: self.users[user_id]}, "members": {user_id: {**m, "permissions": "0"}}}

    async def message_menu(self, name: str, message: dict[str, Any], *, user_id: str, guild_id: str = GUILD_ID,
                           permissions: int = PERM_MEMBER) -> FakeInteraction:
        """A member uses a message context menu command (Apps → ``name``) on ``message``."""
        cmds = self.commands.get(guild_id, []) + self.global_commands
        cmd = next((c for c in cmds if c["name"] == name and c.get("type") == 3), None)
        if cmd is None:
            raise AssertionError(f"message command {name!r} is not registered")
        fi, payload = self._interaction_base(2, user_id, channel_id=message["channel_id"], guild_id=guild_id,
                                             permissions=permissions, roles=None)
        payload["data"] = {"id": cmd["id"], "name": name, "type": 3, "target_id": message["id"],
                           "guild_id": guild_id, "resolved": {"messages": {message["id"]: message}}}
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        return fi

    async def click(self, message: dict[str, Any], custom_id: str, *, user_id: str, guild_id: str | None = GUILD_ID,
                    permissions: int = PERM_MEMBER) -> FakeInteraction:
        """A member clicks a button of a message the bot sent."""
        if custom_id not in custom_ids(message):
            raise AssertionError(f"no button {custom_id!r} on that message: {custom_ids(message)}")
        if guild_id is None:  # a button in a DM: Discord sends the user, no member, no server
            fi, payload = self._interaction_base(3, user_id, channel_id=message["channel_id"], guild_id=GUILD_ID,
                                                 permissions=permissions, roles=None)
            payload["user"] = payload.pop("member")["user"]
            payload.pop("guild_id")
            payload.update(context=1, authorizing_integration_owners={"0": GUILD_ID})
        else:
            fi, payload = self._interaction_base(3, user_id, channel_id=message["channel_id"], guild_id=guild_id,
                                                 permissions=permissions, roles=None)
        payload["message"] = message
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        return fi

    # ------------------------------------------------------------------ faults
    def inject(self, method: str, path: str, status: int, body: dict[str, Any] | None = None, *,
               times: int = 1, headers: dict[str, str] | None = None, after: bool = False,
               delay: float | None = None) -> Fault:
        f = Fault(method.upper(), path, status, body or {}, dict(headers or {}), times, after, delay)
        self.faults.append(f)
        return f

    def accept_then(self, path: str = r"/channels/\d+/messages", *, status: int = 500, delay: float | None = None,
                    times: int = 1, method: str = "POST") -> Fault:
        """Carry the request out (the message exists), then answer badly: ``status`` (500, 502, ...;
        0 drops the connection; 200 is the real answer), after ``delay`` seconds."""
        body = {} if status in (0, 200) else {"message": "Internal Server Error", "code": 0}
        return self.inject(method, path, status, body, times=times, after=True, delay=delay)

    def rate_limit(self, path: str = r"/channels/\d+/messages", *, retry_after: float = 0.2, times: int = 1,
                   method: str = "POST", is_global: bool = False) -> Fault:
        """The next ``times`` matching requests get a 429 with Discord's body and headers."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        headers = {"Retry-After": str(max(1, round(retry_after))), "X-RateLimit-Limit": "5",
                   "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(retry_after),
                   "X-RateLimit-Bucket": "fake-bucket", "X-RateLimit-Scope": "user",
                   "Via": "1.1 google"}  # discord.py treats a 429 without Via as a Cloudflare ban
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        return self.inject(method, path, 429, body, times=times, headers=headers)

    def _window(self, method: str, path: str) -> FixedWindow | None:
        """The per-route bucket a request counts in (message creation, per channel), when enforced."""
        m = _MESSAGES.fullmatch(path.rstrip("/")) if self.limits and method == "POST" else None
        if m is None:
            return None
        w = self._channel_windows.get(m[1])
        if w is None:
            w = self._channel_windows[m[1]] = FixedWindow(*MESSAGES_PER_CHANNEL)
        return w

    def _take_fault(self, method: str, path: str, after: bool) -> Fault | None:
        for f in self.faults:
            if f.times > 0 and f.after == after and f.method == method and re.fullmatch(f.path, path):
                f.times -= 1
                return f
        return None

    # ------------------------------------------------------------------ REST
    def _check_auth(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        raw = await request.read()
        body: Any = None
        if raw:
            ctype = request.headers.get("Content-Type", "")
            if "json" in ctype:
                body = json.loads(raw)
            else:
                body = {"_unparsed": ctype}
        call = Call(method, path, body, query=dict(request.query))
        self.calls.append(call)
        resp = await self._handle(request, method, path, body, call)
        call.status = resp.status
        await self._changed_now()
        return resp

    async def _handle(self, request: web.Request, method: str, path: str, body: Any, call: Call) -> web.Response:
        is_webhook = path.startswith("/webhooks/") or path.startswith("/interactions/")
        if not is_webhook and not self._check_auth(request):
            return _error(401, 0, "401: Unauthorized")
        now = time.monotonic()
        if self.limits and not is_webhook:
            wait = self._global.wait(now)
            if wait > 0:
                self.refused.append(call)
                return _rate_limited(wait, is_global=True)
            self._global.take(now)
        problems = self.validator.validate(method, path, body if body is not None else None)
        if problems:
            self.violations.extend(problems)
            return _error(400, 50035, "Invalid Form Body",
                          errors={"body": {"_errors": [{"code": "SCHEMA", "message": x} for x in problems]}})
        fault = self._take_fault(method, path, after=False)
        if fault is not None:
            return _json(fault.body, status=fault.status, headers=fault.headers)
        window = self._window(method, path)
        if window is not None:
            wait = window.wait(now)
            if wait > 0:
                self.refused.append(call)
                return _rate_limited(wait, window=window, now=now)
            window.take(now)
        try:
            resp = await self._route(request, method, path, body)
        except KeyError as e:
            return _error(404, 10003, f"Unknown Channel ({e})")
        if window is not None:
            resp.headers.update(_bucket_headers(window, now))
        fault = self._take_fault(method, path, after=True)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status == 200:  # the real answer, late
                return resp
            if fault.status == 0:  # the answer is lost: the connection drops after the work was done
                assert request.transport is not None
                request.transport.close()
            return _json(fault.body, status=fault.status or 500, headers=fault.headers)
        return resp

    async def _route(self, request: web.Request, method: str, path: str, body: Any) -> web.Response:
        p = path.rstrip("/")
        if method == "GET" and p == "/users/@me":
            return _json(self.bot_user)
        if method == "GET" and p == "/oauth2/applications/@me":
            flags = 0
            if self.app_flags is not None:
                flags = self.app_flags
            elif self.portal_intents & INTENT_GUILD_MEMBERS:
                flags |= APP_FLAG_GUILD_MEMBERS_LIMITED
            if self.app_flags is None and self.portal_intents & INTENT_MESSAGE_CONTENT:
                flags |= APP_FLAG_MESSAGE_CONTENT_LIMITED
            return _json({
                "id": APP_ID, "name": "Steward", "icon": None, "description": "", "rpc_origins": [],
                "bot_public": True, "bot_require_code_grant": False, "owner": self.users[OWNER_ID],
                "summary": "", "verify_key": "0" * 64, "team": None, "flags": flags, "bot": self.bot_user,
                "interactions_endpoint_url": None, "tags": [], "redirect_uris": []})
        if method == "GET" and p == "/gateway/bot":
            return _json({"url": self.gateway_url, "shards": 1,
                                      "session_start_limit": {"total": 1000, "remaining": 999,
                                                              "reset_after": 0, "max_concurrency": 1}})
        if method == "GET" and p == "/gateway":
            return _json({"url": self.gateway_url})
        m = re.fullmatch(r"/applications/(\d+)/guilds/(\d+)/commands", p)
        if m and method == "PUT":
            cmds = [{**c, "id": self.snowflake(), "application_id": APP_ID, "guild_id": m[2], "version": "1",
                     "type": c.get("type", 1), "description": c.get("description", ""),
                     "default_member_permissions": c.get("default_member_permissions"), "nsfw": False}
                    for c in body or []]
            self.commands[m[2]] = cmds
            return _json(cmds)
        m = re.fullmatch(r"/applications/(\d+)/commands", p)
        if m and method == "PUT":
            self.global_commands = [{**c, "id": self.snowflake(), "application_id": APP_ID, "version": "1",
                                     "type": c.get("type", 1), "description": c.get("description", "")}
                                    for c in body or []]
            return _json(self.global_commands)
        if m and method == "GET":
            return _json(self.global_commands)
        if method == "POST" and p == "/users/@me/channels":
            uid = str(body["recipient_id"])
            cid = self.dm_channels.get(uid)
            if cid is None:
                cid = self.snowflake()
                self.dm_channels[uid] = cid
                self.channels[cid] = {"id": cid, "type": 1, "recipients": [self.users.get(uid) or user_payload(uid, uid)],
                                      "last_message_id": None, "flags": 0}
                self.messages.setdefault(cid, [])
            return _json(self.channels[cid])
        m = re.fullmatch(r"/channels/(\d+)/threads", p)
        if m and method == "POST":  # a thread without a message (a private one: type 12)
            parent = self.channels.get(m[1])
            if parent is None or parent.get("type") not in (0, 5):
                return _error(404, 10003, "Unknown Channel")
            tid = self.snowflake()
            th = self.add_channel(tid, body["name"], guild_id=parent.get("guild_id") or GUILD_ID,
                                  type=int(body.get("type", 12)), parent_id=m[1], owner_id=self.bot_user["id"])
            self.thread_members[tid] = []
            return _json(th, status=201)
        m = re.fullmatch(r"/channels/(\d+)/thread-members/(\d+)", p)
        if m and method == "PUT":
            if m[1] not in self.thread_members:
                return _error(404, 10003, "Unknown Channel")
            if m[2] not in self.thread_members[m[1]]:  # adding a member twice changes nothing, as on Discord
                self.thread_members[m[1]].append(m[2])
            return web.Response(status=204)
        m = re.fullmatch(r"/guilds/(\d+)/threads/active", p)
        if m and method == "GET":
            if m[1] not in self.guilds:
                return _error(404, 10004, "Unknown Guild")
            active = [t for t in self.guilds[m[1]]["threads"] if not t["thread_metadata"]["archived"]]
            return _json({"threads": active, "members": []})
        m = re.fullmatch(r"/channels/(\d+)/messages", p)
        if m and method == "POST":
            return self._create_message(m[1], body)
        if m and method == "GET":
            return self._list_messages(m[1], request.query)
        m = re.fullmatch(r"/channels/(\d+)", p)
        if m and method == "GET":
            if m[1] not in self.channels:
                return _error(404, 10003, "Unknown Channel")
            return _json(self.channels[m[1]])
        m = re.fullmatch(r"/channels/(\d+)/messages/(\d+)", p)
        if m and method == "DELETE":
            msgs = self.messages.get(m[1], [])
            if not any(x["id"] == m[2] for x in msgs):
                return _error(404, 10008, "Unknown Message")
            self.messages[m[1]] = [x for x in msgs if x["id"] != m[2]]
            return web.Response(status=204)
        if m and method == "GET":
            msg = next((x for x in self.messages.get(m[1], []) if x["id"] == m[2]), None)
            return _json(msg) if msg else _error(404, 10008, "Unknown Message")
        m = re.fullmatch(r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", p)
        if m and method == "PUT":
            from urllib.parse import unquote

            if not any(x["id"] == m[2] for x in self.messages.get(m[1], [])):
                return _error(404, 10008, "Unknown Message")
            self.reactions.append((m[1], m[2], unquote(m[3])))
            return web.Response(status=204)
        m = re.fullmatch(r"/guilds/(\d+)/members", p)
        if m and method == "GET":
            return await self._list_members(request, m[1])
        m = re.fullmatch(r"/guilds/(\d+)/members/(\d+)", p)
        if m and method == "PATCH":
            mem = self.member_payload(m[1], m[2])
            if "communication_disabled_until" in body:
                mem["communication_disabled_until"] = body["communication_disabled_until"]
            if "roles" in body:
                mem["roles"] = list(body["roles"])
            return _json(mem)
        if m and method == "GET":
            try:
                return _json(self.member_payload(m[1], m[2]))
            except KeyError:
                return _error(404, 10007, "Unknown Member")
        m = re.fullmatch(r"/guilds/(\d+)/members/(\d+)/roles/(\d+)", p)
        if m and method == "PUT":
            mem = self.member_payload(m[1], m[2])
            if m[3] not in mem["roles"]:
                mem["roles"].append(m[3])
            return web.Response(status=204)
        m = re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", p)
        if m and method == "POST":
            fi = self.interactions[m[2]]
            if fi.callbacks:  # an interaction takes one initial response, as on Discord
                return _error(400, 40060, "Interaction has already been acknowledged.")
            fi.callbacks.append(body)
            if body.get("type") == 4:
                fi.done.set()
            flags = (body.get("data") or {}).get("flags") or 0
            if request.query.get("with_response") in ("1", "true"):
                return _json({"interaction": {
                    "id": fi.id, "type": fi.payload["type"], "response_message_loading": body.get("type") == 5,
                    "response_message_ephemeral": bool(flags & 64)}})
            return web.Response(status=204)
        m = re.fullmatch(r"/webhooks/(\d+)/([^/]+)/messages/@original", p)
        if m and method == "PATCH":
            fi = self.interactions[m[2]]
            fi.edits.append(body)
            fi.done.set()
            return _json(self._message(fi.payload["channel_id"], self.bot_user, body.get("content") or "",
                                                   embeds=body.get("embeds") or [],
                                                   components=body.get("components") or []))
        m = re.fullmatch(r"/webhooks/(\d+)/([^/]+)", p)
        if m and method == "POST":
            fi = self.interactions[m[2]]
            fi.followups.append(body)
            fi.done.set()
            return _json(self._message(fi.payload["channel_id"], self.bot_user, body.get("content") or "",
                                                   embeds=body.get("embeds") or [],
                                                   components=body.get("components") or []))
        return _error(404, 0, f"fake Discord does not implement {method} {path}")

    async def _list_members(self, request: web.Request, guild_id: str) -> web.Response:
        """List Guild Members: ``limit`` (1-1000, default 1) members with user IDs above ``after``, in
        ID order, under a per-guild bucket announced in X-RateLimit-* headers (429 beyond it)."""
        if guild_id not in self.guilds:
            return _error(404, 10004, "Unknown Guild")
        problems = self.validator.validate_query("GET", f"/guilds/{guild_id}/members", request.query)
        if problems:
            self.violations.extend(problems)
            return _error(400, 50035, "Invalid Form Body",
                          errors={"query": {"_errors": [{"code": "SCHEMA", "message": x} for x in problems]}})
        n, per = self.member_list_limit
        now = time.monotonic()
        start, used = self._member_list_bucket.get(guild_id, (now, 0))
        if now - start >= per:
            start, used = now, 0
        reset_after = round(per - (now - start), 3)
        if used >= n:
            body = {"message": "You are being rate limited.", "retry_after": reset_after, "global": False}
            return _json(body, status=429, headers={
                "Retry-After": str(max(1, round(reset_after))), "X-RateLimit-Limit": str(n),
                "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(reset_after),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}", "X-RateLimit-Bucket": "fake-members",
                "X-RateLimit-Scope": "user", "Via": "1.1 google"})
        self._member_list_bucket[guild_id] = (start, used + 1)
        if self._member_list_hold is not None and self.member_list_pages >= self._member_list_hold:
            await self._member_list_gate.wait()
        limit = int(request.query.get("limit", 1))
        after = int(request.query.get("after", 0))
        page = self._members_by_id(guild_id, self._ids_after(guild_id, after, limit))
        self.member_list_pages += 1
        return _json(page, headers={
            "X-RateLimit-Limit": str(n), "X-RateLimit-Remaining": str(n - used - 1),
            "X-RateLimit-Reset-After": str(reset_after), "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Bucket": "fake-members"})

    def hold_member_list(self, after_pages: int) -> None:
        """Answer ``after_pages`` member-list pages, then hold further requests until ``release_member_list``."""
        self._member_list_hold = after_pages
        self._member_list_gate.clear()

    def release_member_list(self) -> None:
        self._member_list_hold = None
        self._member_list_gate.set()

    def _create_message(self, channel_id: str, body: dict[str, Any]) -> web.Response:
        ch = self.channels.get(channel_id)
        if ch is None:
            return _error(404, 10003, "Unknown Channel")
        if ch["type"] == 1:
            uid = ch["recipients"][0]["id"]
            if uid in self.refuse_dms:
                return _error(403, 50007, "Cannot send messages to this user")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            # Discord returns the earlier message of the same author for a repeated nonce instead of
            # creating another, for a few minutes
            hit = self._nonces.get((BOT_ID, str(nonce)))
            if hit is not None and (self.nonce_window_s is None or time.monotonic() - hit[0] < self.nonce_window_s):
                return _json({k: v for k, v in hit[1].items() if k != "allowed_mentions"})
        ref = body.get("message_reference")
        msg = self._message(channel_id, self.bot_user, body.get("content") or "", embeds=body.get("embeds") or [],
                            components=body.get("components") or [], nonce=nonce,
                            allowed_mentions=body.get("allowed_mentions"))
        if ref:
            msg.update(type=19, message_reference={"type": 0, "message_id": ref["message_id"],
                                                   "channel_id": channel_id})
        self.messages.setdefault(channel_id, []).append(msg)
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[(BOT_ID, str(nonce))] = (time.monotonic(), msg)
        wire = {k: v for k, v in msg.items() if k != "allowed_mentions"}
        return _json(wire)

    def _list_messages(self, channel_id: str, query: Any) -> web.Response:
        """GET /channels/{id}/messages with ``after`` or ``before`` and ``limit``: newest first, as
        Discord answers; a fetched message carries no nonce."""
        if channel_id not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        msgs = sorted(self.messages.get(channel_id, []), key=lambda x: int(x["id"]))
        limit = max(1, min(100, int(query.get("limit") or 50)))
        if query.get("after"):
            msgs = [x for x in msgs if int(x["id"]) > int(query["after"])][:limit]
        else:
            if query.get("before"):
                msgs = [x for x in msgs if int(x["id"]) < int(query["before"])]
            msgs = msgs[-limit:]
        return _json([{k: v for k, v in x.items() if k not in ("allowed_mentions", "nonce")}
                      for x in reversed(msgs)])

    # ------------------------------------------------------------------ reading what the bot did
    def sent(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages the bot created in a channel (or DM channel), oldest first."""
        return [m for m in self.messages.get(channel_id, []) if m["author"]["id"] == BOT_ID]

    def seen(self, m: dict[str, Any] | str) -> str:
        """A message's content as the Discord client shows it: mentions as @name / #channel, markdown
        markers and escapes gone, embeds' text after the content."""
        text = m if isinstance(m, str) else _visible_text(m)

        def user(mt: re.Match) -> str:
            u = self.users.get(mt[1])
            return "@" + (u.get("global_name") or u["username"]) if u else mt[0]

        def chan(mt: re.Match) -> str:
            c = self.channels.get(mt[1])
            return "#" + c["name"] if c and c.get("name") else mt[0]

        text = re.sub(r"<@!?(\d+)>", user, text)
        text = re.sub(r"<#(\d+)>", chan, text)
        text = re.sub(r"\[([^\]]*)\]\(<?([^)>]*)>?\)", r"\1 (\2)", text)
        text = re.sub(r"(?<!\\)(\*\*|__|~~|`|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))", "", text)
        text = re.sub(r"\\(.)", r"\1", text)
        return text.replace("\u200b", "")

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        cid = self.dm_channels.get(user_id)
        return self.sent(cid) if cid else []

    async def wait_message(self, channel_id: str, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        """The ``count``-th message the bot sent in ``channel_id``, once it exists."""
        msgs = await self.wait_until(lambda: len(self.sent(channel_id)) >= count and self.sent(channel_id),
                                     timeout, f"{count} bot message(s) in channel {channel_id}")
        return msgs[count - 1]

    async def wait_dm(self, user_id: str, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        msgs = await self.wait_until(lambda: len(self.dms_to(user_id)) >= count and self.dms_to(user_id),
                                     timeout, f"{count} DM(s) to {user_id}")
        return msgs[count - 1]

    async def answer(self, fi: FakeInteraction, timeout: float = 5.0) -> FakeInteraction:
        """Wait until the bot has answered an interaction with something a person can see."""
        await self.wait_until(lambda: fi.done.is_set(), timeout, f"an answer to interaction {fi.id}")
        return fi

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.fullmatch(pattern, c.path)]

    def most_in_window(self, seconds: float, calls: list[Call] | None = None) -> int:
        """The most requests that arrived within any ``seconds`` (all of them, refused ones too),
        interaction callbacks and webhooks aside, as Discord's global limit counts."""
        calls = self.calls if calls is None else calls
        return most_in_window((c.at for c in calls if not _exempt(c.path)), seconds)

    # ------------------------------------------------------------------ gateway: the websocket
    async def wait_ready(self, shards: int = 1, timeout: float = 10.0) -> list[Session]:
        """Wait until ``shards`` sessions have received READY and their guilds."""
        return await self.wait_until(
            lambda: len([s for s in self.sessions.values() if s.ws is not None and not s.ws.closed]) >= shards
            and list(self.sessions.values()), timeout, f"{shards} gateway session(s)")

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every live gateway connection as a network blip would (the client should RESUME)."""
        for s in self.sessions.values():
            if s.ws is not None and not s.ws.closed:
                self.closes.append(code)
                await s.ws.close(code=code, message=b"fake: connection dropped")
                s.ws = None
        await self._changed_now()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None,
                                      "t": None}))
        session: Session | None = None
        async for raw in ws:
            if raw.type != WSMsgType.TEXT:
                if raw.type == WSMsgType.BINARY:
                    continue
                break
            msg = json.loads(raw.data)
            op, d = msg.get("op"), msg.get("d")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif op == 2:
                session = await self._identify(ws, d)
                if session is None:
                    break
            elif op == 6:
                session = await self._resume(ws, d)
                if session is None:
                    break
            elif op == 8 and session is not None:
                await self._request_members(session, d)
        if session is not None and session.ws is ws:
            session.ws = None
        await self._changed_now()
        return ws

    async def _request_members(self, s: Session, d: dict[str, Any]) -> None:
        """Request Guild Members (op 8) answered as Discord does: GUILD_MEMBERS_CHUNK events of up to
        1,000 members each, with ``chunk_index``/``chunk_count`` and the request's ``nonce``; all
        members (``query`` "" and ``limit`` 0) at most once per guild per session every 30 seconds,
        else a RATE_LIMITED event."""
        gid = str(d["guild_id"])
        if gid not in self.guilds or not s.intents & INTENT_GUILD_MEMBERS and not d.get("user_ids"):
            return
        nonce = d.get("nonce")
        query, limit = d.get("query"), int(d.get("limit") or 0)
        if d.get("user_ids") is not None:
            wanted = d["user_ids"] if isinstance(d["user_ids"], list) else [d["user_ids"]]
            members = self._members_by_id(gid, [int(u) for u in wanted][:100])
            found = {m["user"]["id"] for m in members}
            not_found = [str(u) for u in wanted if str(u) not in found]
        else:
            if query == "" and limit == 0:
                now = time.monotonic()
                last = self._chunk_all_at.get((s.session_id, gid))
                if last is not None and now - last < self.chunk_all_interval:
                    await self._send_event(s, "RATE_LIMITED", {
                        "opcode": 8, "retry_after": round(self.chunk_all_interval - (now - last), 3),
                        "meta": {"guild_id": gid, "nonce": nonce}})
                    return
                self._chunk_all_at[(s.session_id, gid)] = now
                ids = self._ids_after(gid, 0, None)
                members = None
            else:
                prefix = (query or "").lower()
                members = [m for m in self._members_by_id(gid, self._ids_after(gid, 0, None))
                           if m["user"]["username"].startswith(prefix)
                           or (m.get("nick") or "").lower().startswith(prefix)][:limit or 100]
            not_found = []
        if members is not None:
            ids = [int(m["user"]["id"]) for m in members]
        count = max(1, -(-len(ids) // 1000))
        for i in range(count):
            part = ids[i * 1000:(i + 1) * 1000]
            chunk: dict[str, Any] = {"guild_id": gid, "members": self._members_by_id(gid, part), "chunk_index": i,
                                     "chunk_count": count}
            if i == 0 and d.get("user_ids") is not None:
                chunk["not_found"] = not_found
            if d.get("presences"):
                chunk["presences"] = []
            if nonce is not None:
                chunk["nonce"] = nonce
            await self._send_event(s, "GUILD_MEMBERS_CHUNK", chunk)

    async def _identify(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> Session | None:
        self.identifies.append(d)
        if d.get("token") != self.token:
            self.closes.append(4004)
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = int(d.get("intents") or 0)
        if intents & PRIVILEGED & ~self.portal_intents:
            self.closes.append(4014)
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard = tuple(d.get("shard") or (0, 1))
        s = Session(session_id=f"sess-{self.snowflake()}", shard=(int(shard[0]), int(shard[1])), intents=intents)
        s.ws = ws
        self.sessions[s.session_id] = s
        mine = [g for gid, g in self.guilds.items() if self._shard_of(gid, s.shard[1]) == s.shard[0]]
        ready = {"v": 10, "user": self.bot_user, "guilds": [{"id": g["id"], "unavailable": True} for g in mine],
                 "session_id": s.session_id, "resume_gateway_url": self.gateway_url, "shard": list(s.shard),
                 "application": {"id": APP_ID, "flags": 0}, "private_channels": [], "relationships": []}
        await self._send_event(s, "READY", ready)
        for g in mine:
            await self._send_event(s, "GUILD_CREATE", self._guild_for(g, intents, int(d.get("large_threshold") or 50)))
        await self._changed_now()
        return s

    def _guild_for(self, g: dict[str, Any], intents: int, large_threshold: int = 50) -> dict[str, Any]:
        out = dict(g)
        out["large"] = g["member_count"] > large_threshold
        if not intents & INTENT_GUILD_PRESENCES or g["member_count"] > 75_000:
            # as Discord: without the presences intent (or past 75k members) GUILD_CREATE lists only the
            # bot itself and members in voice channels (none here); the rest must be requested
            out["members"] = [m for m in g["members"] if m["user"]["id"] == BOT_ID]
        return out

    async def _send_event(self, s: Session, t: str, d: dict[str, Any]) -> None:
        s.seq += 1
        frame = {"op": 0, "t": t, "s": s.seq, "d": d}
        s.log.append(frame)
        assert s.ws is not None
        await s.ws.send_str(json.dumps(frame))

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> Session | None:
        s = self.sessions.get(d.get("session_id", ""))
        if s is None or d.get("token") != self.token:
            await ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return None
        s.ws = ws
        s.resumed += 1
        seq = int(d.get("seq") or 0) - self.resume_overlap
        for frame in [f for f in s.log if f["s"] > seq]:
            await ws.send_str(json.dumps(frame))
        s.seq += 1
        await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": s.seq, "d": {}}))
        await self._changed_now()
        return s


def _for_intents(t: str, d: dict[str, Any], intents: int) -> dict[str, Any] | None:
    """What Discord sends a session with these intents: no member events without GUILD_MEMBERS, and
    message text only with MESSAGE_CONTENT (or when the bot is mentioned)."""
    if t.startswith("GUILD_MEMBER_") and t != "GUILD_MEMBERS_CHUNK" and not intents & INTENT_GUILD_MEMBERS:
        return None
    # direct messages to the bot keep their text without MESSAGE_CONTENT
    if t in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not intents & INTENT_MESSAGE_CONTENT and d.get("guild_id"):
        if not any(u.get("id") == BOT_ID for u in d.get("mentions") or []):
            return {**d, "content": "", "embeds": [], "attachments": [], "components": []}
    return d


def _option(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):  # {"type": 6, "value": "123"}
        return {"name": name, **value}
    return {"name": name, "type": 3, "value": value}


def _check_against_definition(path: list[str], options: dict[str, Any], defs: list[dict[str, Any]]) -> None:
    """An interaction can only name subcommands and options the bot registered."""
    node = defs
    for name in path[1:]:
        hit = next((o for o in node if o["name"] == name and o["type"] in (1, 2)), None)
        if hit is None:
            raise AssertionError(f"/{' '.join(path)}: {name!r} is not a registered subcommand")
        node = hit.get("options") or []
    for k in options:
        if not any(o["name"] == k for o in node):
            raise AssertionError(f"/{' '.join(path)}: option {k!r} is not registered ({[o['name'] for o in node]})")


def _exempt(path: str) -> bool:
    """Interaction callbacks and webhooks are not bound by the bot's global limit."""
    return path.startswith("/webhooks/") or path.startswith("/interactions/")


def _bucket_headers(window: FixedWindow, now: float) -> dict[str, str]:
    reset_after = max(0.0, window.reset_after(now))
    return {"X-RateLimit-Limit": str(window.limit), "X-RateLimit-Remaining": str(window.remaining(now)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}", "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "fake-channel-messages"}


def _rate_limited(wait: float, *, is_global: bool = False, window: FixedWindow | None = None,
                  now: float = 0.0) -> web.Response:
    """Discord's 429: the body's ``retry_after`` in seconds, the headers discord.py reads (a 429
    without ``Via`` looks to it like a Cloudflare ban)."""
    wait = round(max(wait, 0.001), 3)
    headers = {"Retry-After": str(max(1, int(wait + 0.999))), "Via": "1.1 google"}
    if is_global:
        headers.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
    elif window is not None:
        headers.update(_bucket_headers(window, now), **{"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user"})
    return _json({"message": "You are being rate limited.", "retry_after": wait, "global": is_global},
                 status=429, headers=headers)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # exactly "application/json" (no charset), as Discord sends it: discord.py compares the header verbatim
    return web.Response(body=json.dumps(data).encode(), status=status, headers=headers,
                        content_type="application/json")


def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    return _json({"code": code, "message": message, **extra}, status=status)
