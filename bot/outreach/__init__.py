"""Greetings, outreach caps and consent by reply: the outreach feature."""

from bot.engine.feature import Feature
from bot.outreach import greetings, install, limits

FEATURE = Feature(
    "outreach",
    registers=(greetings, limits),
    install=install.install,
    checks=(limits.check_outreach_caps,),
    sample_context=install.sample_context,
)
