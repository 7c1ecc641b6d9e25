"""Accuracy of Steward's reply structure in flat channels: unanswered questions, reply links and top
helpers, for the shipped reply-link model beside two references measured in the same run.

    .venv/bin/python bench/questions_eval.py [--dev DIR] [--train DIR] [--folds 5] [--no-cv]
    .venv/bin/python bench/questions_eval.py --backtest [--out DIR]   # also end to end, see below

Printed for the dev split (default ../shared/data/ubuntu-irc-dev, never fitted on) and, by
cross-validation grouped by log, for the training split (each log scored by a model fitted without
it; needs the ``[train]`` extra):

- unanswered precision / recall / F1 over the gold questions (the gold's questions are the ones
  decided, so this measures answer inference; a method that does not take a gold question for a
  question leaves it not flagged);
- reply-link precision / recall / F1 against the annotated links (messages in the annotated stretches);
- overlap of the top-10 helpers (members who replied to the most distinct others, in the annotated
  stretches) with the gold top 10.

References: the rule-based tracker Steward used before the model (addressing, take-up, exchanges,
thanks) and "answered if another human mentions the asker within 30 minutes".

``--backtest`` also runs the real ``steward backtest`` on the dev export (question detection included,
as a deployment sees it) and prints the unanswered F1 and ambassador overlap from its findings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.conversation import data as data_mod  # noqa: E402
from bot.conversation.evaluate import Prediction, prf, run_model, score  # noqa: E402
from bot.conversation.model import ReplyModel, shipped  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")
MENTION = re.compile(r"<@(U[A-Z0-9]+)>")


def mention_rule(corpus: data_mod.Corpus, minutes: float = 30) -> Prediction:
    """Reference: answered if another human mentions the asker within 30 minutes; a mention links
    to the mentioned member's latest line."""
    msgs = [m for m in corpus.messages if not m.is_bot]
    index = {m.ts: i for i, m in enumerate(msgs)}
    pred = Prediction(set())
    for q in corpus.questions:
        i = index.get(q["ts"])
        t0 = float(q["ts"])
        answered = False
        for m in msgs[(i or 0) + 1:]:
            if m.at - t0 > minutes * 60:
                break
            if m.author != q["user"] and q["user"] in MENTION.findall(m.text):
                answered = True
                break
        if not answered:
            pred.unanswered.add(q["ts"])
    last: dict[tuple[str, str], str] = {}
    for m in corpus.messages:
        for u in set(MENTION.findall(m.text)):
            p = last.get((m.channel, u))
            if p is not None and u != m.author:
                pred.links.add((m.ts, p))
                if not m.is_bot:
                    pred.replies.append((corpus.stretch_of(m.at), m.author, u))
        last[(m.channel, m.author)] = m.ts
    return pred


def rule_tracker(corpus: data_mod.Corpus) -> Prediction:
    """Reference: the rule-based tracker (questions it detects itself, as it did in Steward)."""
    from datetime import UTC, datetime

    from bench.reference_tracker import ConversationTracker as RuleTracker

    tr = RuleTracker()
    for uid, name in corpus.names.items():
        tr.learn_name("slack", uid, name, is_bot=uid in corpus.bots)
    status: dict[str, str] = {}
    pred = Prediction(set())
    for m in corpus.messages:
        changes = tr.observe(platform="slack", channel_id=m.channel, message_id=m.ts, author_id=m.author,
                             at=datetime.fromtimestamp(m.at, UTC), text=m.text, is_bot=m.is_bot)
        for ch in changes:
            if ch.kind == "asked" and ch.question is not None:
                status.setdefault(ch.question.message_id, "open")
            elif ch.kind in ("answered", "resolved") and ch.question is not None:
                status[ch.question.message_id] = ch.kind
                if ch.kind == "answered" and ch.by == m.author:
                    pred.links.add((m.ts, ch.question.message_id))
                    pred.replies.append((corpus.stretch_of(m.at), m.author, ch.question.author_id))
            elif ch.kind == "replied" and ch.ref:
                pred.links.add((m.ts, ch.ref))
                pred.replies.append((corpus.stretch_of(m.at), m.author, ch.to or ""))
    pred.unanswered = {ts for ts, s in status.items() if s == "open"}
    return pred


