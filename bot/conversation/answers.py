"""Whether a question was answered, from the reply links around it: the second stage of the model.

The reply-link model scores each message against the lines before it. Whether a question was
answered rests on more than its single best link: whether that reply went to this line or to
another line of the asker's, how many people took it up, whether the reply addressed the asker, and
what kind of line the question was (addressed to someone, a continuation of the asker's last line,
short or long). A second small tree ensemble reads those and gives the probability that the question
was answered.

Its reply features only ever grow as replies come in, and the ensemble was fitted to rise with each
of them (monotonic constraints), so the probability only grows too: a question that reaches the
threshold after some replies would reach it after all of them. Steward can therefore decide at once,
message by message, and still decide exactly as the model fitted on whole windows would.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversation.features import NEVER, Line

#: the answer model's features, in the order of its row: what the question line is (fixed when it is
#: asked), then what the replies so far add up to (each only grows)
ANSWER_FEATURES = (
    "question_addresses_any", "question_length", "question_prev_gap", "question_leading_address",
    "question_words",
    "best_reply", "best_reply_chosen", "replies_combined", "replies_likely", "best_reply_over_asker",
    "best_addressed_reply",
)
N_STATIC = 5
#: +1: the answer model's probability may only rise with the feature (0: either way)
MONOTONE = (0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1)
#: a reply at least this likely counts towards ``replies_likely``
LIKELY = 0.2


@dataclass(slots=True)
class Evidence:
    """One question's answer-model row, kept up to date as replies come in."""

    row: list[float]

    @classmethod
    def of(cls, line: Line, prev_gap: int) -> Evidence:
        """The question ``line``; ``prev_gap``: lines since the asker's line before (``NEVER``: none)."""
        return cls([1.0 if line.addressed else 0.0, float(line.length), float(min(prev_gap, NEVER)),
                    1.0 if line.leading else 0.0, float(len(line.words)),
                    0.0, 0.0, 0.0, 0.0, 0.0, 0.0])

    def add(self, p: float, *, chosen: bool, asker_other: float, addressed: bool) -> None:
        """A reply by another member linked to the question with probability ``p``; ``chosen``: the
        question was that message's link (its most likely parent, above the link threshold: with
        ``raw_above`` the only case where the most likely parent is known exactly); ``asker_other``: the message's best link to
        another line of the asker's; ``addressed``: the message addressed the asker."""
        r = self.row
        if p > r[5]:
            r[5] = p
        if chosen and p > r[6]:
            r[6] = p
        r[7] = 1.0 - (1.0 - r[7]) * (1.0 - p)
        if p >= LIKELY:
            r[8] += 1.0
        if p - asker_other > r[9]:
            r[9] = p - asker_other
        if addressed and p > r[10]:
            r[10] = p
