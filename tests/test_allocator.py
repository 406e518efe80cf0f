"""Training keeps freed memory: a freed buffer is reused, not faulted in afresh (docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

# allocates, fills and frees a 64 MiB buffer (over glibc's largest mmap threshold) five times and
# prints the minor page faults of the last four, then what keep_freed_memory said (a bytearray is
# plain malloc; NumPy asks for huge pages, which would fault 512 times fewer)
PROBE = """
import resource, sys
from rnn_recipes import allocator
said = allocator.keep_freed_memory() if sys.argv[1] == "keep" else allocator.state()
bytearray(1 << 26)  # the first time: its pages are faulted in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    bytearray(1 << 26)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, said)
"""


def probe(mode: str, **env) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**clean, "PYTHONPATH": str(ROOT / "src"), **env}, timeout=60).stdout
    faults, said = out.strip().split(" ", 1)
    return int(faults), said


def test_a_freed_buffer_is_reused_without_page_faults_once_memory_is_kept():
    system, said = probe("system")
    assert said == "system default" and system >= 4 * 16384 * 0.9  # 4 x 64 MiB of 4 KiB pages, faulted in each time
    kept, said = probe("keep")
    assert said == "glibc keeps freed memory for reuse" and kept < 100


def test_the_users_own_malloc_settings_are_left_as_they_are():
    faults, said = probe("keep", MALLOC_TRIM_THRESHOLD_="131072")
    assert said == "as MALLOC_TRIM_THRESHOLD_ sets it" and faults >= 4 * 16384 * 0.9
    assert probe("keep", GLIBC_TUNABLES="glibc.malloc.mmap_max=0")[1] == "as GLIBC_TUNABLES sets it"
