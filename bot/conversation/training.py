"""Fitting the reply-link model on annotated logs (``steward model train``). Needs the ``[train]``
extra (scikit-learn, numpy); the model it writes is read at run time without them.

The rows are (message, earlier message) pairs from the annotated stretches, labelled by the gold
reply links; a gradient-boosted tree ensemble learns the probability that the earlier message is a
parent. A message whose best candidate scores below the threshold starts something new.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.conversation.answers import ANSWER_FEATURES, N_STATIC, Evidence
from bot.conversation.data import Corpus
from bot.conversation.features import FEATURES, NEVER, Reader

#: the settings of the shipped model (``steward model train`` uses these unless told otherwise)
DEFAULTS: dict[str, Any] = {
    "max_lines": 40,
    # a day: in a quiet channel an answer can come hours later (``gap_relative`` reads it against
    # the channel's pace)
    "max_seconds": 86400.0,
    # the pairs learnt from, and the (narrower) ones scored at run time: see features.pair_rows
    "train_near_lines": 10,
    "train_latest_lines": 25,
    "near_lines": 6,
    "latest_lines": 0,
    "max_iter": 40,
    "max_leaf_nodes": 12,
    "learning_rate": 0.2,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "seed": 0,
    # the answer model (answers.py): small, fitted on the questions' rows from out-of-fold link scores
    "answer_max_iter": 60,
    "answer_max_leaf_nodes": 8,
    "answer_learning_rate": 0.1,
    "answer_min_samples_leaf": 40,
}


@dataclass
class Rows:
    """Pair rows of a corpus, with where each came from."""

    X: Any  # numpy (n, features) float32
    y: Any  # numpy (n,) int8
    child: Any  # numpy (n,) int32: index into ``children``
    group: Any  # numpy (n,) int32: the annotated stretch of the child
    children: list[str]  # child ts, one per annotated message
    child_group: list[int]
    parents: list[str]  # candidate ts, one per row
    #: per child: its author, whether a bot, and the answer model's fixed part were it a question
    child_author: list[str]
    child_bot: list[bool]
    static: list[list[float]]


def rows_of(corpus: Corpus, *, max_lines: int, max_seconds: float, annotated_only: bool = True,
            near: int = DEFAULTS["train_near_lines"], latest: int = DEFAULTS["train_latest_lines"]) -> Rows:
    """Every annotated message's candidate rows (labels from the gold links)."""
    import numpy as np

    reader = Reader(max_lines, max_seconds, near, latest)
    for uid, name in corpus.names.items():
        reader.learn_name("slack", uid, name, is_bot=uid in corpus.bots)
    X: list[list[float]] = []
    y: list[int] = []
    child: list[int] = []
    group: list[int] = []
    children: list[str] = []
    child_group: list[int] = []
    parents: list[str] = []
    child_author: list[str] = []
    child_bot: list[bool] = []
    static: list[list[float]] = []
    for m in corpus.messages:
        w, line, cands, rows = reader.read("slack", m.channel, m.author, m.at, m.text, is_bot=m.is_bot,
                                           message_id=m.ts)
        g = corpus.stretch_of(m.at) if corpus.stretches else 0
        if g >= 0 or not annotated_only:
            gold = set(corpus.links.get(m.ts, ()))
            ci = len(children)
            children.append(m.ts)
            child_group.append(g)
            child_author.append(line.author)
            child_bot.append(line.is_bot)
            prev = w.prev_of_author.get(line.author)
            static.append(Evidence.of(line, NEVER if prev is None else line.pos - prev).row[:N_STATIC])
            for c, r in zip(cands, rows, strict=True):
                X.append(r)
                y.append(1 if c.message_id in gold else 0)
                child.append(ci)
                group.append(g)
                parents.append(c.message_id)
        w.add(line)
    return Rows(np.asarray(X, dtype=np.float32).reshape(-1, len(FEATURES)), np.asarray(y, dtype=np.int8),
                np.asarray(child, dtype=np.int32), np.asarray(group, dtype=np.int32), children, child_group,
                parents, child_author, child_bot, static)


def fit(rows: Rows, settings: dict[str, Any], mask: Any = None) -> Any:
    """A fitted scikit-learn HistGradientBoostingClassifier on the rows (or those in ``mask``)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = (rows.X, rows.y) if mask is None else (rows.X[mask], rows.y[mask])
    clf = HistGradientBoostingClassifier(
        max_iter=settings["max_iter"], max_leaf_nodes=settings["max_leaf_nodes"],
        learning_rate=settings["learning_rate"], min_samples_leaf=settings["min_samples_leaf"],
        l2_regularization=settings["l2_regularization"], early_stopping=False,
        random_state=settings["seed"])
    clf.fit(X, y)
    return clf


def export_trees(clf: Any) -> dict[str, Any]:
    """The ensemble as plain lists: per tree, parallel arrays of feature, threshold, left, right, value
    (a leaf has feature -1). Reads the fitted predictors' node tables."""
    trees = []
    for (pred,) in clf._predictors:
        nodes = pred.nodes
        feat, thr, left, right, value = [], [], [], [], []
        for n in nodes:
            leaf = bool(n["is_leaf"])
            feat.append(-1 if leaf else int(n["feature_idx"]))
            thr.append(0.0 if leaf else float(n["num_threshold"]))
            left.append(int(n["left"]) if not leaf else -1)
            right.append(int(n["right"]) if not leaf else -1)
            value.append(float(n["value"]) if leaf else 0.0)
            if not leaf and (bool(n["is_categorical"]) or int(n["missing_go_to_left"]) not in (0, 1)):
                raise ValueError("categorical splits are not supported")
        trees.append({"feature": feat, "threshold": thr, "left": left, "right": right, "value": value})
    return {"baseline": float(clf._baseline_prediction.ravel()[0]), "trees": trees}


