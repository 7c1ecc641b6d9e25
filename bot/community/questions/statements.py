"""The statements ``QuestionService`` (service.py) writes its batches with, built once: late thread
replies, question tiers, members' last-active times, and the check for members forgotten meanwhile."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, literal, or_, select, update

from bot.storage.models import HelpRow, MemberRow, QuestionRow

QT = QuestionRow.__table__
HELPS = HelpRow.__table__
MT = MemberRow.__table__

#: a late thread reply (``QuestionService._write_late``): the question it answers, if any
LATE_WHERE = (QT.c.platform == bindparam("l_p"), QT.c.channel_id == bindparam("l_c"),
              QT.c.message_id == bindparam("l_m"), QT.c.status == "open", QT.c.author_id != bindparam("l_by"))
LATE_HELP = insert(HELPS).from_select(
    ["platform", "helper_id", "member_id", "channel_id", "question_id", "at", "evidence"],
    select(bindparam("l_p", type_=HELPS.c.platform.type), bindparam("l_by", type_=HELPS.c.helper_id.type),
           QT.c.author_id, bindparam("l_c", type_=HELPS.c.channel_id.type),
           bindparam("l_m", type_=HELPS.c.question_id.type), bindparam("l_at", type_=HELPS.c.at.type),
           literal("replied in the thread", HELPS.c.evidence.type)).where(*LATE_WHERE))
LATE_ANSWER = update(QT).where(*LATE_WHERE).values(
    status="answered", answered_by=bindparam("l_ab", type_=QT.c.answered_by.type),
    first_response_at=bindparam("l_at", type_=QT.c.first_response_at.type))

#: a question reaching a tier (``QuestionService.set_tier``); members' last-active times (``_write``)
SET_TIER = update(QT).where(
    QT.c.platform == bindparam("k_p", type_=QT.c.platform.type), QT.c.channel_id == bindparam("k_c"),
    QT.c.message_id == bindparam("k_m"), QT.c.tier < bindparam("k_t", type_=QT.c.tier.type),
).values(tier=bindparam("k_t", type_=QT.c.tier.type))
ACTIVE = update(MT).where(
    MT.c.platform == bindparam("p"), MT.c.member_id == bindparam("m"),
    or_(MT.c.last_active_at.is_(None), MT.c.last_active_at < bindparam("t")),
    # a time buffered before the member was forgotten is not written back onto them
    MT.c.forgotten.is_not(True),
).values(last_active_at=bindparam("t"))


async def forgotten_in(conn: Any, new: dict, updates: dict, helps: list, late: list) -> set[tuple[str, str]]:
    """The (platform, member) pairs of a write batch whose members have been forgotten."""
    pairs = {(k[0], v["author_id"]) for k, v in new.items()}
    pairs |= {(k[0], a) for k, v in updates.items() for a in v.get("answered_by") or ()}
    pairs |= {(h["platform"], h[c]) for h in helps for c in ("helper_id", "member_id")}
    pairs |= {(x[0], x[3]) for x in late}
    if not pairs:
        return set()
    ids = sorted({m for _, m in pairs})
    out: set[tuple[str, str]] = set()
    for i in range(0, len(ids), 500):
        rows = (await conn.execute(select(MT.c.platform, MT.c.member_id).where(
            MT.c.member_id.in_(ids[i:i + 500]), MT.c.forgotten.is_(True)))).all()
        out |= {(r.platform, r.member_id) for r in rows}
    return out & pairs
