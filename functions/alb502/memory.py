"""Process-wide allocator settings that keep memory flat on big objects.

Arrow's default pool on Linux wheels (mimalloc) kept freed pages per thread
and spent more than a second of system time per 200k lines re-faulting
them; jemalloc with a one-second decay gave lower peak RSS (about 25% on a
1M-line object) and the least CPU of the allocators and decay settings
measured with ``make bench``. Applied once, on first use; a no-op where
jemalloc is not built in.
"""

from __future__ import annotations

import contextlib

import pyarrow as pa

#: How long jemalloc keeps freed pages before giving them back to the system.
DECAY_MS = 1000
_applied = False


def tune() -> None:
    """Apply the settings (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True
    with contextlib.suppress(NotImplementedError, pa.ArrowNotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(DECAY_MS)