def row(label: str, s) -> str:
    u, lk = s.unanswered, s.links or (0.0, 0.0, 0.0)
    return (f"  {label:<34}{u[2]:>7.3f}{u[0]:>7.3f}{u[1]:>7.3f}   {lk[2]:>7.3f}{lk[0]:>7.3f}{lk[1]:>7.3f}"
            f"   {s.helpers:>4} / 10  {s.helpers_tied:>3} / 10")


HEADER = (f"  {'method':<34}{'unanswered F1':>13}{'P':>5}{'R':>7}   {'links F1':>8}{'P':>5}{'R':>7}"
          f"   {'top-10 helpers (strict, tie-incl.)'}")


def dev_section(dev: data_mod.Corpus, model: ReplyModel) -> dict:
    t0 = time.perf_counter()
    mine = run_model(dev, model)
    took = time.perf_counter() - t0
    s_model = score(dev, mine)
    s_rules = score(dev, rule_tracker(dev))
    s_mention = score(dev, mention_rule(dev))
    gu = sum(1 for q in dev.questions if not q["answered"])
    print(f"\nDev split ({dev.root.name}): {len(dev.questions)} gold questions, {gu} unanswered; "
          f"{len(dev.messages):,} messages, model run {took:.1f} s "
          f"({took / len(dev.messages) * 1e6:.0f} us per message, features and scoring)")
    print(HEADER)
    print(row("Steward: reply-link model", s_model))
    print(row("reference: rule-based tracker", s_rules))
    print(row("reference: mention within 30 min", s_mention))
    ok_f1 = s_model.unanswered[2] >= 0.85
    ok_h = s_model.helpers >= 9
    print(f"  targets: unanswered F1 >= 0.85 -> {'met' if ok_f1 else 'NOT met'}; "
          f"helpers >= 9/10 -> {'met' if ok_h else 'NOT met'}")
    return {"model": s_model, "rules": s_rules, "mention": s_mention}


