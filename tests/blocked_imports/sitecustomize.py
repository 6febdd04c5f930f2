"""Put on PYTHONPATH to make imports fail, as on a machine without those packages: the names in
the environment variable ``BLOCKED_IMPORTS`` (comma-separated top-level packages; TensorFlow
when it is not set)."""

import os
import sys

_BLOCKED = {n.strip() for n in os.environ.get("BLOCKED_IMPORTS", "tensorflow").split(",")
            if n.strip()}


class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked for this test)")
        return None


sys.meta_path.insert(0, _Blocked())
