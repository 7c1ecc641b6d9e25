"""Write-behind: rows buffered in memory and written in batches while events keep coming.

Used by the store (messages and reactions) and by features that buffer their own rows (the
question tracker's state). A buffer registers with ``Store.register_buffer``, so ``Store.flush()``
writes it too: no reader has to remember which features buffer what.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Buffer(Protocol):
    """Something holding rows not yet written; ``flush`` writes them and waits."""

    async def flush(self) -> None: ...


class WriteBehind:
    """One batch in flight at a time. ``write_behind()`` (called by the owner when its buffer is
    full) starts writing ``take(False)`` in a background task; while the batch before it is still
    being written the buffer grows, up to four batches, instead of waiting. ``flush()`` writes
    ``take(True)`` and waits. ``take`` returns None when there is nothing to write; ``write`` must
    put a batch that fails back into the buffer (its error surfaces at the next write or flush, so
    nothing is lost). ``lock`` is held by every batch write: a flush that finds nothing buffered
    still waits for a batch another flush took."""

    def __init__(self, *, take: Callable[[bool], Any], write: Callable[[Any], Awaitable[None]],
                 pending: Callable[[], int], batch_size: int, lock: asyncio.Lock) -> None:
        self._take = take
        self._write = write
        self._pending = pending
        self.batch_size = batch_size
        self.lock = lock
        self._writing: asyncio.Task | None = None

    async def write_behind(self) -> None:
        task = self._writing
        if task is not None and not task.done() and self._pending() < 4 * self.batch_size:
            return  # the batch before is still being written: let this one grow meanwhile
        await self.join()
        batch = self._take(False)
        if batch is not None:
            self._writing = asyncio.create_task(self._write(batch))

    async def join(self) -> None:
        """Wait for the batch in flight (its failure, rows back in the buffer, is the caller's error)."""
        while (task := self._writing) is not None:
            try:
                # shielded: a caller that gives up waiting does not cut the write short
                await asyncio.shield(task)
            finally:
                if self._writing is task:
                    self._writing = None

    async def flush(self) -> None:
        """Write every buffered row and wait until it is committed."""
        await self.join()
        batch = self._take(True)
        if batch is None:
            # a batch another flush took may still be on its way in: batch writes hold the lock
            async with self.lock:
                return
        await self._write(batch)
