"""The shipped reply-link model: a small gradient-boosted tree ensemble read from a JSON file and
scored in plain Python (no training library at run time).

Loading turns the trees into one Python function of nested comparisons, compiled once; scoring a
message's candidates is then a few thousand comparisons, with no allocation per node. A second one
(``raw_above``) stops summing a candidate that cannot reach the best score so far: the decisions
are the same, most candidates cost a fraction of the trees.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.conversation.answers import ANSWER_FEATURES
from bot.conversation.features import FEATURES

#: the model shipped with Steward (``steward model train`` writes a new one)
SHIPPED = Path(__file__).with_name("reply_model.json")
FORMAT = "steward-reply-model"
#: 2: with the answer model (``answer``)
VERSION = 2


class ModelError(ValueError):
    """The model file is not one this version of Steward can read."""


def _tree_expr(t: dict[str, list], node: int) -> str:
    """A tree as one conditional expression over the locals ``x0``, ``x1``, ..."""
    f = t["feature"][node]
    if f < 0:
        return repr(t["value"][node])
    return (f"({_tree_expr(t, t['left'][node])} if x{f} <= {t['threshold'][node]!r} "
            f"else {_tree_expr(t, t['right'][node])})")


def _checked(trees: Sequence[dict[str, list]], n_features: int = len(FEATURES)) -> None:
    for t in trees:
        n = len(t["feature"])
        if not (len(t["threshold"]) == len(t["left"]) == len(t["right"]) == len(t["value"]) == n):
            raise ModelError("a tree's arrays differ in length")
        # the source is made from these values: each must be a plain number
        if not all(type(v) is int for k in ("feature", "left", "right") for v in t[k]) or \
                not all(type(v) in (int, float) for k in ("threshold", "value") for v in t[k]):
            raise ModelError("a tree holds something other than numbers")
        for i, f in enumerate(t["feature"]):
            if f >= n_features or (f >= 0 and not (0 < t["left"][i] < n and 0 < t["right"][i] < n)):
                raise ModelError("a tree refers to a feature or node that is not there")


def _compile(lines: list[str], name: str, **scope: Any) -> Callable[..., float]:
    exec(compile("\n".join(lines), "<reply-model>", "exec"), scope)  # noqa: S102 - code made from numbers only
    return scope[name]


#: how many trees are summed between two looks at whether a candidate can still reach the floor
_CHECK_EVERY = 2
#: below the floor by at least this much (past any rounding of the sums): a candidate that cannot reach it
_MARGIN = 1e-9
#: what ``raw_above`` returns for a candidate that cannot reach its floor
BELOW = -1e18


def compile_trees(baseline: float, trees: Sequence[dict[str, list]],
                  n_features: int = len(FEATURES)) -> Callable[[Sequence[float]], float]:
    """One function ``x -> raw score`` (log-odds) for the whole ensemble: the row is unpacked into
    locals once, each tree is a nested conditional expression."""
    _checked(trees, n_features)
    names = ", ".join(f"x{i}" for i in range(n_features))
    lines = ["def raw(x):", f"    {names}, = x", f"    s = {baseline!r}"]
    lines += [f"    s += {_tree_expr(t, 0)}" for t in trees]
    lines.append("    return s")
    return _compile(lines, "raw")


def compile_bounded(baseline: float, trees: Sequence[dict[str, list]], raw: Callable[[Sequence[float]], float],
                    n_features: int = len(FEATURES)) -> Callable[[Sequence[float], float], float]:
    """``(x, floor) -> raw(x)``, or ``BELOW`` when ``raw(x)`` is surely under ``floor``: most
    candidates of a message are plainly not its parent, and for them only whether they beat the best
    so far matters. The trees are summed largest leaf first; every few trees, once even the largest
    leaves of the trees left could not bring the sum up to ``floor``, it stops. A row that may reach
    the floor is scored by ``raw`` itself, so its score is the same number to the last bit."""
    _checked(trees, n_features)

    def top(t: dict[str, list]) -> float:
        return max(max(v for f, v in zip(t["feature"], t["value"], strict=True) if f < 0), 0.0)

    order = sorted(trees, key=top, reverse=True)
    best_left = [0.0] * (len(order) + 1)
    for k in range(len(order) - 1, -1, -1):
        best_left[k] = best_left[k + 1] + top(order[k])
    names = ", ".join(f"x{i}" for i in range(n_features))
    lines = ["def raw_above(x, floor):", f"    {names}, = x", f"    s = {baseline!r}"]
    for k, t in enumerate(order):
        lines.append(f"    s += {_tree_expr(t, 0)}")
        if (k + 1) % _CHECK_EVERY == 0 and k + 1 < len(order):
            lines.append(f"    if s + {best_left[k + 1] + _MARGIN!r} < floor:")
            lines.append(f"        return {BELOW!r}")
    lines.append("    return raw(x)")
    return _compile(lines, "raw_above", raw=raw)


@dataclass(frozen=True)
class ReplyModel:
    """Scores (message, earlier message) pairs. ``link_threshold``: the probability above which a
    message's best candidate is taken as its parent (below it, the message starts a conversation);
    ``threshold``: the answer model's probability (``answers.py``: the question's line and the
    links of the replies so far) at or above which a question counts as answered."""

    raw: Callable[[Sequence[float]], float]
    threshold: float
    link_threshold: float
    max_lines: int
    max_seconds: float
    meta: dict[str, Any]
    #: candidates past ``near`` lines back are scored only when addressed, or when their author's
    #: latest line up to ``latest`` back (features.pair_rows)
    near: int = 10
    latest: int = 25
    #: ``(row, floor) -> raw score``, or ``BELOW`` for a row that cannot reach ``floor``
    #: (``compile_bounded``); the exact ``raw`` when not given
    raw_above: Callable[[Sequence[float], float], float] | None = None
    #: the answer model: ``answers.Evidence.row -> raw score`` (log-odds that the question was answered),
    #: and ``(row, floor) -> raw score or BELOW`` as ``raw_above`` (most rows are plainly under the threshold)
    answer_raw: Callable[[Sequence[float]], float] | None = None
    answer_above: Callable[[Sequence[float], float], float] | None = None

    def __post_init__(self) -> None:
        if self.raw_above is None:
            raw = self.raw
            object.__setattr__(self, "raw_above", lambda x, floor: raw(x))

    def probability(self, row: Sequence[float]) -> float:
        return probability(self.raw(row))

    @classmethod
    def from_document(cls, doc: dict[str, Any], *, threshold: float | None = None) -> ReplyModel:
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ModelError(f"not a {FORMAT} version {VERSION} file")
        answer = doc.get("answer") or {}
        if list(doc.get("features", ())) != list(FEATURES) or \
                list(answer.get("features", ())) != list(ANSWER_FEATURES):
            raise ModelError("the model was trained on other features than this version computes")
        w = doc["window"]
        meta = {k: v for k, v in doc.items() if k not in ("trees", "baseline", "answer")}
        baseline = float(doc["baseline"])
        raw = compile_trees(baseline, doc["trees"])
        return cls(raw,
                   float(doc["threshold"] if threshold is None else threshold), float(doc["link_threshold"]),
                   int(w["max_lines"]), float(w["max_seconds"]), meta, int(w.get("near_lines", 10)),
                   int(w.get("latest_lines", 25)), compile_bounded(baseline, doc["trees"], raw),
                   *cls._answer(answer))

    @staticmethod
    def _answer(answer: dict[str, Any]) -> tuple[Callable[..., float], Callable[..., float]]:
        baseline, n = float(answer["baseline"]), len(ANSWER_FEATURES)
        raw = compile_trees(baseline, answer["trees"], n)
        return raw, compile_bounded(baseline, answer["trees"], raw, n)

    @classmethod
    def load(cls, path: Path | str | None = None, *, threshold: float | None = None) -> ReplyModel:
        p = Path(path) if path else SHIPPED
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{p}: {e}") from None
        return cls.from_document(doc, threshold=threshold)


@lru_cache(maxsize=4)
def shipped(threshold: float | None = None) -> ReplyModel:
    """The shipped model, loaded once per process (per threshold)."""
    return ReplyModel.load(SHIPPED, threshold=threshold)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def probability(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0
