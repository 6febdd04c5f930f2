"""A private temporary folder for the files one request returns (mask, overlay, report).

Gradio copies returned files into its own cache (which its ``delete_cache`` cleans), so these
copies are only needed for a moment: request folders are swept by age, in the background too,
and the whole folder is removed at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from pathlib import Path


class Scratch:
    """A private temporary folder with one sub-folder per request.

    Sub-folders older than ``max_age_s`` are deleted whenever a new one is made and by a
    background sweep every ``max_age_s / 2`` seconds (so nothing lingers when no one uses the
    app); the whole folder is deleted at interpreter exit (and by :meth:`close`).
    """

    def __init__(self, *, max_age_s: float = 120.0, prefix: str = "unet-demo-"):
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.max_age_s = max_age_s
        self._closed = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_periodically, daemon=True,
                                         name="scratch-sweep")
        self._sweeper.start()
        atexit.register(self.close)

    def _sweep_periodically(self) -> None:
        while not self._closed.wait(max(self.max_age_s / 2, 0.05)):
            self.sweep()

    def new_dir(self) -> Path:
        self.sweep()
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=self.root))

    def sweep(self, max_age_s: float | None = None) -> int:
        """Delete request folders older than ``max_age_s``; returns how many were deleted."""
        limit = self.max_age_s if max_age_s is None else max_age_s
        now, removed = time.time(), 0
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if now - entry.stat().st_mtime >= limit:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def close(self) -> None:
        self._closed.set()
        shutil.rmtree(self.root, ignore_errors=True)


_scratch: Scratch | None = None
_scratch_lock = threading.Lock()


def scratch() -> Scratch:
    """The process's scratch space (made on first use)."""
    global _scratch
    with _scratch_lock:
        if _scratch is None:
            _scratch = Scratch()
        return _scratch
