"""Reading a Qdrant Edge shard's eagerly loaded files into the page cache before it opens.

Qdrant Edge reads the int8 vectors, the HNSW graphs and the payload indexes whole when a shard
opens, through memory maps whose page faults, when the files are not in the page cache, read
at 30–300 MB/s here; it then drops the int8 files from the cache. Reading the same files
first with ``sendfile`` to ``/dev/null`` (1–2 GB/s, no copy to user space) makes the open
read from the cache: a million products open in about 3 s instead of 8–14 s
(bench/README.md, ``store_1m``). The original vectors (``TUWEN_ON_DISK``) and the payloads
are memory-mapped and read on use, so they are left alone.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ingest.store.config import CollectionConfig

THREADS = 4  # files read at once
SEGMENT_FILES = ("id_tracker.*", "payload_index/**/*", "vector_index-*/**/*")


def eager_files(shard_dir: Path, config: CollectionConfig) -> list[Path]:
    """The files of a shard that opening it reads whole, largest first.

    Args:
        shard_dir: The shard's folder (``segments/*`` under it).
        config: The collection's settings: int8 files when quantized, no HNSW graph when it
            is on disk (``on_disk="all"``).
    """
    patterns = list(SEGMENT_FILES)
    if config.quantized:
        patterns.append("vector_storage-*/quantized.*")
    found: set[Path] = set()
    for segment in (shard_dir / "segments").glob("*"):
        for pattern in patterns:
            found.update(segment.glob(pattern))
    if config.on_disk == "all":
        found = {p for p in found if not (p.name.startswith("links") and p.suffix == ".bin")}
    files = [p for p in found if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_size, reverse=True)


def read_ahead(shard_dir: Path, config: CollectionConfig) -> int:
    """Bring :func:`eager_files` into the page cache; returns the bytes read.

    A file that cannot be read is skipped: opening the shard then reads it as it would have.
    """
    files = eager_files(shard_dir, config)
    if not files:
        return 0
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        with ThreadPoolExecutor(min(THREADS, len(files))) as pool:
            return sum(pool.map(lambda p: _send(p, null), files))
    finally:
        os.close(null)


def _send(path: Path, null: int) -> int:
    """Read ``path`` through the page cache into ``null``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0
    done = 0
    try:
        size = os.fstat(fd).st_size
        while done < size:
            sent = os.sendfile(null, fd, done, min(size - done, 1 << 30))
            if sent <= 0:
                break
            done += sent
        return done
    except OSError:
        return done
    finally:
        os.close(fd)
