"""The allocator setting that keeps training buffers on the heap (training/memory.py)."""

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import ctypes, sys, types
    import numpy as np
    # training.memory needs Keras only for its callback's base class; a stand-in spares each probe
    # the seconds of importing TensorFlow (the allocator settings under test are glibc's)
    sys.modules["keras"] = types.SimpleNamespace(callbacks=types.SimpleNamespace(Callback=object))
    from training.memory import keep_buffers

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    libc.mallopt(-1, 128 * 1024)  # what TensorFlow's generator dataset sets
    if sys.argv[1] == "fixed":
        assert keep_buffers()
    mapped = []
    for _ in range(5):
        before = libc.mallinfo2().hblkhd  # bytes in mmapped blocks
        a = np.ones(48 << 20, np.uint8)  # a 48 MB activation buffer (a batch's feature map)
        mapped.append(libc.mallinfo2().hblkhd - before)
        del a
    print(min(mapped))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_buffers_come_from_the_heap_instead_of_a_fresh_mapping_each_time():
    mapped = {}
    for mode in ("patched", "fixed"):
        out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True,
                             text=True, check=True, timeout=120)
        mapped[mode] = int(out.stdout.strip().splitlines()[-1])
    # patched: each buffer is its own mapping (mapped, page-faulted, unmapped every step; glibc
    # maps anything over 32 MB once the threshold is frozen); fixed: from the heap, reused
    assert mapped["patched"] >= 48 << 20
    assert mapped["fixed"] == 0
