"""Registers its scans, conditions and actions on import."""

from bot.community import ambassadors, digest, lurkers, questions  # noqa: F401
