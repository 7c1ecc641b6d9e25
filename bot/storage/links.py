"""What a stored message did in its conversation, in one place: health (creators, contributors,
replies given), belonging (a journey's "replied") and the member-level webhook all read it from here.

- It **replies** when it sits in a thread (not as the thread's opening post), replies on the
  platform, or the reply-link model linked it to another member's line (``MessageRow.linked_to``,
  bot/conversation).
- It **starts a conversation** when it does none of that and the model linked it to no earlier line
  (``linked_to = ''``). A Discord forum post's opening message (``thread_id == message_id``) starts one.
- A line the model linked to the author's own earlier line continues it: neither. Bots' messages
  (``linked_to`` NULL) are neither.
"""

from __future__ import annotations

from sqlalchemy import Table, and_, or_
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.expression import Alias

from bot.storage.models import MessageRow


def _in_thread(m: Table | Alias) -> ColumnElement[bool]:
    return and_(m.c.thread_id.is_not(None), m.c.thread_id != m.c.message_id)


def replies(m: Table | Alias) -> ColumnElement[bool]:
    """The messages of ``m`` (the messages table or an alias of it) that reply to someone."""
    return or_(_in_thread(m), m.c.reply_to.is_not(None),
               and_(m.c.linked_to != "", m.c.linked_to != m.c.author_id))


def starts(m: Table | Alias) -> ColumnElement[bool]:
    """The messages of ``m`` that start a conversation."""
    return and_(or_(m.c.thread_id.is_(None), m.c.thread_id == m.c.message_id), m.c.reply_to.is_(None),
                m.c.linked_to == "")


def as_sql(expr: ColumnElement[bool]) -> str:
    """The condition as SQL text for the hand-written queries (it holds no parameters, only the
    empty string, so one text serves SQLite and PostgreSQL)."""
    return f"({expr.compile(compile_kwargs={'literal_binds': True})})"


#: the same over the alias ``g`` of the messages table, as SQL text (bot/community/health.py)
_G = MessageRow.__table__.alias("g")
STARTS_SQL = as_sql(starts(_G))
REPLIES_SQL = as_sql(replies(_G))
