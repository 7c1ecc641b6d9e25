"""report.html: one self-contained page (no scripts, no external files) that reads offline, prints,
and gives screen reader users the same facts as the charts: every chart is an inline SVG with a
title and a description, and a table with the same numbers sits beside it.

People are shown by name, channels as #name and questions by their text (with mentions as
@name): ``bot.replay.names.lookup_names`` reads them from the store for the rows the page shows
(``listed_questions``). An ID appears only
where the store knows no name; everything from the community is escaped."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from bot.replay.names import Names

MAX_ROWS = 25
#: a question longer than this is cut (the full text is in the community)
MAX_TEXT = 300

CSS = """
:root { --ink:#1b1f24; --muted:#57606a; --line:#d0d7de; --accent:#0b5cad; --accent2:#7a3e9d; --bg:#fff; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: var(--bg); margin: 0 auto; max-width: 1060px; padding: 24px; }
h1 { font-size: 1.7em; margin: 0 0 4px; } h2 { font-size: 1.25em; margin: 32px 0 8px;
     border-bottom: 2px solid var(--line); padding-bottom: 4px; }
p.meta { color: var(--muted); margin: 0 0 16px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 0; }
.kpis div { border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
.kpis dt { color: var(--muted); font-size: .85em; } .kpis dd { margin: 0; font-size: 1.45em; font-weight: 600; }
.pair { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 20px; align-items: start; }
figure { margin: 0; } figcaption { color: var(--muted); font-size: .9em; }
svg { max-width: 100%; height: auto; } svg text { font: 12px system-ui, sans-serif; fill: var(--ink); }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { max-height: 420px; overflow: auto; }
code { font-size: .9em; } .none { color: var(--muted); font-style: italic; }
.q { white-space: pre-line; overflow-wrap: anywhere; }
@media (max-width: 760px) { .pair { grid-template-columns: 1fr; } }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  .scroll { max-height: none; overflow: visible; }
  section { break-inside: avoid-page; } h2 { break-after: avoid; }
  .pair { grid-template-columns: 1fr 1fr; }
}
"""


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "n/a"
    s = float(s)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _when(stamp: str | None) -> str:
    """An ISO time from the findings as a person reads it: ``2026-01-06 09:30``."""
    if not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _table(headers: list[str], rows: Iterable[list[Any]], numeric: set[int] = frozenset(),
           caption: str = "", scroll: bool = False) -> str:
    head = "".join(f'<th scope="col"{" class=n" if i in numeric else ""}>{escape(h)}</th>'
                   for i, h in enumerate(headers))
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            cls = ' class="n"' if i in numeric else ""
            cells.append(f"<td{cls}>{v if isinstance(v, _Raw) else escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}" class="none">none</td></tr>')
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    t = f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll" tabindex="0">{t}</div>' if scroll else t


class _Raw(str):
    """Already-escaped HTML for a table cell."""


_ids = iter(range(1, 10_000))


def _svg(title: str, desc: str, width: int, height: int, body: str) -> str:
    n = next(_ids)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-labelledby="svg{n}t svg{n}d">'
            f'<title id="svg{n}t">{escape(title)}</title><desc id="svg{n}d">{escape(desc)}</desc>{body}</svg>')


def hbar_chart(title: str, desc: str, items: list[tuple[str, float]], *, unit: str = "",
               color: str = "#0b5cad", width: int = 560) -> str:
    """Horizontal bars, one per (label, value)."""
    bar_h, gap, label_w = 22, 8, 150
    h = max(1, len(items)) * (bar_h + gap) + gap
    top = max([v for _, v in items] + [1])
    parts = []
    for i, (label, v) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = (width - label_w - 80) * (v / top if top else 0)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>'
                     f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{escape(_num(v))}{escape(unit)}</text>')
    return _svg(title, desc, width, h, "".join(parts))


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def pyramid_chart(p: dict[str, Any]) -> str:
    """The 1/9/90 picture: creators on top, contributors, readers at the base."""
    levels = [("creators", "#7a3e9d"), ("contributors", "#0b5cad"), ("readers", "#8c959f")]
    total = sum(int(p.get(k) or 0) for k, _ in levels) or 1
    width, row_h = 520, 46
    parts = []
    for i, (k, color) in enumerate(levels):
        frac = (i + 1) / len(levels)
        w = width * (0.3 + 0.7 * frac)
        x = (width - w) / 2
        y = i * (row_h + 6)
        n = int(p.get(k) or 0)
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h}" rx="4" fill="{color}"/>'
                     f'<text x="{width / 2}" y="{y + 28}" text-anchor="middle" style="fill:#fff;font-weight:600">'
                     f'{escape(k)}: {n:,} ({100 * n / total:.0f}%)</text>')
    desc = "; ".join(f"{k}: {int(p.get(k) or 0)} members" for k, _ in levels)
    return _svg("Participation pyramid", desc, width, 3 * (row_h + 6), "".join(parts))


def weekly_chart(weekly: list[dict[str, Any]]) -> str:
    width, height, pad = 640, 220, 36
    n = len(weekly)
    top = max([w["messages"] for w in weekly] + [1])
    bw = (width - pad - 10) / max(n, 1)
    parts = [f'<line x1="{pad}" y1="{height - 24}" x2="{width - 6}" y2="{height - 24}" stroke="#8c959f"/>',
             f'<text x="{pad - 4}" y="14" text-anchor="end">{top:,}</text>',
             f'<text x="{pad - 4}" y="{height - 26}" text-anchor="end">0</text>']
    for i, w in enumerate(weekly):
        h = (height - 44) * w["messages"] / top
        x = pad + i * bw
        parts.append(f'<rect x="{x + 0.5:.1f}" y="{height - 24 - h:.1f}" width="{max(bw - 1, 0.6):.1f}" '
                     f'height="{h:.1f}" fill="#0b5cad"/>')
    if weekly:
        parts.append(f'<text x="{pad}" y="{height - 6}">{escape(weekly[0]["week"])}</text>'
                     f'<text x="{width - 6}" y="{height - 6}" text-anchor="end">{escape(weekly[-1]["week"])}</text>')
    busiest = max(weekly, key=lambda w: w["messages"]) if weekly else None
    desc = (f"{n} weeks with activity from {weekly[0]['week']} to {weekly[-1]['week']}; busiest week "
            f"{busiest['week']} with {busiest['messages']} messages; total "
            f"{sum(w['messages'] for w in weekly)} messages" if weekly else "no activity")
    return _svg("Messages per week", desc, width, height, "".join(parts))


def _read_findings(path: Path | None) -> tuple[Counter, list[dict], list[dict], list[dict]]:
    """Counts by kind, the most recent unanswered questions, the ambassador shortlist, newcomers;
    read line by line so a big findings file is never held whole."""
    kinds: Counter = Counter()
    unanswered: list[dict] = []
    ambassadors: list[dict] = []
    newcomers: list[dict] = []
    if path is None or not path.exists():
        return kinds, unanswered, ambassadors, newcomers
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            k = d.get("kind", "?")
            kinds[k] += 1
            if k == "question" and d.get("status") == "unanswered":
                unanswered.append(d)
                if len(unanswered) > 4 * MAX_ROWS:
                    unanswered.sort(key=lambda q: q.get("asked_at") or "", reverse=True)
                    del unanswered[MAX_ROWS:]
            elif k == "ambassador_candidate":
                ambassadors.append(d)
                if len(ambassadors) > 4 * MAX_ROWS:
                    ambassadors.sort(key=lambda a: (a.get("rank") or 1e9))
                    del ambassadors[MAX_ROWS:]
            elif k == "newcomer" and len(newcomers) < 10 * MAX_ROWS:
                newcomers.append(d)
    unanswered.sort(key=lambda q: q.get("asked_at") or "", reverse=True)
    ambassadors.sort(key=lambda a: (a.get("rank") or 1e9))
    return kinds, unanswered[:MAX_ROWS], ambassadors[:MAX_ROWS], newcomers[-MAX_ROWS:]


def listed_questions(findings_path: Path | None) -> list[tuple[str, str]]:
    """(channel ID, message ID) of the unanswered questions the page lists."""
    return [(str(q.get("channel")), str(q.get("message"))) for q in _read_findings(findings_path)[1]]


def render_report(health: dict[str, Any], *, community: str, source: str, platform: str,
                  findings_path: Path | None = None, actions: Counter | None = None,
                  import_lines: list[str] | None = None, names: Names | None = None,
                  generated_at: datetime | None = None) -> str:
    """The whole page as a string."""
    names = names or Names()
    kinds, unanswered, ambassadors, newcomers = _read_findings(findings_path)

    def who(mid: str | None) -> str:
        return names.members.get(mid or "") or (mid or "")

    def where(cid: str | None) -> str:
        return "#" + (names.channels.get(cid or "") or (cid or ""))

    def question(q: dict) -> _Raw:
        text = names.texts.get((str(q.get("channel")), str(q.get("message"))))
        if text is None:
            return _Raw('<span class="none">text not kept</span>')
        cut = text if len(text) <= MAX_TEXT else text[:MAX_TEXT].rstrip() + "…"
        return _Raw(f'<span class="q">{escape(cut)}</span>')

    def reason(text: str | None) -> str:  # "answered by @U123" → "answered by @Ada"
        return re.sub(r"@([\w.-]+)", lambda m: "@" + (names.members.get(m.group(1)) or m.group(1)), text or "")

    h = health
    p = h.get("participation") or {}
    win = h.get("window") or {}
    gen = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(community)}: community health report</title><style>{CSS}</style></head><body>",
           "<header>", f"<h1>{escape(community)}: community health</h1>",
           f'<p class="meta">{escape(platform)} · {escape(source)} · from {escape(str(win.get("start") or "the start"))} '
           f'to {escape(str(win.get("end") or "now"))} · generated {escape(gen)}</p>', "</header><main>"]

    kpis = [("Members", f"{h.get('members', 0):,}"), ("Active members", f"{h.get('active_members', 0):,}"),
            ("Messages", f"{h.get('messages', 0):,}"), ("Questions", f"{h.get('questions', 0):,}"),
            ("Answered", _pct(h.get("answered_rate"))),
            ("Median first response", _fmt_s(h.get("median_time_to_first_response_s"))),
            ("90% answered within", _fmt_s(h.get("p90_time_to_first_response_s")))]
    out.append('<section aria-labelledby="s-kpi"><h2 id="s-kpi">At a glance</h2><dl class="kpis">')
    out += [f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in kpis]
    out.append("</dl></section>")

    out.append('<section aria-labelledby="s-part"><h2 id="s-part">Participation</h2>'
               "<p>Creators start conversations, contributors only reply or react, readers do neither "
               "(bots and staff are not counted).</p><div class=pair><figure>")
    out.append(pyramid_chart(p))
    out.append("<figcaption>The participation pyramid; the table beside it has the same numbers.</figcaption>"
               "</figure>")
    out.append(_table(["Level", "Members", "Share"],
                      [[k, f"{int(p.get(k) or 0):,}", f"{p.get(k + '_pct') if p.get(k + '_pct') is not None else 'n/a'}%"]
                       for k in ("creators", "contributors", "readers")], {1, 2}, "Participation by level"))
    out.append("</div></section>")

    weekly = h.get("weekly") or []
    out.append('<section aria-labelledby="s-week"><h2 id="s-week">Weekly activity</h2><div class=pair><figure>')
    out.append(weekly_chart(weekly))
    out.append("<figcaption>Messages by members per week (weeks without any activity are left out)."
               "</figcaption></figure>")
    out.append(_table(["Week of", "Messages", "Active members", "New members"],
                      [[w["week"], f"{w['messages']:,}", f"{w['active_members']:,}", f"{w['new_members']:,}"]
                       for w in weekly], {1, 2, 3}, "Activity per week", scroll=True))
    out.append("</div></section>")

    dist = h.get("time_to_first_response") or []
    out.append('<section aria-labelledby="s-ttfr"><h2 id="s-ttfr">Time to first response</h2>'
               f"<p>Median {escape(_fmt_s(h.get('median_time_to_first_response_s')))}, 90th percentile "
               f"{escape(_fmt_s(h.get('p90_time_to_first_response_s')))}; {h.get('answered', 0):,} of "
               f"{h.get('questions', 0):,} questions answered. Bot replies do not count.</p><div class=pair><figure>")
    items = [(d["bucket"], d["questions"]) for d in dist]
    out.append(hbar_chart("Time to first response", "; ".join(f"{b}: {n} questions" for b, n in items) or "none",
                          items, color="#7a3e9d"))
    out.append("<figcaption>Answered questions by how long the first response took.</figcaption></figure>")
    out.append(_table(["First response", "Questions"], [[b, f"{n:,}"] for b, n in items], {1},
                      "Time to first response"))
    out.append("</div></section>")

    onb = h.get("onboarding") or []
    if onb:
        out.append('<section aria-labelledby="s-onb"><h2 id="s-onb">Onboarding by join cohort</h2>'
                   "<p>Of the newcomers who joined in a month, the share whose first contribution (a message) came "
                   "within 7 and within 30 days, and how far their onboarding journey had gone by then.</p>")
        out.append(_table(["Joined", "Newcomers", "Within 7 days", "Within 30 days", "First contribution came"],
                          [[r["cohort"], f"{r['joined']:,}", f"{_pct(r['rate_7d'])} of {r['eligible_7d']:,}",
                            f"{_pct(r['rate_30d'])} of {r['eligible_30d']:,}",
                            "; ".join(f"{k}: {v}" for k, v in r["at_step"].items()) or "-"] for r in onb],
                          {1, 2, 3}, "Onboarding by join cohort", scroll=True))
        out.append("</section>")
    ret = h.get("retention") or []
    out.append('<section aria-labelledby="s-ret"><h2 id="s-ret">Newcomer retention</h2>'
               "<p>Of the members who joined in a month, the share who posted again 30 and 90 days after "
               "joining (members whose 30 or 90 days are not over yet are not counted).</p><div class=pair><figure>")
    recent = ret[-12:]
    items = [(r["cohort"], round(100 * (r["rate_30d"] or 0))) for r in recent]
    out.append(hbar_chart("Retention after 30 days by join month",
                          "; ".join(f"{r['cohort']}: {_pct(r['rate_30d'])} of {r['eligible_30d']}" for r in recent)
                          or "no cohorts", items, unit="%"))
    out.append("<figcaption>30-day retention of the last 12 cohorts.</figcaption></figure>")
    out.append(_table(["Joined", "Members", "After 30 days", "After 90 days"],
                      [[r["cohort"], f"{r['joined']:,}", f"{_pct(r['rate_30d'])} of {r['eligible_30d']:,}",
                        f"{_pct(r['rate_90d'])} of {r['eligible_90d']:,}"] for r in ret],
                      {1, 2, 3}, "Retention by join cohort", scroll=True))
    out.append("</div></section>")

    out.append('<section aria-labelledby="s-unans"><h2 id="s-unans">Unanswered questions</h2>')
    if not kinds.get("question"):
        out.append('<p class="none">No question findings: question tracking is not installed or found none.</p>')
    out.append(_table(["Asked", "Channel", "Asked by", "Question", "Why it is open"],
                      [[_when(q.get("asked_at")), where(q.get("channel")), who(q.get("author")), question(q),
                        reason(q.get("reason"))] for q in unanswered],
                      caption=f"The {len(unanswered)} most recent unanswered questions"))
    out.append("</section>")

    out.append('<section aria-labelledby="s-amb"><h2 id="s-amb">Ambassador shortlist</h2>')
    if not kinds.get("ambassador_candidate"):
        out.append('<p class="none">No ambassador findings: ambassador scoring is not installed or found none.</p>')
    out.append(_table(["Rank", "Member", "Score", "Evidence"],
                      [[a.get("rank", ""), who(a.get("member")), a.get("score", ""), _evidence(a.get("evidence"))]
                       for a in ambassadors], {0, 2}, "Candidates with the evidence for each"))
    out.append("</section>")

    out.append('<section aria-labelledby="s-new"><h2 id="s-new">Newcomers</h2>')
    out.append(_table(["Joined", "Member", "First message", "Messages"],
                      [[_when(n.get("joined_at")), who(n.get("member")), _when(n.get("first_message_at")) or "not yet",
                        n.get("messages", 0)] for n in newcomers], {3},
                      f"Latest newcomers ({kinds.get('newcomer', 0):,} joined in the last 30 days)"))
    out.append("</section>")

    if actions is not None:
        out.append('<section aria-labelledby="s-act"><h2 id="s-act">What Steward would have done</h2>')
        out.append(_table(["Playbook", "Action", "Count"],
                          [[pb, act, f"{n:,}"] for (pb, act), n in sorted(actions.items())], {2},
                          f"{sum(actions.values()):,} actions in dry-run (details in actions.jsonl)"))
        out.append("</section>")
    out.append('<section aria-labelledby="s-find"><h2 id="s-find">Findings</h2>')
    out.append(_table(["Kind", "Count"], [[k, f"{n:,}"] for k, n in sorted(kinds.items())], {1},
                      "Findings by kind (details in findings.jsonl)"))
    out.append("</section>")
    if import_lines:
        out.append('<section aria-labelledby="s-imp"><h2 id="s-imp">Import</h2><ul>')
        out += [f"<li>{escape(line.strip())}</li>" for line in import_lines]
        out.append("</ul></section>")
    out.append("</main></body></html>")
    return "\n".join(out)


def _evidence(ev: dict | None) -> _Raw:
    """The evidence in words when the finding has them, else its figures one a line."""
    ev = ev or {}
    if ev.get("text"):
        return _Raw(escape(str(ev["text"])))
    return _Raw("<br>".join(f"{escape(str(k))}: {escape(str(v))}" for k, v in ev.items()))


def write_report(path: Path, result, *, findings_path: Path, community: str, source: str,
                 names: Names | None = None) -> None:
    """Write report.html for a backtest result."""
    html = render_report(result.health, community=community, source=source, platform=result.platform,
                         findings_path=findings_path, actions=result.actions,
                         import_lines=result.summary.lines() + [f"finding provider failed: {e}"
                                                                for e in result.provider_errors],
                         names=names)
    Path(path).write_text(html, encoding="utf-8")
