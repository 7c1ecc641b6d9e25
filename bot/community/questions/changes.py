"""What a conversation tracker reports, message by message, and what ``QuestionService`` writes from
it: a question asked, answered, resolved or let go of unanswered, or one member replying to another."""

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
    status: str = "open"  # open | answered | resolved
    answered_by: list[str] = field(default_factory=list)
    first_response_at: datetime | None = None
    #: why it was decided, in words ("answered by @x 2 min later (addressed @y)", "no reply linked: ...")
    evidence: str = ""


@dataclass
class Change:
    """What one observed message changed: a new question, a question now answered, resolved or (when
    it leaves the window with no reply linked) ``unanswered``, or (``replied``, without a question)
    one member replying to another. ``evidence``: the cue, short ("addressed @x"); the question's
    own ``evidence`` is the whole reason ("answered by @y 2 min later (addressed @x)")."""

    kind: str  # asked | answered | resolved | unanswered | replied
    question: TrackedQuestion | None
    by: str | None = None
    at: datetime | None = None
    evidence: str = ""
    #: for ``replied``: whom, the message replied to, and where
    to: str | None = None
    ref: str | None = None
    platform: str = ""
    channel_id: str = ""
