"""An introduction's private thread on Discord, made once.

discord.py repeats a request answered 500, 502, 504 or 524 by itself, with the same body: for a
message the nonce makes the repeat harmless, but a thread has no nonce, so a repeat after Discord
made the thread would make a second one. ``start_private_thread`` therefore sends the create once
(through discord.py's address, token and proxy) and reports a 5xx as the error it is; the outbox
then holds the row as ``unsure``, and before any retry ``find_thread`` looks in the intros channel
for the thread the lost attempt made (made by the bot, under that channel, with that name, since
the row was written), so the retry finishes that thread instead of making another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
import discord
from discord.http import Route, json_or_text

#: a week: the longest a private thread stays open without activity
ARCHIVE_MINUTES = 10080


async def start_private_thread(bot: Any, channel_id: str, name: str) -> dict[str, Any]:
    """POST /channels/{id}/threads once (type 12, not invitable); Discord's errors as discord.py raises them."""
    http = bot.http
    route = Route("POST", "/channels/{channel_id}/threads", channel_id=int(channel_id))
    body = {"name": name, "auto_archive_duration": ARCHIVE_MINUTES, "type": 12, "invitable": False}
    headers = {"Authorization": f"Bot {http.token}", "User-Agent": http.user_agent}
    async with aiohttp.ClientSession() as session, session.post(
            route.url, json=body, headers=headers, proxy=http.proxy, proxy_auth=http.proxy_auth) as r:
        data = await json_or_text(r)
        if 200 <= r.status < 300 and isinstance(data, dict):
            return data
        if r.status == 429:
            retry = data.get("retry_after", 1.0) if isinstance(data, dict) else 1.0
            raise discord.RateLimited(float(retry))
        if r.status == 403:
            raise discord.Forbidden(r, data)
        if r.status == 404:
            raise discord.NotFound(r, data)
        if r.status >= 500:
            raise discord.DiscordServerError(r, data)
        raise discord.HTTPException(r, data)


async def find_thread(bot: Any, channel_id: str, name: str, since: datetime) -> dict[str, Any] | None:
    """The oldest active thread under ``channel_id`` that the bot made since ``since`` with ``name``."""
    channel = bot.get_channel(int(channel_id)) or await bot.fetch_channel(int(channel_id))
    guild = getattr(channel, "guild", None)
    if guild is None or bot.user is None:
        return None
    data = await bot.http.get_active_threads(guild.id)
    floor = discord.utils.time_snowflake(since)
    me = str(bot.user.id)
    found = [t for t in data.get("threads") or []
             if str(t.get("parent_id")) == str(channel_id) and str(t.get("owner_id")) == me
             and t.get("name") == name and int(t["id"]) >= floor]
    return min(found, key=lambda t: int(t["id"])) if found else None
