"""Process-wide allocator settings that keep memory flat on big objects.

Arrow's default pool on Linux wheels (mimalloc) kept freed pages per thread
and spent more than a second of system time per 200k lines re-faulting
them; jemalloc with a one-second decay gave lower peak RSS (about 25% on a
1M-line object) and the least CPU of the allocators and decay settings
measured with ``make bench``.

Python's own big buffers (the chunks of log text, 8-12 MiB each) come from
the C library's malloc, which maps such sizes afresh and unmaps them when
freed: every chunk paid its pages in faults (0.3 s of system time per
million lines). glibc's thresholds are raised so that they are reused.

Applied once, on first use; each setting is a no-op where it does not
apply (no jemalloc built in, a C library other than glibc).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import pyarrow as pa

#: How long jemalloc keeps freed pages before giving them back to the system.
DECAY_MS = 1000
#: glibc mallopt(3): blocks below this come from the heap, not from mmap
#: (32 MiB is the largest glibc takes on 64-bit systems)...
_M_MMAP_THRESHOLD, MMAP_THRESHOLD = -3, 32 << 20
#: ...and the heap keeps this much free memory at its top rather than trimming it.
_M_TRIM_THRESHOLD, TRIM_THRESHOLD = -1, 128 << 20
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
    _keep_big_blocks()


def _keep_big_blocks() -> None:
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        mallopt = ctypes.CDLL(name).mallopt if name else None
        if mallopt is not None:
            mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
