"""Questions, lurker nudges, ambassador candidates and their digests: the community feature."""

from bot.community import ambassadors, digest, install, interests, intros, lurkers, questions
from bot.engine.feature import Feature

FEATURE = Feature(
    "community",
    registers=(ambassadors, digest, intros, lurkers, questions),
    install=install.install,
    checks=(interests.check_topics,),
    findings=(install.question_findings, ambassadors.ambassador_findings, lurkers.lurker_findings,
              install.newcomer_findings, interests.interest_findings),
    demo=(install.demo_section, interests.demo_section),
    sample_context=install.sample_context,
)
