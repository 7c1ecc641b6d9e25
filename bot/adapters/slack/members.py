"""Who is already in the workspace: ``users.list``, read page by page and recorded as known, so
that members who were here before Steward are not welcomed as newcomers.

- Paced for ``users.list``'s rate tier (Tier 2: about 20 calls a minute); a 429 waits out its
  ``Retry-After``, a 5xx or a proxy's error page waits with backoff; nothing is skipped.
- Resumable: after each page the cursor of the next one is stored (``member_lists``, shared with
  the Discord adapter's list), so a restart mid-way continues from there rather than from page one.
- Each page is one bulk insert of the members not yet known (``Store.add_members_bulk``, the path
  the Discord adapter uses for the members present when it connects). Members already known keep
  their rows.

Until the list has been read to the end once, nobody can tell an old member from a new one by a
channel join; the adapter holds events back until then (``ready``). Later passes (on every start
and Socket Mode reconnect) run in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.directory import api_error, is_transient
from bot.adapters.slack.translate import member_from_user
from bot.storage.repositories import Store

log = logging.getLogger("steward.slack")

PLATFORM = "slack"
#: Slack recommends no more than 200 users a page
PAGE_SIZE = 200
#: users.list is a Tier 2 method: about 20 calls a minute
PAGE_INTERVAL = 3.0
#: longest wait between attempts after a 5xx (doubling from one second)
MAX_BACKOFF = 60.0


class MemberSync:
    """Reads ``users.list`` to the end and records everyone present as known."""

    def __init__(self, client: AsyncWebClient, store: Store, now: Callable[[], datetime], *,
                 page_size: int = PAGE_SIZE, interval: float = PAGE_INTERVAL,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.client = client
        self.store = store
        self.now = now
        self.page_size = page_size
        self.interval = interval
        self.sleep = sleep
        #: the workspace (team ID) whose list this is; set once auth.test has said
        self.scope = "workspace"
        #: set once the list has been read to the end (by this run or an earlier one), or reading
        #: it failed for good (events then go on without it, as before)
        self.ready = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> asyncio.Task:
        """Start a pass in the background (none is started while one is under way)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="slack-users-list")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def run(self) -> None:
        """One pass: from the stored cursor (a pass cut short) or the first page, to the end."""
        try:
            run = await self.store.member_list_pass(PLATFORM, self.scope, now=self.now())
            if run.completed_at is not None:
                self.ready.set()
            if run.cursor:
                log.info("Slack: continuing to read the member list where it stopped (%d read)", run.members)
            await self._pages(run.cursor or "", run.members)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # not fatal: events go on as before, and the next start tries again
            log.error("Slack: could not read the member list (%s). Members who were already in the "
                      "workspace may be welcomed as newcomers; does the app have the users:read scope?",
                      _describe(e))
            self.ready.set()

    async def _pages(self, cursor: str, total: int) -> None:
        while True:
            page = await self._page(cursor)
            if page is None:  # the stored cursor is no longer valid: read from the first page
                log.info("Slack: the stored users.list cursor expired; reading the member list from the start")
                await self.store.member_list_page_done(PLATFORM, self.scope, None, 0)
                cursor = ""
                continue
            users = [u for u in page.get("members") or () if isinstance(u, dict) and u.get("id")
                     and not u.get("deleted")]
            await self.store.add_members_bulk(member_from_user(u) for u in users)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            total += len(users)
            await self.store.member_list_page_done(PLATFORM, self.scope, cursor or None, len(users),
                                                   completed_at=None if cursor else self.now())
            if not cursor:
                log.info("Slack: %d members were already in the workspace; they are known, not newcomers", total)
                self.ready.set()
                return
            await self.sleep(self.interval)

    async def _page(self, cursor: str) -> dict | None:
        """One page; waits out rate limits and transient failures. None: the cursor is invalid."""
        backoff = 1.0
        while True:
            args: dict = {"limit": self.page_size}
            if cursor:
                args["cursor"] = cursor
            try:
                r = await self.client.users_list(**args)
                return r.data if isinstance(r.data, dict) else {}
            except SlackApiError as e:
                if api_error(e) == "invalid_cursor" and cursor:
                    return None
                if not is_transient(e):
                    raise
                wait = _retry_after(e)
                if wait is None:
                    wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                log.info("Slack: users.list answered %s; trying again in %.0fs", api_error(e), wait)
            except (aiohttp.ClientError, TimeoutError) as e:
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                log.info("Slack: users.list failed (%s); trying again in %.0fs", type(e).__name__, wait)
            await self.sleep(wait)


def _retry_after(e: SlackApiError) -> float | None:
    headers = getattr(e.response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _describe(e: Exception) -> str:
    return api_error(e) if isinstance(e, SlackApiError) else (str(e) or type(e).__name__)
