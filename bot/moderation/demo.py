"""The moderation section of ``steward demo``: the cases the sample community produced."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bot.messaging.markdown import to_plain
from bot.moderation.queue import RULE_TEXT, service


async def show_cases(console: Console, app) -> None:
    """Print every case with what the moderators' digest said about the first one."""
    svc = service(app.engine)
    cases = await svc.cases.all()
    table = Table(title=f"Moderation cases ({len(cases)}), each one digest item in #moderators", expand=True)
    for col in ("case", "member", "rule", "why", "hits", "status", "automatic"):
        # on a narrow terminal the reason keeps room to be read; the rule names wrap instead
        table.add_column(col, ratio={"why": 3, "rule": 1}.get(col), min_width={"why": 22, "rule": 13}.get(col))
    for c in cases:
        m = await app.store.get_member(c.platform, c.member_id)
        table.add_row(f"#{c.id}", (m.display_name if m else "") or c.member_id,
                      ", ".join(RULE_TEXT.get(r, r) for r in c.rules), c.reason[:160], str(c.hits), c.status,
                      c.auto_action or "")
    console.print(table)
    items = [i for i in await app.store.outbox(playbook_id="moderation") if i.action == "open_case"]
    if items:
        first = items[0].message
        names = {}
        for c in cases:
            m = await app.store.get_member(c.platform, c.member_id)
            names[c.member_id] = (m.display_name if m else "") or c.member_id
        console.print("[bold]What the moderators see[/bold] (first case; buttons: "
                      + ", ".join(b.label for b in first.digest.items[0].buttons) + ")", highlight=False)
        channels = {ch.channel_id: ch.name for ch in await app.store.channels(cases[0].platform)}
        console.print(to_plain(first.text, member_name=lambda i: names.get(i, i),
                               channel_name=lambda i: channels.get(i, i)), highlight=False, markup=False)
        console.print()
