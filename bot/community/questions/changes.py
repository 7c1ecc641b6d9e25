"""What a conversation tracker reports, message by message, and what ``QuestionService`` writes from
it: a question asked, answered or resolved, or one member replying to another."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class TrackedQuestion:
    platform: str
    channel_id: str
    message_id: str
    author_id: str
    asked_at: datetime
    text: str
    addressed: frozenset[str]
    pos: int
    status: str = "open"  # open | answered | resolved
    answered_by: list[str] = field(default_factory=list)
    first_response_at: datetime | None = None
    evidence: str = ""
    #: the asker has asked something newer: a reply to the asker now answers that instead
    superseded: bool = False
    #: members the asker has since said something newer to
    superseded_for: set[str] = field(default_factory=set)


@dataclass
class Change:
    """What one observed message changed: a new question, a question now answered, or (``replied``,
    without a question) one member replying to another."""

    kind: str  # asked | answered | resolved | replied
    question: TrackedQuestion | None
    by: str | None = None
    at: datetime | None = None
    evidence: str = ""
    #: for ``replied``: whom, the message replied to, and where
    to: str | None = None
    ref: str | None = None
    platform: str = ""
    channel_id: str = ""
