"""Keep freed memory in the process, so each train step reuses its buffers instead of faulting in fresh pages.

glibc's malloc serves an allocation above its mmap threshold (which grows
with use, up to 32 MiB) with pages of its own and hands them back to the
kernel on `free`; it also trims the heap's free top above 128 KiB. A train
step of a recurrent layer allocates buffers of one step's activations over
every time step (100 steps x batch 128 x 4 x 512 units of float32 is 105 MB),
frees them, and allocates them again in the next step: each time the kernel
maps and zeroes them anew. Measured on lstm-512-100-b128-one under XLA, 1.1
million page faults and 2.5 s of system time an epoch, 1.7x the epoch's time
without them (docs/benchmarks.md, "Memory the kernel zeroes every step").

`keep_freed_memory()` asks glibc (`mallopt`) to serve every allocation from
its heap and never to trim it, so freed buffers are reused as they are. The
peak resident size is the same (it is set by the step's largest live set);
what changes is that memory freed after the peak stays with the process
until it exits. Malloc settings the user gave (glibc's `MALLOC_*_` variables
or `GLIBC_TUNABLES`, or another allocator in `LD_PRELOAD`) are left alone.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # <malloc.h>: trim the heap's top when more than this is free
M_MMAP_MAX = -4  # <malloc.h>: at most this many allocations served by mmap at once
NEVER_TRIM = 2**31 - 1  # mallopt takes an int: 2 GiB of free top before trimming

KEPT = "glibc keeps freed memory for reuse"
_state = "system default"


def user_malloc_settings() -> str | None:
    """The malloc setting the user's environment makes, if any (which then stands as it is)."""
    for name in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"):
        if os.environ.get(name):
            return name
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES"
    if "malloc" in os.environ.get("LD_PRELOAD", ""):  # jemalloc, tcmalloc, mimalloc
        return "LD_PRELOAD"
    return None


def keep_freed_memory() -> str:
    """Set malloc to keep freed memory (once per process; later calls repeat the answer) and say what it is now.

    Returns:
        A few words for the run's `runtime.json`: `KEPT`, or why malloc was left as it is.

    Example:
        >>> keep_freed_memory() == state()
        True
    """
    global _state
    if _state != "system default":
        return _state
    if setting := user_malloc_settings():
        _state = f"as {setting} sets it"
    elif platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _state = "system default (not glibc)"
    else:
        libc = ctypes.CDLL("libc.so.6")
        if libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1:
            _state = KEPT
        else:
            _state = "system default (mallopt refused)"
    return _state


def state() -> str:
    """What `keep_freed_memory` made of malloc in this process so far (timings depend on it)."""
    return _state
