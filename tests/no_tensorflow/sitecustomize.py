"""Put on PYTHONPATH to make `import tensorflow` fail, as on a machine without TensorFlow."""

import sys


class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked for this test)")
        return None


sys.meta_path.insert(0, _NoTensorFlow())
