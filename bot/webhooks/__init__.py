"""Webhooks out: signed events to the endpoints in ``[features.webhooks]``, through the outbox."""

from bot.engine.feature import Feature
from bot.webhooks import install

FEATURE = Feature("webhooks", install=install.install, checks=(install.check_webhooks,))
