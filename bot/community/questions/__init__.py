"""Questions: detect them (English and Dutch), decide whether each was answered, and escalate the
ones that were not.

- ``detect``: is a message a question, a thanks; mentions; content words (pure)
- ``tracker``: the conversation tracker, which decides answers in flat channels from the reply-link
  model of ``bot.conversation`` (pure)
- ``changes``: what a tracker reports (``Change``, ``TrackedQuestion``)
- ``settings``: ``[features.questions]`` and the answer rules
- ``service``: ``QuestionService``, which feeds the tracker and writes the questions table in batches
  (with the statements of ``statements``)
- ``unanswered``: the ``unanswered_questions`` scan and the ``escalate_question`` action
"""

from bot.community.questions.changes import Change, TrackedQuestion
from bot.community.questions.detect import (
    QuestionCheck,
    check_question,
    is_question,
    is_thanks,
    keywords,
    mentioned_in,
)
from bot.community.questions.service import HELPS, MT, QT, REPLY, QuestionService
from bot.community.questions.settings import AnswerRules, QuestionSettings, question_settings
from bot.community.questions.tracker import ConversationTracker
from bot.community.questions.unanswered import (
    EscalateParams,
    UnansweredParams,
    channel_names,
    escalate_question,
    open_questions,
    question_view,
    similar_helpers,
    unanswered_questions,
)

__all__ = [
    "HELPS", "MT", "QT", "REPLY", "AnswerRules", "Change", "ConversationTracker", "EscalateParams",
    "QuestionCheck", "QuestionService", "QuestionSettings", "TrackedQuestion", "UnansweredParams",
    "channel_names", "check_question", "escalate_question", "is_question", "is_thanks", "keywords",
    "mentioned_in", "open_questions", "question_settings", "question_view", "similar_helpers",
    "unanswered_questions",
]
