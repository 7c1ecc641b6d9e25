"""Greetings, outreach caps and consent by reply: the outreach feature."""

from bot.engine.feature import Feature
from bot.outreach import greetings, install, journeys, limits

FEATURE = Feature(
    "outreach",
    registers=(greetings, journeys, limits),
    install=install.install,
    checks=(limits.check_outreach_caps,),
    sample_context=install.sample_context,
)
