"""Measuring reply structure against human annotations: unanswered questions, reply links and the
top helpers. Shared by ``bench/questions_eval.py``, training (to choose thresholds) and the tests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.conversation.data import Corpus
from bot.conversation.model import ReplyModel
from bot.conversation.tracker import ConversationTracker


def prf(pred: set, gold: set) -> tuple[float, float, float]:
    tp = len(pred & gold)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(gold) if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


@dataclass
class Prediction:
    """What a method said about a corpus: the questions it left unanswered (by ts), the reply links it
    found (child ts, parent ts) and who replied to whom (member -> distinct members)."""

    unanswered: set[str]
    links: set[tuple[str, str]] = field(default_factory=set)
    #: (annotated stretch, member, member they replied to)
    replies: list[tuple[int, str, str]] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


def run_model(corpus: Corpus, model: ReplyModel, *, threshold: float | None = None,
              questions: Iterable[str] | None = None) -> Prediction:
    """The model over the whole export, in order, as Steward runs it. ``questions``: the messages that
    count as questions (default: the gold questions)."""
    tracker = ConversationTracker(model, threshold=threshold)
    for uid, name in corpus.names.items():
        tracker.learn_name("slack", uid, name, is_bot=uid in corpus.bots)
    asked = set(questions) if questions is not None else {q["ts"] for q in corpus.questions}
    pred = Prediction(set())
    status: dict[str, str] = {}
    humans = {m.ts: not m.is_bot for m in corpus.messages}
    for m in corpus.messages:
        out = tracker.observe(platform="slack", channel_id=m.channel, message_id=m.ts, author_id=m.author,
                              at=m.at, text=m.text, is_bot=m.is_bot, question=m.ts in asked)
        if out.parent is not None:
            pred.links.add((m.ts, out.parent.message_id))
            if not m.is_bot and humans.get(out.parent.message_id) and out.parent.author != m.author:
                pred.replies.append((corpus.stretch_of(m.at) if corpus.stretches else 0, m.author,
                                     out.parent.author))
        for q in out.answered:
            status[q.message_id] = "answered"
            pred.reasons[q.message_id] = q.reason
        for q in out.unanswered:
            status[q.message_id] = "unanswered"
            pred.reasons[q.message_id] = q.reason
    for q in tracker.close_all():
        status[q.message_id] = "unanswered"
        pred.reasons[q.message_id] = q.reason
    pred.unanswered = {ts for ts, s in status.items() if s == "unanswered"}
    return pred


@dataclass
class Scores:
    unanswered: tuple[float, float, float]
    links: tuple[float, float, float] | None
    helpers: int  # overlap of the top 10 with the gold top 10
    helpers_tied: int  # ... with every member tied with the gold 10th


def gold_helpers(corpus: Corpus, groups: set[int] | None = None) -> dict[str, set[str]]:
    """Who replied to whom per the gold links (humans only, in the annotated stretches)."""
    author = {m.ts: m for m in corpus.messages}
    out: dict[str, set[str]] = defaultdict(set)
    for child, parents in corpus.links.items():
        c = author.get(child)
        if c is None or c.is_bot:
            continue
        if groups is not None and corpus.stretch_of(c.at) not in groups:
            continue
        for p in parents:
            pm = author.get(p)
            if pm is not None and not pm.is_bot and pm.author != c.author:
                out[c.author].add(pm.author)
    return out


def top10(replied_to: dict[str, set[str]]) -> list[str]:
    return sorted(replied_to, key=lambda u: (-len(replied_to[u]), u))[:10]


def score(corpus: Corpus, pred: Prediction, *, groups: set[int] | None = None) -> Scores:
    """Scores over the gold questions and links (only those in ``groups`` of annotated stretches)."""
    def keep(ts: str) -> bool:
        return groups is None or corpus.stretch_of(float(ts)) in groups

    qs = [q for q in corpus.questions if keep(q["ts"])]
    universe = {q["ts"] for q in qs}
    gold_un = {q["ts"] for q in qs if not q["answered"]}
    un = prf(pred.unanswered & universe, gold_un)
    links = None
    if corpus.links:
        gold_links = {(c, p) for c, ps in corpus.links.items() if corpus.stretch_of(float(c)) >= 0 and keep(c)
                      for p in ps}
        mine = {(c, p) for c, p in pred.links if corpus.stretch_of(float(c)) >= 0 and keep(c)}
        links = prf(mine, gold_links)
    gold = gold_helpers(corpus, groups)
    ranked = sorted(gold, key=lambda u: (-len(gold[u]), u))
    g10 = set(ranked[:10])
    bar = len(gold[ranked[9]]) if len(ranked) >= 10 else 0
    tied = {u for u in ranked if len(gold[u]) >= bar}
    mine_helped: dict[str, set[str]] = defaultdict(set)
    for g, a, b in pred.replies:
        if g >= 0 and (groups is None or g in groups):
            mine_helped[a].add(b)
    ours = set(top10(mine_helped))
    return Scores(un, links, len(ours & g10), len(ours & tied))
