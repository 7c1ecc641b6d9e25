"""Registers its scans, conditions and actions on import."""

from bot.outreach import greetings, limits  # noqa: F401
