"""The Slack adapter as ``bot/app.py`` uses it: ``create(app)`` → an object with ``platform``,
``gateway``, ``start()`` and ``stop()``.

Two ways in, from ``[slack] mode``: Socket Mode (default; an outbound websocket, works behind a
firewall, needs the app-level token) or the HTTP Events API (``/slack/events`` served on
``http_host:http_port``, requests checked against the signing secret). In both, an event is
stored in the durable inbox (bot/storage/inbox.py), acknowledged, and processed from there, with
retries; commands, buttons and shortcuts go to the Bolt listeners. ``api_base_url`` points every Web API call (and the Socket Mode connection) elsewhere:
GovSlack, a proxy, or the fake Slack in the tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import extract_team_id
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.boundary import Boundary
from bot.adapters.pacing import paced_trace
from bot.adapters.slack import listeners
from bot.adapters.slack.directory import SlackDirectory, SlackUnavailable, api_error, is_transient
from bot.adapters.slack.gateway import SlackGateway
from bot.adapters.slack.members import MemberSync
from bot.adapters.slack.signing import bolt_request, signed
from bot.adapters.slack.translate import TABLE, Self, readable, referenced, translate
from bot.core.clock import as_utc
from bot.core.errors import ConfigError, PlaybooksFailed
from bot.engine.runner import FAILED
from bot.storage.inbox import Inbox
from bot.storage.locks import holder_id, instance_name

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("steward.slack")

DEFAULT_API = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
_EVENT_TYPES = frozenset(t for t, _ in TABLE)
#: at most this many names are looked up for one quote (a quote is a few hundred characters)
QUOTE_LOOKUPS = 50


class _SkipTokenNote(logging.Filter):
    # Bolt notes that SLACK_BOT_TOKEN in the environment is unused when a client is given: it is
    # the same token, given through the client so that api_base_url applies
    def filter(self, record: logging.LogRecord) -> bool:
        return "will be unused" not in record.getMessage()


def _bolt_logger() -> logging.Logger:
    lg = logging.getLogger("steward.slack.bolt")
    if not any(isinstance(f, _SkipTokenNote) for f in lg.filters):
        lg.addFilter(_SkipTokenNote())
    return lg


def _api_method(http_method: str, url: Any) -> str | None:
    """The Web API method a request calls (the last part of its path, e.g. ``conversations.open``)."""
    return url.path.rsplit("/", 1)[-1] or None


def _base_url(url: str | None) -> str:
    url = url or DEFAULT_API
    return url if url.endswith("/") else url + "/"


class SlackAdapter:
    """Bolt app, Web API clients, directory and gateway for one workspace."""

    platform = "slack"

    def __init__(self, app: App) -> None:
        self.app = app
        cfg = app.settings.slack
        self.config = cfg
        self.mode = cfg.mode
        token = app.settings.secret(cfg.bot_token_env)
        if not token:
            raise ConfigError(f"[slack] bot token missing: set the environment variable {cfg.bot_token_env} "
                              "(the xoxb-... Bot User OAuth Token from the app's OAuth & Permissions page)")
        self.app_token = app.settings.secret(cfg.app_token_env)
        signing_secret = app.settings.secret(cfg.signing_secret_env)
        if self.mode == "socket" and not self.app_token:
            raise ConfigError(f"[slack] mode = \"socket\" needs an app-level token: set the environment variable "
                              f"{cfg.app_token_env} (xapp-..., Basic Information → App-Level Tokens, "
                              "scope connections:write)")
        if self.mode == "http" and not signing_secret:
            raise ConfigError(f"[slack] mode = \"http\" needs the signing secret: set the environment variable "
                              f"{cfg.signing_secret_env} (Basic Information → App Credentials)")
        base_url = _base_url(cfg.api_base_url)
        # reads may be retried by the client; sends may not (the outbox decides, so nothing is sent twice)
        self.client = AsyncWebClient(token=token, base_url=base_url, retry_handlers=[
            AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
        self.gateway = SlackGateway(AsyncWebClient(token=token, base_url=base_url, retry_handlers=[]),
                                    ambassador_usergroup=cfg.ambassador_usergroup,
                                    delivery_paces=lambda: app.delivery.pacer is not None)
        self.directory = SlackDirectory(self.client, app.store)
        #: the one workspace served: [slack] team_id, else the bot token's own (learned at start)
        self.boundary = Boundary("slack", "workspace", [cfg.team_id] if cfg.team_id else [])
        groups = self.manager_groups()
        if groups:
            # bot/core/roles.py asks Slack (cached) whether a member is in the managers' user group
            app.engine.roles.group_lookup["slack"] = lambda member_id: self.directory.roles_of(member_id, groups)
        #: the members already in the workspace (users.list), recorded as known on every start and
        #: reconnect; its own client waits out users.list's 429s itself, without the SDK's retries
        self.members = MemberSync(AsyncWebClient(token=token, base_url=base_url,
                                                 retry_handlers=[AsyncConnectionErrorRetryHandler()]),
                                  app.store, app.clock.now)
        self.me = Self()
        #: events (both modes) are stored in the inbox and acknowledged once stored, then processed
        #: from there (bot/storage/inbox.py): a crash after the acknowledgement leaves the row for
        #: any instance, and a handler that fails is tried again with backoff
        self.inbox = Inbox(app.store, "slack", worker=holder_id())

        async def store_socket_event(req: AsyncBoltRequest, next) -> BoltResponse | None:
            # Socket Mode: an event envelope goes to the inbox and is acknowledged once stored;
            # returning without next() ends Bolt's dispatch with this response (no listener runs).
            # A status other than 200 sends no acknowledgement, so Slack delivers the event again.
            if not isinstance(req.body, dict) or req.body.get("type") != "event_callback":
                return await next()
            return BoltResponse(status=await self._accept_event(json.dumps(req.body), req.body), body="")

        # commands, buttons and shortcuts are acknowledged at once and finish after the ack
        self.bolt = AsyncApp(client=self.client, signing_secret=signing_secret or "", logger=_bolt_logger(),
                             request_verification_enabled=self.mode == "http", process_before_response=False,
                             before_authorize=store_socket_event if self.mode == "socket" else None)
        listeners.register(self.bolt, self)
        self._signing_secret: bytes | None = None
        self._inbox_stop = asyncio.Event()
        self._inbox_task: asyncio.Task | None = None
        if self.mode == "http":
            self._signing_secret = (signing_secret or "").encode()
        self.socket: AsyncSocketModeHandler | None = None
        #: Socket Mode connections made (each starts with a ``hello``)
        self._hellos = 0
        self._runner: web.AppRunner | None = None
        #: one HTTP session (kept-alive connections) for every Web API call; without it the SDK
        #: opens a session, and a connection, per call
        self._session: aiohttp.ClientSession | None = None
        #: where HTTP mode listens once started (the real port when configured as 0)
        self.http_url: str | None = None

    def manager_groups(self) -> list[str]:
        return sorted(self.app.engine.roles.configured_groups("slack"))

    def _install_services(self) -> None:
        services = self.app.services
        previous = services.channel_name
        directory = self.directory

        async def channel_name(platform: str, channel_id: str) -> str:
            if platform == "slack":
                return await directory.channel_name(channel_id)
            return await previous(platform, channel_id) if previous else channel_id

        services.channel_name = channel_name
        services.member_caches.append(directory)
        self.app.engine.readers["slack"] = self.readable

    async def readable(self, text: str) -> str:
        """A member's message text with the names Slack shows for its mentions and channels (the
        directory's cache, then users.info / conversations.info, then the store)."""
        users, chans = referenced(text)
        members: dict[str, str] = {}
        for uid in users[:QUOTE_LOOKUPS]:
            try:
                m = await self.directory.member(uid)
            except Exception:  # Slack did not answer: what the store knows will do
                m = await self.app.store.get_member("slack", uid)
            if m is not None and m.display_name:
                members[uid] = m.display_name
        channels: dict[str, str] = {}
        for cid in chans[:QUOTE_LOOKUPS]:
            try:
                channels[cid] = await self.directory.channel_name(cid)
            except Exception:
                pass
        return readable(text, members, channels)

    async def start(self) -> None:
        """Learn who the bot is, then connect (Socket Mode) or listen (HTTP)."""
        if self._session is None:
            # every Web API call waits for its slot under its method's tier (bot/adapters/pacing.py),
            # and its 429s are counted
            trace = paced_trace("slack", lambda: self.app.delivery.pacer, _api_method,
                                lambda: self.app.metrics.answered_429("slack"))
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout),
                                                  trace_configs=[trace])
            self.client.session = self._session
            self.gateway.client.session = self._session
            self.members.client.session = self._session
        try:
            auth = await self.client.auth_test()
        except SlackApiError as e:
            await self.stop()  # closes the HTTP session opened above
            if is_transient(e):  # a 5xx or a proxy's error page says nothing about the token
                raise SlackUnavailable(f"Slack did not answer auth.test ({api_error(e)}); is api_base_url right? "
                                       "Try again in a moment") from None
            raise ConfigError(f"Slack refused the bot token in {self.config.bot_token_env} "
                              f"({api_error(e)}): copy the Bot User OAuth Token again") from None
        self.me = Self(user_id=auth.get("user_id"), bot_id=auth.get("bot_id"))
        team = auth.get("team_id")
        if self.config.team_id and team and team != self.config.team_id:
            await self.stop()
            raise ConfigError(f"[slack] team_id is {self.config.team_id}, but the bot token in "
                              f"{self.config.bot_token_env} belongs to workspace {team}: fix one of them")
        self.boundary.set([self.config.team_id or team])
        self._install_services()
        self.members.scope = auth.get("team_id") or self.members.scope
        self.members.start()
        if self.mode == "socket":
            self.socket = AsyncSocketModeHandler(self.bolt, self.app_token, web_client=self.client)
            self.socket.client.message_listeners.append(self._on_socket_message)
            await self.socket.connect_async()
            self._start_inbox()
            log.info("Slack: connected in Socket Mode as %s", self.me.user_id)
            return
        webapp = web.Application()
        webapp.router.add_post(EVENTS_PATH, self._http_events)
        webapp.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(webapp, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http_host, self.config.http_port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        host = "127.0.0.1" if self.config.http_host in ("0.0.0.0", "") else self.config.http_host
        self.http_url = f"http://{host}:{port}{EVENTS_PATH}"
        self._start_inbox()
        log.info("Slack: listening for events on %s", self.http_url)

    def _start_inbox(self) -> None:
        # rows an earlier run of this named instance claimed are its own to take back at once
        prefix = instance_name() + ":" if os.environ.get("STEWARD_INSTANCE") else None
        self._inbox_stop.clear()
        self._inbox_task = asyncio.create_task(self._run_inbox(prefix))

    async def _run_inbox(self, prefix: str | None) -> None:
        # events are stored (and answered) from the start, but wait in the inbox until the member
        # list has been read once: before that an old member's channel join looks like a newcomer's
        ready = asyncio.create_task(self.members_ready())
        stopped = asyncio.create_task(self._inbox_stop.wait())
        await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        stopped.cancel()
        if self._inbox_stop.is_set():
            return
        # buffered rows (messages, question state) are written before an event's row goes
        await self.inbox.run(self._process_stored, self._inbox_stop, previous_prefix=prefix,
                             before_done=self.app.store.flush)

    async def members_ready(self) -> None:
        """Return once the workspace's member list has been read to the end at least once."""
        if not self.members.ready.is_set():
            await self.members.ready.wait()

    async def _on_socket_message(self, client: Any, message: dict, raw: str | None = None) -> None:
        # Slack says hello on every (re)connection: read the member list again after a reconnect,
        # since members who joined while the connection was down sent no event Steward saw
        if isinstance(message, dict) and message.get("type") == "hello":
            self._hellos += 1
            if self._hellos > 1:
                self.members.start()

    async def _http_events(self, request: web.Request) -> web.Response:
        # the signature is checked on the raw bytes before anything is parsed: an unsigned or forged
        # request is refused (401) without work, and a signed one that is not what Slack sends gets a
        # 400 and one line in the log, never a traceback
        raw = await request.read()
        if not signed(self._signing_secret, raw, request.headers):
            return web.Response(status=401)
        req = bolt_request(raw, request)
        if isinstance(req, str):
            log.warning("refused a signed request to %s from %s: %s", EVENTS_PATH, request.remote, req)
            return web.Response(status=400, text=req)
        if req.body.get("type") == "event_callback":
            return await self._store_event(req.raw_body, req.body)
        try:
            bolt_resp = await self.bolt.async_dispatch(req)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as e:
            # Bolt's listener matching reads fields (actions, view, ...) without checking their shape;
            # listener errors themselves are caught and logged by Bolt
            log.warning("refused a signed request to %s from %s: body is not shaped like a Slack request (%s)",
                        EVENTS_PATH, request.remote, type(e).__name__)
            return web.Response(status=400, text="body is not shaped like a Slack request")
        return await to_aiohttp_response(bolt_resp)

    async def _store_event(self, raw: str, body: dict) -> web.Response:
        return web.Response(status=await self._accept_event(raw, body))

    async def _accept_event(self, raw: str, body: dict) -> int:
        """Store one ``event_callback`` (either mode) in the inbox; the status to answer Slack with:
        200 once stored (or refused for good), 503 when it could not be stored (Slack sends it again)."""
        if not self.boundary.allows(extract_team_id(body), f"event {(body.get('event') or {}).get('type', '?')}"):
            return 200  # acknowledged, so Slack does not resend it; never stored
        event_id = body.get("event_id")
        try:
            await self.inbox.put(raw, event_id=event_id if isinstance(event_id, str) else None,
                                 received_at=self.app.clock.now())
        except Exception as e:  # not stored: no acknowledgement, so Slack sends it again
            log.warning("could not store an incoming event (%s)", type(e).__name__)
            return 503
        return 200

    async def _process_stored(self, body: dict[str, Any], received_at, only: frozenset[str] | None = None) -> None:
        """One stored event through the engine. Playbooks that failed raise ``PlaybooksFailed``, so
        the inbox keeps the event and tries them again (``only``) later."""
        event = body.get("event")
        if not isinstance(event, dict) or event.get("type") not in _EVENT_TYPES:
            return
        ev = translate(event, self.me, received_at=as_utc(received_at))
        if ev is None:
            return
        facts = await self.app.engine.dispatch(await self.directory.enrich(ev), only=only)
        failed = (facts or {}).get(FAILED)
        if failed:
            raise PlaybooksFailed(tuple(failed), next(iter(failed.values())))

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "platform": "slack", "mode": self.mode})

    async def stop(self) -> None:
        await self.members.stop()
        if self._inbox_task is not None:
            # what is claimed and unfinished stays in the inbox for the next run (or another instance)
            self._inbox_stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._inbox_task), timeout=10)
            except TimeoutError:
                self._inbox_task.cancel()
            self._inbox_task = None
        if self.socket is not None:
            await self.socket.close_async()
            self.socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None
            self.gateway.client.session = None
            self.members.client.session = None


def create(app: App) -> Any:
    """The Slack adapter for ``app`` (not yet connected: call ``start()``)."""
    return SlackAdapter(app)
