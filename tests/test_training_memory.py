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
    for _ in range(40):
        a = np.ones(4 << 20, np.uint8)  # a 4 MB activation buffer, written, then freed
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
    # patched: each 4 MB buffer is a fresh mapping (about 1,000 faults each); fixed: reused
    assert faults["patched"] > 20_000
    assert faults["fixed"] < faults["patched"] / 5
