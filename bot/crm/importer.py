"""``steward crm import``: match checked rows (bot/crm/rows.py) to members and write their
attributes, all in one transaction, after reporting every row as matched, unmatched or ambiguous.

- By platform ID: ``slack_id`` / ``discord_id`` must be a member Steward knows (seen in the
  member list or by an event).
- By e-mail: asked of the platform (Slack's ``users.lookupByEmail``, which needs the
  ``users:read.email`` scope); Discord gives bots no e-mail addresses.
- Ambiguous: the row's ID and e-mail point at different members, or two rows point at the same
  member. Neither is written: a person decides.
- A row that names one person's Slack and Discord accounts sets both, and links them: one person
  to Steward from then on (bot/people).

A CRM's ``language`` becomes the member's language and its ``interests`` that name the community's
topics their chosen interests, as if the member had chosen them (a later choice of the member's own
replaces them, and a later import replaces that)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.errors import Problem
from bot.crm.rows import Row, read
from bot.storage.repositories import Store

#: ``await lookup(email)`` → ([(platform, member_id)], why none when empty)
EmailLookup = Callable[[str], Awaitable[tuple[list[tuple[str, str]], str]]]


@dataclass
class Outcome:
    line: int
    status: str  # matched | unmatched | ambiguous
    accounts: list[tuple[str, str]] = field(default_factory=list)
    why: str = ""


@dataclass
class ImportReport:
    file: str
    problems: list[Problem] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    written: int = 0
    #: what else happened (interests chosen), one line each
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def lines(self) -> list[str]:
        """What a person reads: every problem, or a line per row and a summary."""
        if self.problems:
            return [str(p) for p in self.problems] + [
                f"{self.file}: {len(self.problems)} problem(s); nothing was imported"]
        out = []
        for o in self.outcomes:
            who = ", ".join(f"{p}:{m}" for p, m in o.accounts)
            out.append(f"{self.file}:{o.line}: {o.status}" + (f" {who}" if who else "") + (f": {o.why}" if o.why else ""))
        out += self.notes
        out.append(f"{self.file}: {self.count('matched')} matched, {self.count('unmatched')} unmatched, "
                   f"{self.count('ambiguous')} ambiguous; attributes written for {self.written} member account(s)")
        return out


async def import_file(store: Store, path: Path, *, now: datetime, email_lookup: EmailLookup | None = None,
                      dry_run: bool = False, interests: Any = None) -> ImportReport:
    """Check the whole file, match every row, then write the matched rows in one transaction.
    ``interests``: the community's interest service (bot/community/interests.py): a row's
    ``interests`` that name its topics (by id or name) become the member's chosen interests."""
    rows, problems = read(path)
    report = ImportReport(str(path), problems=problems)
    if problems:
        return report
    await store.flush()
    for row in rows:
        report.outcomes.append(await _match(store, row, email_lookup))
    # two rows that point at the same member: a person decides which is right
    by_account: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for o in report.outcomes:
        for acct in o.accounts if o.status == "matched" else ():
            by_account[acct].append(o)
    for acct, outs in by_account.items():
        if len(outs) > 1:
            for o in outs:
                lines = ", ".join(str(x.line) for x in outs if x is not o)
                o.status, o.why = "ambiguous", f"{acct[0]}:{acct[1]} is also on line {lines}"
    if dry_run:
        return report
    writes, locales = [], {}
    for row, o in zip(rows, report.outcomes, strict=True):
        if o.status != "matched":
            continue
        for acct in o.accounts:
            writes.append((acct[0], acct[1], row.attributes))
            if row.locale:
                locales[acct] = row.locale
    report.written = await store.attributes.put_all(writes, now=now, source=f"crm:{path.name}", locales=locales)
    if interests is not None:
        await _choose(interests, rows, report)
    for o in report.outcomes:
        # a row naming someone's Slack and Discord accounts: one person (bot/people)
        if o.status == "matched" and len({p for p, _ in o.accounts}) > 1:
            await store.people.link(o.accounts[0], o.accounts[1], now=now, by=f"crm:{path.name}")
    return report


async def _match(store: Store, row: Row, email_lookup: EmailLookup | None) -> Outcome:
    accounts: list[tuple[str, str]] = []
    missing: list[str] = []
    unknown: list[str] = []  # IDs of accounts Steward has not seen join (yet)
    for platform, mid in (("slack", row.slack_id), ("discord", row.discord_id)):
        if mid is None:
            continue
        if await store.get_member(platform, mid) is None:
            unknown.append(f"{platform}_id {mid}")
        else:
            accounts.append((platform, mid))
    if unknown:
        missing.append(f"no member with {' or '.join(unknown)} yet; run the import again after they join")
    if row.email:
        if email_lookup is None:
            found, why = [], "no platform to look e-mail addresses up on (Slack, with users:read.email)"
        else:
            found, why = await email_lookup(row.email)
        for platform, mid in found:
            named = row.slack_id if platform == "slack" else row.discord_id
            if named and named != mid:
                return Outcome(row.line, "ambiguous", [],
                               f"{platform}_id {named} and the e-mail address are different members ({mid})")
            if (platform, mid) not in accounts:
                accounts.append((platform, mid))
        if not found and not accounts:
            missing.append(why)
    if not accounts:
        return Outcome(row.line, "unmatched", [], "; ".join(missing))
    if unknown:  # the row's other account: written (and linked) by the next import once it joins
        return Outcome(row.line, "matched", accounts, f"no member with {' or '.join(unknown)} yet; run the "
                                                      "import again after they join to link the two accounts")
    return Outcome(row.line, "matched", accounts)


async def _choose(interests: Any, rows: list[Row], report: ImportReport) -> None:
    """The CRM's interests that are the community's topics become the member's choice, as if they
    had chosen them with ``/steward interests`` (their own later choice replaces it)."""
    topics = interests.topics.topics
    by_name = {t.id.lower(): t.id for t in topics.values()}
    for t in topics.values():
        for label in t.name.values():
            by_name.setdefault(label.strip().lower(), t.id)
    chosen, unknown = 0, set()
    for row, o in zip(rows, report.outcomes, strict=True):
        wanted = row.attributes.get("interests")
        if o.status != "matched" or not isinstance(wanted, list):
            continue
        ids = [by_name[w.strip().lower()] for w in wanted if w.strip().lower() in by_name]
        unknown.update(w for w in wanted if w.strip().lower() not in by_name)
        if ids:
            for platform, member_id in o.accounts:
                await interests.choose(platform, member_id, ids)
                chosen += 1
    if chosen:
        report.notes.append(f"{report.file}: interests chosen for {chosen} member account(s)")
    if unknown:
        report.notes.append(f"{report.file}: not among the community's topics (kept as attributes only): "
                            f"{', '.join(sorted(unknown))}")