def cv_section(train: data_mod.Corpus, model: ReplyModel, folds: int) -> None:
    """Each log scored by a model with the shipped settings fitted without it; predictions pooled."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    from bot.conversation import answers_training, training

    settings = {**training.DEFAULTS, **model.meta.get("trained", {}).get("settings", {})}
    rows = training.rows_of(train, max_lines=settings["max_lines"], max_seconds=settings["max_seconds"])
    pooled = Prediction(set())
    groups = np.asarray(rows.child_group)
    t0 = time.perf_counter()
    for k, (tr_idx, _) in enumerate(GroupKFold(n_splits=folds).split(rows.X, rows.y, rows.group)):
        fit_groups = set(rows.group[tr_idx].tolist())
        held = set(groups.tolist()) - fit_groups
        clf = training.fit(rows, settings, tr_idx)
        # the answer model as `steward model train` fits it, on this fold's training logs alone: from
        # link scores out of fold within them
        p = np.zeros(len(rows.y))
        for a, b in GroupKFold(n_splits=3).split(tr_idx, groups=rows.group[tr_idx]):
            p[tr_idx[b]] = training.fit(rows, settings, tr_idx[a]).predict_proba(rows.X[tr_idx[b]])[:, 1]
        q = answers_training.question_rows(train, rows, p, near=settings["near_lines"],
                                           latest=settings["latest_lines"], link_threshold=model.link_threshold)
        answer = answers_training.fit(q, settings, np.isin(q.group, list(fit_groups)))
        doc = training.model_document(clf, settings, model.threshold, train, rows, {}, answer)
        doc["link_threshold"] = model.link_threshold
        fold_model = ReplyModel.from_document(json.loads(json.dumps(doc)))
        p = run_model(train, fold_model)
        pooled.unanswered |= {ts for ts in p.unanswered if train.stretch_of(float(ts)) in held}
        pooled.links |= {(c, q) for c, q in p.links if train.stretch_of(float(c)) in held}
        pooled.replies += [r for r in p.replies if r[0] in held]
        print(f"  fold {k + 1}/{folds}: {len(held)} logs held out ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nTraining split ({train.root.name}) by {folds}-fold cross-validation grouped by log: "
          f"{len(train.questions):,} gold questions, {sum(1 for q in train.questions if not q['answered']):,} "
          f"unanswered")
    print(HEADER)
    print(row("Steward: reply-link model (CV)", score(train, pooled)))
    print(row("reference: rule-based tracker", score(train, rule_tracker(train))))
    print(row("reference: mention within 30 min", score(train, mention_rule(train))))


# ---- end to end, through steward backtest


def run_backtest(export: Path, out: Path, window_days: int) -> None:
    cfg = out.parent / f"{out.name}-config.toml"
    cfg.write_text(f"[features.ambassadors]\nwindow_days = {window_days}\n", encoding="utf-8")
    steward = Path(sys.executable).parent / "steward"
    cmd = [str(steward), "backtest", str(export), "--out", str(out), "--config", str(cfg)]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def backtest_section(dev: data_mod.Corpus, out: Path | None) -> None:
    export = dev.root / "slack-export"
    span_days = int((dev.messages[-1].at - dev.messages[0].at) / 86400) + 2
    out = out or Path(tempfile.mkdtemp(prefix="steward-qeval-")) / "bt"
    run_backtest(export, out, span_days)
    findings = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines() if x.strip()]
    universe = {q["ts"] for q in dev.questions}
    gold_un = {q["ts"] for q in dev.questions if not q["answered"]}
    found = {f["message"]: f for f in findings if f.get("kind") == "question"}
    ours = {ts for ts, f in found.items() if f["status"] == "unanswered"} & universe
    p, r, f1 = prf(ours, gold_un)
    cands = sorted((f for f in findings if f.get("kind") == "ambassador_candidate"), key=lambda f: f["rank"])
    gold10 = {h["user"] for h in dev.helpers[:10]}
    top = {f["member"] for f in cands[:10]}
    print(f"\nEnd to end through steward backtest on {dev.root.name} (Steward's own question detection: it took "
          f"{len(universe & set(found))} of the {len(universe)} gold questions for questions)")
    print(f"  unanswered F1 {f1:.3f} (precision {p:.3f}, recall {r:.3f}); ambassador top 10 vs gold helpers: "
          f"{len(top & gold10)} / 10\n  output: {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev", default=str(SHARED / "ubuntu-irc-dev"))
    ap.add_argument("--train", default=str(SHARED / "ubuntu-irc-train"))
    ap.add_argument("--model", default=None, help="model file (default: the shipped one)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-cv", action="store_true", help="dev only (no training library needed)")
    ap.add_argument("--backtest", action="store_true", help="also run steward backtest on the dev export")
    ap.add_argument("--out", default=None, help="backtest output folder (with --backtest)")
    args = ap.parse_args()
    model = ReplyModel.load(args.model) if args.model else shipped()
    tr = model.meta.get("trained", {})
    print(f"model: {args.model or 'shipped'}, trained on {tr.get('data')} ({tr.get('annotated_messages')} annotated "
          f"messages), {len(model.meta.get('features', []))} features, answer threshold {model.threshold}, "
          f"link threshold {model.link_threshold}, window {model.max_lines} lines / {model.max_seconds:.0f} s")
    dev = data_mod.load(args.dev)
    dev_section(dev, model)
    if not args.no_cv:
        cv_section(data_mod.load(args.train), model, args.folds)
    if args.backtest:
        backtest_section(dev, Path(args.out) if args.out else None)


if __name__ == "__main__":
    main()
