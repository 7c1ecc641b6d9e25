"""Channels: names, kinds and topics as the platforms report them."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from bot.core.records import Channel
from bot.storage.base import Db
from bot.storage.models import ChannelRow

C = ChannelRow.__table__


class Channels:
    def __init__(self, db: Db) -> None:
        self.db = db

    async def upsert(self, ch: Channel) -> None:
        async with self.db.engine.begin() as conn:
            row = (await conn.execute(
                select(C.c.id).where(C.c.platform == ch.platform, C.c.channel_id == ch.channel_id))).first()
            if row is None:
                await conn.execute(insert(C).values(platform=ch.platform, channel_id=ch.channel_id,
                                                    name=ch.name, kind=ch.kind, topic=ch.topic))
            else:
                await conn.execute(update(C).where(C.c.id == row.id).values(name=ch.name, kind=ch.kind, topic=ch.topic))

    async def all(self, platform: str) -> list[Channel]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(C).where(C.c.platform == platform))).all()
        return [Channel(r.platform, r.channel_id, r.name or "", r.kind, r.topic or "") for r in rows]

    async def by_name(self, platform: str, name: str) -> Channel | None:
        name = name.lstrip("#")
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(C).where(C.c.platform == platform, C.c.name == name))).first()
        return Channel(r.platform, r.channel_id, r.name or "", r.kind, r.topic or "") if r else None
