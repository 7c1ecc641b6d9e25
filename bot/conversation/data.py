"""Reading an annotated Slack export (the layout of ``../shared/data/ubuntu-irc-*``): the messages in
order, the members' names and bots, and the gold reply links, questions and annotated stretches.
Used by training and by ``bench/questions_eval.py``; nothing here runs live."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Message:
    ts: str
    at: float
    channel: str
    author: str
    text: str
    is_bot: bool


@dataclass
class Corpus:
    root: Path
    messages: list[Message]
    names: dict[str, str]
    bots: set[str]
    links: dict[str, list[str]] = field(default_factory=dict)  # child ts -> parent ts
    questions: list[dict] = field(default_factory=list)
    helpers: list[dict] = field(default_factory=list)
    #: (first ts, last ts, log name) of each annotated stretch
    stretches: list[tuple[float, float, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    def stretch_of(self, at: float) -> int:
        """The index of the annotated stretch holding time ``at``, or -1."""
        lo, hi = 0, len(self.stretches) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            a, b, _ = self.stretches[mid]
            if at < a:
                hi = mid - 1
            elif at > b:
                lo = mid + 1
            else:
                return mid
        return -1


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(root: Path | str, *, with_gold: bool = True) -> Corpus:
    """The export under ``root/slack-export`` (joins and leaves left out: they are not messages) and,
    if present, ``root/gold.json``."""
    root = Path(root)
    export = root / "slack-export"
    files = {}
    users = json.loads((export / "users.json").read_text(encoding="utf-8"))
    files["slack-export/users.json"] = _sha(export / "users.json")
    names = {}
    bots = set()
    for u in users:
        prof = u.get("profile") or {}
        names[u["id"]] = prof.get("display_name") or u.get("name") or ""
        if u.get("is_bot"):
            bots.add(u["id"])
    msgs: list[Message] = []
    for day in sorted(export.glob("*/*.json")):
        files[str(day.relative_to(root))] = _sha(day)
        for m in json.loads(day.read_text(encoding="utf-8")):
            if m.get("subtype") in ("channel_join", "channel_leave"):
                continue
            author = m.get("user") or m.get("bot_id") or ""
            msgs.append(Message(m["ts"], float(m["ts"]), day.parent.name, author, m.get("text") or "",
                                m.get("subtype") == "bot_message" or author in bots))
    msgs.sort(key=lambda m: (m.channel, m.at))
    corpus = Corpus(root, msgs, names, bots)
    gold = root / "gold.json"
    if with_gold and gold.exists():
        files["gold.json"] = _sha(gold)
        g = json.loads(gold.read_text(encoding="utf-8"))
        for child, parent in g["links"]:
            corpus.links.setdefault(child, []).append(parent)
        corpus.questions = g["questions"]
        corpus.helpers = g["helpers"]
        corpus.stretches = sorted((float(a["from_ts"]), float(a["to_ts"]), a["file"]) for a in g["annotated"])
    corpus.files = files
    return corpus


def logs(corpus: Corpus, first: int, count: int) -> Corpus:
    """A smaller corpus: the annotated stretches ``first`` .. ``first + count - 1`` with the context
    before each (everything after the previous stretch), their gold and their messages."""
    chosen = corpus.stretches[first:first + count]
    lo = corpus.stretches[first - 1][1] if first > 0 else float("-inf")
    hi = chosen[-1][1]
    msgs = [m for m in corpus.messages if lo < m.at <= hi]
    keep = {m.ts for m in msgs}
    inside = {m.ts for m in msgs if any(a <= m.at <= b for a, b, _ in chosen)}
    return Corpus(corpus.root, msgs, corpus.names, corpus.bots,
                  links={c: ps for c, ps in corpus.links.items() if c in inside},
                  questions=[q for q in corpus.questions if q["ts"] in inside and q["ts"] in keep],
                  helpers=corpus.helpers, stretches=chosen, files=corpus.files)
