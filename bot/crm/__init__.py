"""CRM: member attributes in (``steward crm import``), usable in templates and conditions."""

from typing import Any

from bot.crm import conditions
from bot.engine.feature import Feature

#: what ``steward check`` renders templates with as ``member.attributes``
SAMPLE_ATTRIBUTES = {"membership": "student", "region": "North", "language": "en",
                     "interests": ["events", "mentoring"], "start_date": "2024-09-01"}


def sample_context(base: dict[str, Any]) -> dict[str, Any]:
    member = {**(base.get("member") or {}), "attributes": dict(SAMPLE_ATTRIBUTES)}
    return {"member": member, "actor": member}


FEATURE = Feature("crm", registers=(conditions,), sample_context=sample_context)
