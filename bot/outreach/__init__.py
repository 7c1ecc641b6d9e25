"""Registers its scans, conditions and actions on import."""

from bot.outreach import limits  # noqa: F401
