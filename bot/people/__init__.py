"""One person, two platforms: linking a member's Slack and Discord accounts, and counting people,
not accounts, where it matters (opt-outs, caps, quiet hours, welcomes)."""

from bot.engine.feature import Feature
from bot.people import install

FEATURE = Feature("people", install=install.install)
