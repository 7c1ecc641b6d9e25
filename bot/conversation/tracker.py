"""Reply structure of flat channels, message by message: which earlier message each new one replies
to (the shipped model, ``model.py``), and from those links, for each question: answered or not, when
first, by whom, and why, in words a community manager reads.

A question counts as answered when the replies from other members (not bots) linked to it so far
reach the decision threshold on the answer model (``answers.py``), when someone replies in its
thread, or when the asker thanks someone whose reply was linked to it. A question nobody has been linked to when it
leaves the window is unanswered, with the reason: what the messages after it were doing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from bot.conversation.answers import LIKELY, Evidence
from bot.conversation.features import NEVER, Line, Reader, Window
from bot.conversation.model import ReplyModel, logit, probability, shipped


@dataclass
class Question:
    platform: str
    channel_id: str
    message_id: str
    author_id: str
    at: float
    pos: int
    conversation: int
    status: str = "open"  # open | answered | resolved | unanswered
    answered_by: str | None = None
    first_response_at: float | None = None
    reason: str = ""
    #: the cue behind the answer, short ("addressed @asker", "replied in the thread", ...)
    how: str = ""
    #: the best link from another member so far (raw score, member), for the reason of a miss
    near: tuple[float, str] | None = None
    #: the answer model's row: the question's line and the replies so far (``answers.Evidence``)
    evidence: Evidence | None = None
    #: each member who replied since: how likely their likeliest line replies to this question (of the
    #: lines that replied to it rather than to another line of the asker's)
    replied: dict[str, float] = field(default_factory=dict)


@dataclass
class Outcome:
    """What one message did: the link it made (``parent`` with ``probability``; ``None`` starts a new
    conversation) and the questions it asked, answered or closed."""

    line: Line
    parent: Line | None = None
    probability: float = 0.0
    #: why the link was made, in words ("addressed them", "replied right after", ...)
    how: str = ""
    asked: Question | None = None
    answered: list[Question] = field(default_factory=list)
    #: questions that left the window with no answer
    unanswered: list[Question] = field(default_factory=list)


#: the thresholds as log-odds (a message needs two; they seldom change)
_logit = lru_cache(maxsize=16)(logit)


def _seconds(at: datetime | float) -> float:
    if isinstance(at, datetime):
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    return float(at)


def minutes_text(seconds: float) -> str:
    m = max(0, round(seconds / 60))
    if m < 1:
        return "within a minute"
    if m < 90:
        return f"{m} min later"
    h = m / 60
    return f"{h:.0f} h later" if h < 48 else f"{h / 24:.0f} days later"


def _how(line: Line, parent: Line) -> str:
    """The strongest visible cue behind a link."""
    if parent.author in line.addressed:
        return f"addressed @{parent.author}"
    if line.author in parent.addressed:
        return f"@{parent.author} had addressed them"
    gap = line.pos - parent.pos
    if gap == 1:
        return "replied right after"
    if line.thanks:
        return "said thanks"
    return f"followed {gap - 1} message{'s' if gap != 2 else ''} later in the same exchange"


class ConversationTracker:
    """Links each message of a channel to the one it replies to and decides questions from the links.

    ``threshold`` is the answer model's probability at or above which a question counts as answered:
    higher finds fewer answers (more questions reported unanswered, fewer of them wrongly),
    lower finds more.
    """

    def __init__(self, model: ReplyModel | None = None, *, threshold: float | None = None) -> None:
        self.model = model or shipped()
        self.threshold = self.model.threshold if threshold is None else threshold
        self.reader = Reader(self.model.max_lines, self.model.max_seconds, self.model.near, self.model.latest)
        self.open: dict[tuple[str, str], dict[str, Question]] = {}
        #: message id -> conversation number, per channel (bounded by the window)
        self.conv: dict[tuple[str, str], dict[str, int]] = {}
        self.next_conv = 0

    # ---- members
    def learn_name(self, platform: str, member_id: str, name: str | None, *, is_bot: bool = False) -> None:
        self.reader.learn_name(platform, member_id, name, is_bot=is_bot)

    def holds(self, platform: str, channel_id: str, message_id: str) -> bool | None:
        """Whether ``message_id`` is an open question here (``None``: nothing seen in the channel)."""
        qs = self.open.get((platform, channel_id))
        return None if qs is None else message_id in qs

    def line(self, platform: str, channel_id: str, message_id: str) -> Line | None:
        """A message still in the channel's window."""
        w = self.reader.windows.get((platform, channel_id))
        return next((x for x in reversed(w.lines) if x.message_id == message_id), None) if w else None

    def settle(self, platform: str, channel_id: str, message_id: str) -> None:
        """A question decided elsewhere (an accept reaction): no longer open here."""
        qs = self.open.get((platform, channel_id))
        if qs is not None:
            qs.pop(message_id, None)

    def forget(self, platform: str, member_id: str) -> None:
        self.reader.forget(platform, member_id)
        for (plat, _), qs in self.open.items():
            if plat == platform:
                for k in [k for k, q in qs.items() if q.author_id == member_id]:
                    del qs[k]
                for q in qs.values():
                    q.replied.pop(member_id, None)
                    if q.near is not None and q.near[1] == member_id:
                        q.near = None

    # ---- messages
    def observe(self, *, platform: str, channel_id: str, message_id: str, author_id: str,
                at: datetime | float, text: str, mentions: Iterable[str] = (), thread_id: str | None = None,
                reply_to: str | None = None, is_bot: bool = False, question: bool | None = None,
                thanks: bool | None = None) -> Outcome:
        """Feed one message (in order). ``question``: whether it asks one, ``thanks``: whether it
        thanks someone (default: the model's own cues: a question mark or an opening question word;
        a word of thanks)."""
        t = _seconds(at)
        key = (platform, channel_id)
        in_thread = thread_id is not None and thread_id != message_id
        if in_thread:
            # a reply inside a thread: linked to the thread's root, and kept out of the channel's
            # flat stream (the channel does not show it; it neither pushes the channel's questions out
            # of the window nor becomes a candidate for the channel's next lines)
            w, line = self.reader.aside(platform, channel_id, author_id, t, text, is_bot=is_bot,
                                        mentions=tuple(mentions), message_id=message_id)
            cands, rows = [], []
        else:
            w, line, cands, rows = self.reader.read(platform, channel_id, author_id, t, text, is_bot=is_bot,
                                                    mentions=tuple(mentions), message_id=message_id)
            if thread_id is not None:
                # the opening message of a thread of its own (a Discord forum post): it starts a
                # conversation, whatever came before it in the forum
                cands, rows = [], []
        out = Outcome(line)
        open_qs = self.open.setdefault(key, {})
        convs = self.conv.setdefault(key, {})
        root = thread_id if in_thread else reply_to
        raw, raw_above = self.model.raw, self.model.raw_above
        cut = _logit(self.model.link_threshold)
        answer_cut = _logit(self.threshold)
        best_z, best = -1e9, None
        may_answer = bool(open_qs) and not line.is_bot
        #: the open questions among the candidates, and every line of their askers (exact scores:
        #: the answer model compares a question's link with the asker's other lines)
        linked: list[tuple[float, Question, Line]] = []
        askers = {c.author for c in cands if c.author != author_id and c.message_id in open_qs
                  and open_qs[c.message_id].status == "open"} if may_answer else ()
        by_asker: dict[str, list[tuple[float, str]]] = {}
        for c, r in zip(cands, rows, strict=True):
            if c.author in askers and c.author != author_id:
                z = raw(r)
                by_asker.setdefault(c.author, []).append((z, c.message_id))
                q = open_qs.get(c.message_id)
                if q is not None and q.status == "open":
                    linked.append((z, q, c))
                    if q.near is None or z > q.near[0]:
                        q.near = (z, author_id)
            else:
                # only whether it is the parent matters here: a candidate that cannot beat the
                # best so far nor reach the link threshold is dropped before all trees are summed
                z = raw_above(r, best_z if best_z > cut else cut)
            if z > best_z:
                best_z, best = z, c
        answer_above = self.model.answer_above
        #: per asker, the question of theirs this message answers: the one it most likely replies to
        hits: dict[str, tuple[float, Question, Line]] = {}
        for z, q, c in linked:
            other = max((z2 for z2, mid in by_asker[c.author] if mid != c.message_id), default=None)
            ev = q.evidence
            pz = probability(z)
            if (other is None or z >= other) and pz > q.replied.get(author_id, 0.0):
                q.replied[author_id] = pz
            ev.add(pz, chosen=z >= best_z and z >= cut, asker_other=0.0 if other is None else probability(other),
                   addressed=c.author in line.addressed)
            if answer_above(ev.row, answer_cut) >= answer_cut and (c.author not in hits or z > hits[c.author][0]):
                hits[c.author] = (z, q, c)
        for _, q, c in hits.values():
            self._answer(q, line, t, _how(line, c), out)
        if root:
            # the root anywhere in the window or lately gone from it, not only among the candidates: a
            # thread's root is often further back than the lines a message is scored against
            parent = w.root(root)
            out.parent, out.probability, out.how = parent, 1.0, "replied in the thread"
            q = open_qs.get(root)
            if q is not None and q.status == "open" and q.author_id != author_id and not line.is_bot:
                self._answer(q, line, t, "replied in the thread", out)
        elif best is not None and best_z >= cut:
            out.parent, out.probability, out.how = best, probability(best_z), _how(line, best)
        if (line.thanks if thanks is None else thanks) and not line.is_bot and open_qs:
            self._thanks(open_qs, line, cands, out)
        conv = convs.get(out.parent.message_id) if out.parent is not None else None
        if conv is None:
            self.next_conv += 1
            conv = self.next_conv
        convs[message_id] = conv
        if question is None:
            question = line.question
        if question and not line.is_bot and not root:
            q = Question(platform, channel_id, message_id, author_id, t, line.pos, conv,
                         evidence=Evidence.of(line, line.pos - w.prev_of_author.get(author_id, line.pos - NEVER)))
            open_qs[message_id] = q
            out.asked = q
        if not in_thread:
            w.add(line)
        self._expire(w, open_qs, convs, line, out)
        return out

    def _answer(self, q: Question, line: Line, t: float, how: str, out: Outcome) -> None:
        q.status, q.answered_by, q.first_response_at, q.how = "answered", line.author, t, how
        q.reason = f"answered by @{line.author} {minutes_text(t - q.at)} ({how})"
        out.answered.append(q)

    def _thanks(self, open_qs: dict[str, Question], line: Line, cands: list[Line], out: Outcome) -> None:
        """The asker thanking a member (the thanks addresses them or is linked to their line) answers
        the question at once when that member's reply was linked to it (at least ``LIKELY``) or when
        nobody else has spoken since it. A thanks alone does not: in the annotated logs, most thanks
        that answered a question with no likely reply to it were for an answer to another line of the
        asker's (an earlier wording, a repeat)."""
        linked = out.parent
        for q in open_qs.values():
            if q.author_id != line.author or q.status != "open":
                continue
            since = [c for c in cands if c.pos > q.pos and not c.is_bot and c.author != line.author]
            alone = {c.author for c in since}
            ok = {a for a in alone if q.replied.get(a, 0.0) >= LIKELY} if len(alone) > 1 else alone
            helper = next((c for c in since if c.author in line.addressed and c.author in ok), None)
            if helper is None and linked is not None and linked.pos > q.pos and linked.author in ok:
                helper = linked
            if helper is not None:
                q.status, q.answered_by, q.first_response_at = "answered", helper.author, helper.at
                q.how = f"@{q.author_id} said thanks"
                q.reason = f"answered by @{helper.author} {minutes_text(helper.at - q.at)} ({q.how})"
                out.answered.append(q)

    def _expire(self, w: Window, open_qs: dict[str, Question], convs: dict[str, int], line: Line,
                out: Outcome) -> None:
        """Questions out of the window can no longer be linked to: unanswered, with the reason."""
        if not open_qs:
            if len(convs) > 4 * w.max_lines:
                self._trim(w, convs)
            return
        gone = []
        for k, q in open_qs.items():
            if q.status != "open":
                gone.append(k)
            elif line.pos - q.pos >= w.max_lines or line.at - q.at > w.max_seconds:
                gone.append(k)
                q.status = "unanswered"
                q.reason = self._miss_reason(w, q, convs)
                out.unanswered.append(q)
        for k in gone:
            del open_qs[k]
        if len(convs) > 4 * w.max_lines:
            self._trim(w, convs)

    def _trim(self, w: Window, convs: dict[str, int]) -> None:
        keep = {x.message_id for x in w.lines}
        for k in [k for k in convs if k not in keep]:
            del convs[k]

    def _miss_reason(self, w: Window, q: Question, convs: dict[str, int]) -> str:
        lines = w.lines
        # a question that left by the line count is older than every line in the window
        after = lines if lines and lines[0].pos > q.pos else [x for x in lines if x.pos > q.pos]
        if not after:
            return "no reply linked: nobody wrote after it"
        get = convs.get
        conv_of = [get(x.message_id) for x in after]
        own = conv_of.count(q.conversation)
        others = set(conv_of)
        others.discard(q.conversation)
        n = len(after)
        text = (f"no reply linked: the next {n} message{'s' if n != 1 else ''} belonged to "
                f"{len(others)} other conversation{'s' if len(others) != 1 else ''}")
        if own:
            text += f" ({own} continued it, none from another member)"
        if q.near is not None and probability(q.near[0]) >= 0.05:
            text += f"; closest: @{q.near[1]} ({probability(q.near[0]):.0%} likely a reply)"
        return text

    def close_all(self) -> list[Question]:
        """End of input: every open question is unanswered (with its reason)."""
        out = []
        for key, qs in self.open.items():
            w = self.reader.windows.get(key)
            convs = self.conv.get(key, {})
            for q in qs.values():
                if q.status == "open":
                    q.status = "unanswered"
                    q.reason = self._miss_reason(w, q, convs) if w else "no reply linked"
                    out.append(q)
            qs.clear()
        return out

