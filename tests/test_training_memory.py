"""The allocator setting that keeps training buffers on the heap (training/memory.py)."""

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import ctypes, resource, sys
    import numpy as np
    from training.memory import keep_buffers
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-1, 128 * 1024)  # what TensorFlow's generator dataset sets
    if sys.argv[1] == "fixed":
        assert keep_buffers()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(60):
        # a 1.5 MB activation buffer, written, then freed (under 2 MB, so no transparent huge
        # page can back it: 384 page faults each when it is a fresh mapping)
        a = np.ones(1536 << 10, np.uint8)
        del a
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_buffers_are_reused_instead_of_page_faulted_each_time():
    faults = {}
    for mode in ("patched", "fixed"):
        out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True,
                             text=True, check=True, timeout=120)
        faults[mode] = int(out.stdout.strip().splitlines()[-1])
    # patched: each buffer is a fresh mapping (384 faults each); fixed: the heap's, reused
    assert faults["patched"] > 10_000
    assert faults["fixed"] < faults["patched"] / 5
