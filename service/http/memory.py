"""Memory for photo decodes: a budget that bounds concurrent decodes, and returning memory.

Every decode of an uploaded photo first reserves what it will take
(:func:`ingest.downscale.decode_cost`) from one :class:`DecodeBudget`; a burst of large photos
then decodes a few at a time instead of all at once. The budget is sized from the memory
available when the server starts (``TUWEN_DECODE_MEMORY_MB`` overrides it).

glibc keeps freed memory in its heaps, so a burst of decodes would leave the process large
for good. :func:`tune_malloc` makes every block of 16 MiB or more (Pillow keeps large images in
blocks of that size) a mapping of its own that goes back to the system when freed; smaller
blocks (model activations) keep glibc's fast reuse. The budget trims the heaps whenever the
last decode of a burst ends.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

log = logging.getLogger(__name__)

MIB = 1024 * 1024
#: The most memory the automatic budget takes, and the least it leaves decodes.
AUTO_MAX, AUTO_MIN = 1024 * MIB, 128 * MIB
#: Blocks of at least this many bytes are mapped on their own (glibc ``M_MMAP_THRESHOLD``).
MMAP_THRESHOLD = 16 * MIB
_M_MMAP_THRESHOLD = -3


def available_memory() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes, or ``None`` where there is none."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def budget_bytes(decode_memory_mb: int) -> int:
    """The decode budget: ``decode_memory_mb`` MiB, or (0) a quarter of the available
    memory, between 128 MiB and 1 GiB."""
    if decode_memory_mb:
        return decode_memory_mb * MIB
    available = available_memory()
    if available is None:
        return 512 * MIB
    return max(AUTO_MIN, min(AUTO_MAX, available // 4))


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def tune_malloc() -> bool:
    """Map large blocks on their own so that they are returned when freed (glibc only).

    Returns:
        Whether the setting took (``False`` on a C library without ``mallopt``).
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def trim() -> None:
    """Give the C heaps' free memory back to the system (glibc ``malloc_trim``)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class DecodeBudget:
    """A byte budget for concurrent decodes: a semaphore weighted by each decode's cost.

    Args:
        total: Bytes that decodes may take at once. A decode that costs more waits until it
            can run alone.
    """

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.free = self.total
        self.waiting = 0
        self._changed: asyncio.Condition | None = None

    @asynccontextmanager
    async def reserve(self, cost: int) -> AsyncIterator[None]:
        """Hold ``cost`` bytes of the budget (at most all of it) while the block runs."""
        need = min(max(0, cost), self.total)
        if self._changed is None:
            self._changed = asyncio.Condition()
        changed = self._changed
        async with changed:
            self.waiting += 1
            try:
                await changed.wait_for(lambda: self.free >= need)
            finally:
                self.waiting -= 1
            self.free -= need
        try:
            yield
        finally:
            async with changed:
                self.free += need
                idle = self.free == self.total and not self.waiting
                changed.notify_all()
            if idle:
                await asyncio.to_thread(trim)
