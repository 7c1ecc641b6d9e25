"""The webhook gateway: the delivery worker sends webhook outbox rows through it, like a platform's.

A webhook row is an outbox row on the pseudo-platform ``webhook``: ``channel_id`` names the
endpoint, ``text`` is the request body (fixed when the event was queued), the dedupe key is the
endpoint's and the event's, so each endpoint gets each event once. Each attempt is signed anew
(bot/webhooks/signing.py) and POSTed with aiohttp.

The endpoint's retry schedule is kept here, not in the worker's attempt count: a timeout, a
connection error, a 5xx or a 429 comes back as ``retry_after`` (a deferral, which never counts
towards the worker's attempts), waiting about as long as the event is already old (so waits
double: 5 s, 10 s, 20 s ... up to ``backoff_max_seconds``), until the event is ``give_up_after``
old: then the failure is permanent and the row is recorded as failed (``steward failures``,
ERROR in the log). Any other 4xx is permanent at once: the receiver refused this request.

A receiver cannot be asked whether a request arrived whose answer was lost (a timeout, a crash of
this instance mid-request), so such a request is sent again: the event's ``id`` is the same, and
the receiver keeps what it has seen (as with Stripe's and Slack's retries)."""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime

import aiohttp

from bot.core.clock import Clock, as_utc
from bot.core.records import OutboundMessage, SendResult
from bot.webhooks.options import Endpoint, WebhookOptions
from bot.webhooks.signing import HEADER, header

log = logging.getLogger("steward.webhooks")

PLATFORM = "webhook"
USER_AGENT = "Steward-Webhooks/1"


class WebhookGateway:
    platform = PLATFORM

    def __init__(self, options: WebhookOptions, clock: Clock, secrets) -> None:
        self.options = options
        self.clock = clock
        #: ``secrets(env_name) -> str | None`` (the settings' lookup in the environment)
        self.secrets = secrets
        self._session: aiohttp.ClientSession | None = None

    async def post(self, endpoint: Endpoint, body: str) -> tuple[int | None, str]:
        """POST a signed body once: (HTTP status or None when there was no answer, what happened)."""
        secret = self.secrets(endpoint.secret_env)
        if not secret:
            return None, f"the environment variable {endpoint.secret_env} (the signing secret) is not set"
        data = body.encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   HEADER: header(secret, data)}
        try:
            doc = json.loads(body)
            headers["Steward-Event-Id"] = str(doc.get("id", ""))
            headers["Steward-Event"] = str(doc.get("type", ""))
        except ValueError:
            pass
        if self._session is None or self._session.closed:
            # one session, so requests to an endpoint reuse their connections (about 3x the rate of a
            # new connection each); closed with the app (App.close → aclose)
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(endpoint.url, data=data, headers=headers, allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=self.options.timeout_seconds)) as r:
                await r.read()
                return r.status, f"http {r.status}"
        except TimeoutError:
            return None, f"no answer within {self.options.timeout_seconds:g}s"
        except aiohttp.ClientError as e:
            return None, f"{type(e).__name__}: {e}"[:300]

    async def send(self, message: OutboundMessage) -> SendResult:
        name = message.channel_id or ""
        endpoint = self.options.endpoints.get(name)
        if endpoint is None:
            return SendResult(ok=False, permanent=True, error=f"webhook endpoint {name!r} is no longer configured")
        if not message.text:  # a forget erased the event (it named the forgotten member)
            return SendResult(ok=False, permanent=True, error=f"{name}: the event was erased by a forget")
        status, what = await self.post(endpoint, message.text)
        if status is not None and 200 <= status < 300:
            return SendResult(ok=True, native_id=f"http {status}")
        if status is not None and 400 <= status < 500 and status not in (408, 409, 425, 429):
            return SendResult(ok=False, permanent=True, error=f"{name}: refused ({what})")
        return self._later(name, message, what)

    def _later(self, name: str, message: OutboundMessage, what: str) -> SendResult:
        """Try again later, or give up once the event is ``give_up_after`` old."""
        now = self.clock.now()
        age = max(0.0, (now - _created(message, now)).total_seconds())
        left = self.options.give_up.total_seconds() - age
        if left <= 0:
            log.error("webhook %s: gave up on an event after %s: %s", name, self.options.give_up_after, what)
            return SendResult(ok=False, permanent=True,
                              error=f"{name}: gave up after {self.options.give_up_after}: {what}")
        wait = min(self.options.backoff_max_seconds, max(self.options.backoff_base_seconds, age))
        wait = min(left, wait * random.uniform(0.75, 1.0))
        return SendResult(ok=False, error=f"{name}: {what}; retrying", retry_after=max(wait, 0.05))

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _created(message: OutboundMessage, default: datetime) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(json.loads(message.text)["created_at"].replace("Z", "+00:00")))
    except (ValueError, KeyError, TypeError):
        return default
