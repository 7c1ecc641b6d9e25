"""Fitting the answer model (``answers.py``) for ``steward model train``: one row per gold question,
built as Steward builds it message by message, from the reply-link model's out-of-fold scores over
the candidates Steward scores at run time. Needs the ``[train]`` extra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.conversation.answers import ANSWER_FEATURES, MONOTONE, N_STATIC, Evidence
from bot.conversation.data import Corpus


@dataclass
class Questions:
    ts: list[str]
    X: Any  # numpy (n, answer features)
    y: Any  # numpy (n,): 1 answered
    group: Any  # numpy (n,): the log


def question_rows(corpus: Corpus, rows: Any, p: Any, *, near: int, latest: int, link_threshold: float) -> Questions:
    """``rows``: ``training.rows_of``; ``p``: each row's link probability (out of fold); a reply
    "chose" the question when it was the reply's link (its most likely parent, at least
    ``link_threshold`` likely)."""
    import numpy as np

    author = {m.ts: m.author for m in corpus.messages}
    index = {ts: i for i, ts in enumerate(rows.children)}
    asked = [q for q in corpus.questions if q["ts"] in index]
    ev = {q["ts"]: Evidence(list(rows.static[index[q["ts"]]]) + [0.0] * (len(ANSWER_FEATURES) - N_STATIC))
          for q in asked}
    X = rows.X
    # the candidates Steward scores (features.pair_rows): near lines, lines addressed either way, and
    # up to ``latest`` back their author's latest line
    scored = (X[:, 0] <= near) | (X[:, 3] > 0) | (X[:, 4] > 0)
    if latest > near:
        scored |= (X[:, 0] <= latest) & (X[:, 10] == 0)
    idx = np.nonzero(scored)[0]
    child = rows.child[idx]
    bounds = np.nonzero(np.diff(child))[0] + 1
    for part in np.split(idx, bounds):
        if not len(part):
            continue
        ci = int(rows.child[part[0]])
        if rows.child_bot[ci]:
            continue
        who = rows.child_author[ci]
        parents = [rows.parents[i] for i in part]
        hits = [k for k, ts in enumerate(parents) if ts in ev and author[ts] != who]
        if not hits:
            continue
        ps = p[part]
        top = max(float(ps.max()), link_threshold)
        for k in hits:
            a = author[parents[k]]
            other = max((float(ps[j]) for j, ts in enumerate(parents) if j != k and author[ts] == a), default=0.0)
            ev[parents[k]].add(float(ps[k]), chosen=float(ps[k]) >= top, asker_other=other,
                               addressed=bool(X[part[k], 3] > 0))
    return Questions([q["ts"] for q in asked], np.asarray([ev[q["ts"]].row for q in asked], dtype=np.float64),
                     np.asarray([1 if q["answered"] else 0 for q in asked], dtype=np.int8),
                     np.asarray([corpus.stretch_of(float(q["ts"])) for q in asked], dtype=np.int32))


def fit(q: Questions, settings: dict[str, Any], mask: Any = None) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = (q.X, q.y) if mask is None else (q.X[mask], q.y[mask])
    clf = HistGradientBoostingClassifier(
        max_iter=settings["answer_max_iter"], max_leaf_nodes=settings["answer_max_leaf_nodes"],
        learning_rate=settings["answer_learning_rate"], min_samples_leaf=settings["answer_min_samples_leaf"],
        monotonic_cst=list(MONOTONE), early_stopping=False, random_state=settings["seed"])
    clf.fit(X, y)
    return clf


def unanswered_prf(q: Questions, p_answered: Any, t: float) -> tuple[float, float, float]:
    mine = p_answered < t
    gold = q.y == 0
    tp = int((mine & gold).sum())
    pr = tp / int(mine.sum()) if mine.any() else 0.0
    rc = tp / int(gold.sum()) if gold.any() else 0.0
    return pr, rc, (2 * pr * rc / (pr + rc) if pr + rc else 0.0)


GRID = [round(0.2 + 0.01 * i, 2) for i in range(61)]


def choose(q: Questions, settings: dict[str, Any], folds: int) -> tuple[float, list[float]]:
    """The answer threshold with the best unanswered F1, each question scored by an answer model
    fitted without its log (and the P/R/F1 there)."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    pa = np.zeros(len(q.y))
    for tr, te in GroupKFold(n_splits=folds).split(q.X, q.y, q.group):
        pa[te] = fit(q, settings, tr).predict_proba(q.X[te])[:, 1]
    scores = {t: unanswered_prf(q, pa, t) for t in GRID}
    t = max(GRID, key=lambda t: (scores[t][2], -abs(t - 0.5)))
    return t, [round(x, 4) for x in scores[t]]
