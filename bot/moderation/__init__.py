"""Moderation: rules (conditions), the case queue and moderator decisions. Registers on import."""

from bot.moderation import rules  # noqa: F401
