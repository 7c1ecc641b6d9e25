"""Who may do what: the one place that decides whether a member is an admin, a manager, a moderator
or staff. Every command, button, rule and policy asks here; nothing else reads ``[managers]``.

- **admin**: the platform itself says so: a Slack workspace admin or owner (recorded from
  ``users.info``), a Discord member with *Manage Server* (reported with the interaction).
- **manager**: an admin, or named in ``[managers]``: ``slack_user_ids`` / ``discord_user_ids``, a
  member of ``slack_usergroup``, a holder of one of ``discord_role_ids``.
- **moderator** (decides moderation cases, approves ambassadors, resolves questions) and **staff**
  (never nudged, never suggested as an ambassador, exempt from the mass-mention rule) are the
  managers: there is one list in the config, so there is one answer.

Roles come from what the platform reported with the event (Discord role IDs, Slack user groups
looked up for the command or click), from the stored member record, and, for Slack user groups on
other paths, from a lookup the Slack adapter registers (cached there). Nobody decides about
themselves: see :func:`about_themselves`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

#: what a clicker who may not act is told (privately, where they clicked)
NOT_A_MANAGER = "Sorry, only community managers can use these buttons. Nothing was changed."
NOT_ABOUT_YOURSELF = "You can't decide this one: it is about you. Another manager will take it. Nothing was changed."

#: the facts key an observer fills with the words for a clicker whose click was turned down; the
#: adapter answers with them (privately, in the click's own response) instead of its usual confirmation
CLICK_ANSWER = "click.answer"


@dataclass(frozen=True)
class Standing:
    """What one member may do, as decided by :class:`Roles`."""

    admin: bool = False
    manager: bool = False

    @property
    def moderator(self) -> bool:
        return self.manager

    @property
    def staff(self) -> bool:
        return self.manager


GroupLookup = Callable[[str], Awaitable[tuple[str, ...]]]


class Roles:
    """Decides roles from the settings, the stored member and what the platform reported."""

    def __init__(self, settings: Any, store: Any = None) -> None:
        self.settings = settings
        self.store = store
        #: per platform, how to ask the platform which groups a member is in (the Slack adapter sets it)
        self.group_lookup: dict[str, GroupLookup] = {}

    # ------------------------------------------------------------------ the configuration
    def configured_ids(self, platform: str) -> frozenset[str]:
        """Member IDs named in ``[managers]`` for ``platform``."""
        m = getattr(self.settings, "managers", None)
        return frozenset(getattr(m, f"{platform}_user_ids", None) or ()) if m is not None else frozenset()

    def configured_groups(self, platform: str) -> frozenset[str]:
        """User groups (Slack) or role IDs (Discord) whose members are managers."""
        m = getattr(self.settings, "managers", None)
        if m is None:
            return frozenset()
        if platform == "slack":
            return frozenset([m.slack_usergroup] if m.slack_usergroup else [])
        if platform == "discord":
            return frozenset(m.discord_role_ids or ())
        return frozenset()

    def staff_ids(self, platform: str) -> tuple[str, ...]:
        """The configured managers, for scans that filter in SQL (their stored flag covers the admins)."""
        return tuple(sorted(self.configured_ids(platform)))

    # ------------------------------------------------------------------ deciding
    def record_is_staff(self, platform: str, member: Any) -> bool:
        """From a stored member record alone (scans): admin flag, configured ID or configured role."""
        if member is None:
            return False
        if getattr(member, "is_staff", False):
            return True
        mid = str(getattr(member, "member_id", ""))
        if mid in self.configured_ids(platform):
            return True
        return bool(self.configured_groups(platform) & set(getattr(member, "roles", None) or ()))

    async def standing(self, platform: str, member_id: str, *, roles: tuple[str, ...] = (),
                       platform_admin: bool = False, member: Any = None) -> Standing:
        """What ``member_id`` may do. ``roles`` and ``platform_admin`` are what the platform reported
        with the event; the stored record and (for Slack user groups) the platform fill in the rest."""
        if not member_id:
            return Standing()
        if member is None and self.store is not None:
            member = await self.store.get_member(platform, member_id)
        admin = bool(platform_admin or (member is not None and member.is_staff))
        if admin or member_id in self.configured_ids(platform):
            return Standing(admin=admin, manager=True)
        groups = self.configured_groups(platform)
        if not groups:
            return Standing()
        held = set(roles) | set(getattr(member, "roles", None) or ())
        if groups & held:
            return Standing(manager=True)
        lookup = self.group_lookup.get(platform)
        if lookup is not None:
            try:
                if groups & set(await lookup(member_id)):
                    return Standing(manager=True)
            except Exception:  # the platform did not answer: no role is granted on a guess
                return Standing()
        return Standing()

    async def is_manager(self, platform: str, member_id: str, **kw: Any) -> bool:
        return (await self.standing(platform, member_id, **kw)).manager

    async def is_moderator(self, platform: str, member_id: str, **kw: Any) -> bool:
        return (await self.standing(platform, member_id, **kw)).moderator

    async def is_staff(self, platform: str, member_id: str, **kw: Any) -> bool:
        return (await self.standing(platform, member_id, **kw)).staff


def about_themselves(actor_id: str, subject_id: str | None) -> bool:
    """A decision about oneself (approving oneself as ambassador, deciding a case about oneself)."""
    return bool(actor_id) and bool(subject_id) and str(actor_id) == str(subject_id)


def roles_of(engine: Any) -> Roles:
    """The engine's roles (one per app); built from its settings and store when a test made none."""
    r = getattr(engine, "roles", None)
    if r is None:
        r = Roles(getattr(engine, "settings", None), getattr(engine, "store", None))
        engine.roles = r
    return r
