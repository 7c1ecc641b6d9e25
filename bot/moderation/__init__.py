"""Moderation: rules, raids, the case queue and moderator decisions. Registers on import."""

from bot import checks
from bot.moderation import raids, rules  # noqa: F401
from bot.moderation.queue import check_settings

if check_settings not in checks.EXTRA_CHECKS:
    checks.EXTRA_CHECKS.append(check_settings)
