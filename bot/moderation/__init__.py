"""Moderation: rules, raids, the case queue and moderator decisions: the moderation feature."""

from bot.engine.feature import Feature
from bot.moderation import demo, install, raids, rules
from bot.moderation.queue import check_settings

FEATURE = Feature(
    "moderation",
    registers=(raids, rules),
    install=install.install,
    checks=(check_settings,),
    demo=(demo.show_cases,),
    sample_context=install.sample_context,
)
