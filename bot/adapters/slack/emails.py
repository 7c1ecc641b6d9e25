"""Finding a Slack member by e-mail address (``users.lookupByEmail``, Tier 3; needs the
``users:read.email`` scope): what ``steward crm import`` matches CRM rows with."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.runtime import _base_url


def email_lookup(settings: Any):
    """``await lookup(email)`` → ([("slack", member_id)], why none), or None when Slack is not
    configured (no bot token)."""
    cfg = settings.slack
    token = settings.secret(cfg.bot_token_env)
    if not cfg.enabled or not token:
        return None
    client = AsyncWebClient(token=token, base_url=_base_url(cfg.api_base_url), retry_handlers=[
        AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=5)])
    scope_missing = False

    async def lookup(email: str) -> tuple[list[tuple[str, str]], str]:
        nonlocal scope_missing
        if scope_missing:
            return [], "Slack did not grant users:read.email: e-mail addresses cannot be matched"
        try:
            r = await client.users_lookupByEmail(email=email)
        except SlackApiError as e:
            err = e.response.get("error", "") if e.response is not None else ""
            if err == "users_not_found":
                return [], "no Slack member has this e-mail address"
            if err == "missing_scope":
                scope_missing = True
                return [], "Slack did not grant users:read.email: e-mail addresses cannot be matched"
            return [], f"Slack answered {err or 'an error'}"
        user = r.get("user") or {}
        if user.get("deleted") or user.get("is_bot"):
            return [], "the Slack account with this e-mail address is deactivated or a bot"
        return [("slack", str(user["id"]))], ""

    return lookup
