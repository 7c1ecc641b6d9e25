"""A model fitted on a slice of the training logs beats both references on a slice of the dev logs
(logs it never saw): unanswered-question F1, reply-link F1."""

from __future__ import annotations

import json

import pytest

from bench.questions_eval import mention_rule, rule_tracker
from bot.conversation import answers_training, data, training
from bot.conversation.evaluate import run_model, score
from bot.conversation.model import ReplyModel
from tests.shared_paths import shared_dir

pytest.importorskip("sklearn")
SHARED = shared_dir()
pytestmark = pytest.mark.skipif(SHARED is None or not (SHARED / "data" / "ubuntu-irc-train").is_dir(),
                                reason="the annotated logs (shared/data/ubuntu-irc-*) are not here")


def test_small_model_beats_both_references_on_unseen_logs(tmp_path):
    train = data.logs(data.load(SHARED / "data" / "ubuntu-irc-train"), 0, 12)
    dev = data.logs(data.load(SHARED / "data" / "ubuntu-irc-dev"), 0, 5)
    settings = {**training.DEFAULTS, "max_iter": 25}
    rows = training.rows_of(train, max_lines=settings["max_lines"], max_seconds=settings["max_seconds"])
    assert rows.y.sum() > 2000
    clf = training.fit(rows, settings)
    # the answer model learns from out-of-fold link scores, as `steward model train` does
    p = training.oof_probabilities(rows, settings, 3, log=lambda *_: None)
    q = answers_training.question_rows(train, rows, p, near=settings["near_lines"], latest=settings["latest_lines"],
                                       link_threshold=0.3)
    threshold, _ = answers_training.choose(q, settings, 3)
    doc = training.model_document(clf, settings, threshold, train, rows, {}, answers_training.fit(q, settings))
    doc["link_threshold"] = 0.3
    path = tmp_path / "model.json"
    training.write(doc, path)
    model = ReplyModel.load(path)

    # the file scores exactly as the fitted ensemble does
    sample = rows.X[:: max(1, len(rows.X) // 500)]
    ours = [model.probability(list(map(float, x))) for x in sample]
    theirs = clf.predict_proba(sample)[:, 1]
    assert max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) < 1e-6
    assert json.loads(path.read_text())["trained"]["annotated_messages"] == len(rows.children)

    mine = score(dev, run_model(dev, model))
    rules = score(dev, rule_tracker(dev))
    mention = score(dev, mention_rule(dev))
    print("model", mine, "\nrules", rules, "\nmention", mention)
    assert mine.unanswered[2] > rules.unanswered[2] + 0.03
    assert mine.unanswered[2] > mention.unanswered[2] + 0.03
    assert mine.links[2] > rules.links[2] + 0.05
    assert mine.links[2] > mention.links[2] + 0.05
