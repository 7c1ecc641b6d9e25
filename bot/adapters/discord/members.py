"""Loading a server's member list after connecting: the members who were there before Steward.

Discord's GUILD_CREATE carries only the bot itself when the presences intent is off (Steward never
asks for it), and Steward does not chunk guilds at startup: discord.py would then hold every member
as a ``Member`` object for as long as it runs, beside Steward's own rows. Instead the list is read
over REST, ``GET /guilds/{id}/members?limit=1000&after=<last user ID>`` (Discord lists members in
user-ID order), and each page is translated, written to the store in one batch and dropped. After
each page the cursor is saved (``member_lists``), so a restart continues where the last run stopped.

Pacing: discord.py reads the route's ``X-RateLimit-*`` headers and waits before a request the
bucket would refuse, and waits out a 429's ``retry_after`` itself; a wait longer than the bot's
``max_ratelimit_timeout`` comes back here as ``RateLimited`` and is waited out here. 5xx answers
and dropped connections are retried with backoff.

Everyone listed who joined before this connection is stored as a known member (``join_count`` 0,
``first_joined_at`` their join date), so the welcome never takes them for newcomers; members who
join from now on arrive through GUILD_MEMBER_ADD.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.adapters.discord import translate as tr

if TYPE_CHECKING:
    from bot.adapters.discord.runtime import DiscordAdapter

log = logging.getLogger("steward.discord")

PAGE = 1000  # the most Discord lists in one request
MAX_BACKOFF = 60.0


class MemberLists:
    """One background load per configured guild, at most one at a time; once per process."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter
        self._tasks: dict[int, asyncio.Task] = {}
        #: guilds whose list was completed by this process (a reconnect does not read it again)
        self.completed: set[int] = set()

    def start(self, guild_id: int) -> None:
        """Load ``guild_id``'s member list in the background unless it is loading or loaded."""
        task = self._tasks.get(guild_id)
        if guild_id in self.completed or (task is not None and not task.done()):
            return
        if "members" not in self.adapter.intents:
            log.warning("discord: the Server Members Intent is off, so the members of %s who were there "
                        "before Steward cannot be listed; the lurker scan and health will not see them", guild_id)
            return
        self._tasks[guild_id] = asyncio.create_task(self._load(guild_id), name=f"discord-members-{guild_id}")

    async def wait(self, guild_id: int, timeout: float | None = None) -> None:
        """Until the load of ``guild_id`` has ended (tests and the bench); re-raises its failure."""
        task = self._tasks.get(guild_id)
        if task is not None:
            await asyncio.wait_for(asyncio.shield(task), timeout)

    async def stop(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass

    async def _load(self, guild_id: int) -> None:
        adapter = self.adapter
        store = adapter.app.store
        scope = str(guild_id)
        since = adapter.connected_at
        run = await store.member_list_pass(tr.PLATFORM, scope, now=adapter.app.clock.now())
        after = run.cursor
        if after is not None:
            log.info("discord: continuing the member list of %s after %d members", guild_id, run.members)
        total = run.members
        try:
            while True:
                page = await self._page(guild_id, after)
                bot_id = adapter.bot.user.id if adapter.bot is not None and adapter.bot.user is not None else None
                records = [m for m in (tr.member_from_payload(d, bot_id=bot_id) for d in page)
                           if m is not None and _before(m.joined_at, since)]
                await store.add_members_bulk(records)
                if page:
                    after = str(max(int(d["user"]["id"]) for d in page if d.get("user")))
                done = len(page) < PAGE
                total += len(records)
                await store.member_list_page_done(tr.PLATFORM, scope, after, len(records),
                                                  completed_at=adapter.app.clock.now() if done else None)
                del page, records
                if done:
                    break
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("discord: loading the member list of %s failed; it continues at the next start",
                          guild_id)
            return
        self.completed.add(guild_id)
        log.info("discord: member list of %s complete: %d members known", guild_id, total)

    async def _page(self, guild_id: int, after: str | None) -> list[dict]:
        """One page of the list; waits out rate limits, 5xx answers and dropped connections."""
        delay = 1.0
        while True:
            bot = self.adapter.bot
            try:
                return await bot.http.get_members(guild_id, PAGE, int(after) if after else None)
            except discord.RateLimited as e:
                await asyncio.sleep(e.retry_after)
                continue
            except discord.HTTPException as e:
                if e.status != 429 and e.status < 500:
                    raise
                why = f"HTTP {e.status}"
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                why = type(e).__name__
            log.warning("discord: listing the members of %s: %s; again in %.0fs", guild_id, why, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)


def _before(joined_at: datetime | None, since: datetime | None) -> bool:
    return joined_at is None or since is None or joined_at < since
