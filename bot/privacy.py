"""Privacy: forget a member, export a member's data, prune message text after the retention window.

``steward forget MEMBER``, ``steward export-member MEMBER`` and ``steward prune`` call these, and so
does ``/steward forget @member`` (managers only). What is erased and what is kept is described in
``bot/storage/personal_data.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.errors import StewardError
from bot.storage import personal_data

if TYPE_CHECKING:
    from bot.app import App
    from bot.core.events import CommandInvoked
    from bot.storage.repositories import Store
    from bot.webhooks.queue import WebhookQueue

_MENTION = re.compile(r"^<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>$")


@dataclass(frozen=True)
class MemberRef:
    platform: str
    member_id: str


def parse_member(text: str, default_platform: str | None = None) -> MemberRef:
    """``slack:U123``, ``discord:123``, a mention (``<@U123>``, ``<@!123>``) or a bare ID with a platform."""
    raw = text.strip()
    platform = default_platform
    if ":" in raw and not raw.startswith("<"):
        platform, raw = raw.split(":", 1)
    m = _MENTION.match(raw)
    if m:
        raw = m.group(1)
    raw = raw.lstrip("@")
    if platform not in ("slack", "discord"):
        raise StewardError(f"{text!r}: say which platform, e.g. slack:U0123ABCD or discord:112233445566778899")
    if not re.fullmatch(r"[A-Za-z0-9]+", raw or ""):
        raise StewardError(f"{text!r} is not a member ID")
    return MemberRef(platform, raw)


async def forget_member(store: Store, ref: MemberRef, *, actor: str, now: datetime,
                        webhooks: WebhookQueue | None = None) -> personal_data.ForgetReport:
    """Erase a member's personal data and record that it happened (under the pseudonym only).
    With ``webhooks``: events about them not sent yet are dropped, and ``member.forgotten`` is
    queued (carrying the ID they had, so the CRM can forget them too)."""
    if webhooks is not None:
        await webhooks.drop_pending(ref.platform, ref.member_id)
    report = await personal_data.forget(store, ref.platform, ref.member_id)
    await store.audit(at=now, platform=ref.platform, actor=actor, action="forget", target=report.pseudonym,
                      detail={"rows": report.total})
    if webhooks is not None:
        await webhooks.member_event("member.forgotten", ref.platform, ref.member_id, key=report.pseudonym)
    return report


async def export_member(store: Store, ref: MemberRef, *, now: datetime) -> dict[str, Any]:
    data = await personal_data.export(store, ref.platform, ref.member_id)
    data["exported_at"] = now.isoformat()
    return data


async def prune(store: Store, retention_days: int, *, now: datetime) -> dict[str, int]:
    """Erase message text older than the retention window (0 days: all of it)."""
    return await personal_data.prune_text(store, now - timedelta(days=retention_days))


async def _forget_command(app: App, ev: CommandInvoked):
    from bot.commands import Reply

    if not ev.args:
        return Reply("Usage: `/steward forget @member`")
    try:
        ref = parse_member(ev.args[0], ev.platform)
    except StewardError as e:
        return Reply(str(e))
    await app.store.flush()  # what the features still buffer about them is written first, then erased
    report = await forget_member(app.store, ref, actor=ev.member_id, now=app.clock.now(),
                                 webhooks=app.services.webhooks)
    await app.forget_in_memory(ref.platform, ref.member_id)
    return Reply(f"Done: that member's personal data is erased ({report.total} record(s) changed). "
                 "Anonymous counts remain, and so does an opt-out if they had one.")


def install(app: App) -> None:
    """Register ``/steward forget``."""
    from bot.commands import commands_for

    commands_for(app).register("forget", _forget_command)