def model_document(clf: Any, settings: dict[str, Any], threshold: float, corpus: Corpus, rows: Rows,
                   metrics: dict[str, Any], answer: Any) -> dict[str, Any]:
    """The model file: ``clf`` the reply-link ensemble, ``answer`` the answer model's (``threshold``
    is on its probability)."""
    import sklearn

    return {
        "format": "steward-reply-model",
        "version": 2,
        "features": list(FEATURES),
        "answer": {"features": list(ANSWER_FEATURES), **export_trees(answer)},
        "window": {"max_lines": settings["max_lines"], "max_seconds": settings["max_seconds"],
                   "near_lines": settings["near_lines"], "latest_lines": settings["latest_lines"]},
        "threshold": round(threshold, 4),
        **export_trees(clf),
        "trained": {
            "data": corpus.root.name,
            "files": dict(sorted(corpus.files.items())),
            "messages": len(corpus.messages),
            "annotated_messages": len(rows.children),
            "rows": int(rows.X.shape[0]),
            "positive_rows": int(rows.y.sum()),
            "settings": settings,
            "library": f"scikit-learn {sklearn.__version__}",
            "selection": metrics,
            "at": time.strftime("%Y-%m-%d", time.gmtime()),
        },
    }


def write(doc: dict[str, Any], out: Path) -> None:
    # leaf values to seven significant digits keep the file small; thresholds stay exact, so no
    # feature value moves to the other side of a split
    for t in [*doc.get("trees", ()), *doc.get("answer", {}).get("trees", ())]:
        t["value"] = [float(f"{v:.7g}") for v in t["value"]]
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")


def oof_probabilities(rows: Rows, settings: dict[str, Any], folds: int, log=print) -> Any:
    """Out-of-fold probabilities: each row scored by a model fitted without its log."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    p = np.zeros(len(rows.y), dtype=np.float64)
    for k, (tr, te) in enumerate(GroupKFold(n_splits=folds).split(rows.X, rows.y, rows.group)):
        t0 = time.time()
        clf = fit(rows, settings, tr)
        p[te] = clf.predict_proba(rows.X[te])[:, 1]
        log(f"fold {k + 1}/{folds}: {len(set(rows.group[te].tolist()))} logs held out, "
            f"{time.time() - t0:.0f} s")
    return p


def link_f1(corpus: Corpus, rows: Rows, p: Any, threshold: float) -> tuple[float, float, float]:
    """Reply links as the argmax candidate above ``threshold``, against the gold links."""
    import numpy as np

    best = np.full(len(rows.children), -1.0)
    arg = np.full(len(rows.children), -1, dtype=np.int64)
    order = np.argsort(p, kind="stable")
    best[rows.child[order]] = p[order]
    arg[rows.child[order]] = order
    mine = {(rows.children[c], rows.parents[i]) for c, i in enumerate(arg.tolist()) if i >= 0 and best[c] >= threshold}
    gold = {(c, q) for c, ps in corpus.links.items() if corpus.stretch_of(float(c)) >= 0 for q in ps}
    tp = len(mine & gold)
    pr = tp / len(mine) if mine else 0.0
    rc = tp / len(gold) if gold else 0.0
    return pr, rc, (2 * pr * rc / (pr + rc) if pr + rc else 0.0)


GRID = [round(0.05 * i, 2) for i in range(2, 17)]


def choose_link(corpus: Corpus, rows: Rows, p: Any) -> tuple[float, list[float]]:
    """The link threshold with the best link F1 (and that P/R/F1)."""
    lk = {t: link_f1(corpus, rows, p, t) for t in GRID}
    t_link = max(GRID, key=lambda t: (lk[t][2], -abs(t - 0.5)))
    return t_link, [round(x, 4) for x in lk[t_link]]


def train_file(data: Path | str, out: Path | str, *, folds: int = 5, settings: dict[str, Any] | None = None,
               log=print) -> dict[str, Any]:
    """``steward model train``: rows from ``data``, thresholds by grouped cross-validation, the final
    fit on every log, written to ``out``."""
    from bot.conversation import answers_training
    from bot.conversation import data as data_mod

    s = {**DEFAULTS, **(settings or {})}
    t0 = time.time()
    corpus = data_mod.load(data)
    rows = rows_of(corpus, max_lines=s["max_lines"], max_seconds=s["max_seconds"], near=s["train_near_lines"],
                   latest=s["train_latest_lines"])
    log(f"{len(corpus.messages):,} messages, {len(rows.children):,} annotated, {len(rows.y):,} candidate pairs "
        f"({int(rows.y.sum()):,} gold links) in {time.time() - t0:.0f} s")
    metrics: dict[str, Any] = {"by": "cross-validation grouped by log"}
    # the answer model learns from the links as a model that never saw the log scores them: out of fold
    p = oof_probabilities(rows, s, max(folds, 2), log)
    t_link, metrics["link_prf"] = choose_link(corpus, rows, p)
    q = answers_training.question_rows(corpus, rows, p, near=s["near_lines"], latest=s["latest_lines"],
                                       link_threshold=t_link)
    if folds > 1:
        t_ans, metrics["unanswered_prf"] = answers_training.choose(q, s, folds)
    else:
        t_ans = 0.5
    metrics["folds"] = folds
    log(f"thresholds: answer {t_ans}, link {t_link}: {metrics}")
    clf = fit(rows, s)
    doc = model_document(clf, s, t_ans, corpus, rows, metrics, answers_training.fit(q, s))
    doc["link_threshold"] = t_link
    write(doc, Path(out))
    log(f"wrote {out} ({Path(out).stat().st_size // 1024} KiB) in {time.time() - t0:.0f} s")
    return doc
