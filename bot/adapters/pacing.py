"""Every API request an adapter makes waits for its slot under the platform's limits.

The platforms count requests, whichever code makes them: Discord's global limit covers every route,
and each Slack method has its tier. Both client libraries send through an aiohttp session, whose
``on_request_start`` hook is awaited before each request goes out (their own retries included), so
one hook there paces them all: it asks the delivery worker's pacer (``Pacer.before_request``), which lets a
request that its send has already reserved a slot for go at once (see bot/delivery/pacing.py).
The same trace's ``on_request_end`` sees every answer, so it counts the platform's 429s
(``steward_rate_limited_total``), whichever code asked and whether or not the library retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL


def paced_trace(platform: str, pacer: Callable[[], Any], method_of: Callable[[str, URL], str | None],
                rate_limited: Callable[[], None] | None = None) -> aiohttp.TraceConfig:
    """A trace config whose hook waits for ``pacer()`` (None: not pacing) before each request;
    ``method_of(http_method, url)`` names the API method (None: not counted). ``rate_limited()``
    is called for each answer 429."""

    async def on_start(session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        p = pacer()
        if p is None:
            return
        name = method_of(params.method, params.url)
        if name is not None:
            await p.before_request(platform, name)

    async def on_end(session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status == 429 and rate_limited is not None:
            rate_limited()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    return trace
