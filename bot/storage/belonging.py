"""What the belonging features read and keep: a member's activity since a time (a journey's stop
conditions), and their interests and introductions (bot/outreach/journeys.py, interests.py, intros.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, select

from bot.storage.base import Db
from bot.storage.links import replies
from bot.storage.models import MemberRow, MessageRow, ReactionRow

M = MessageRow.__table__
R = ReactionRow.__table__
MB = MemberRow.__table__


class Belonging:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def activity(self, platform: str, member_id: str, since: datetime) -> set[str]:
        """What the member did after ``since``: ``posted`` (any message), ``replied`` (a thread reply,
        a reply to a message, or a message the reply-link model linked to another member's line:
        bot/storage/links.py), ``reacted``, ``left`` (the server or workspace)."""
        mine = and_(M.c.platform == platform, M.c.author_id == member_id, M.c.posted_at > since,
                    M.c.is_bot.is_(False))
        replied = and_(mine, replies(M))
        reacted = and_(R.c.platform == platform, R.c.member_id == member_id, R.c.at > since)
        left = and_(MB.c.platform == platform, MB.c.member_id == member_id, MB.c.left_at.is_not(None),
                    MB.c.left_at > since)
        q = select(exists().where(mine), exists().where(replied), exists().where(reacted), exists().where(left))
        async with self.db.single(write=False) as conn:
            row = (await conn.execute(q)).one()
        return {k for k, v in zip(("posted", "replied", "reacted", "left"), row, strict=True) if v}
