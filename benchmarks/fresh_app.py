"""`python -m benchmarks.fresh_app`: ``app.main()`` with freshly built (untrained) U-Nets for the
organs whose weight file is missing, so that the app start-up benchmark can run before training
has produced weights. Same architecture, same start-up steps (models loaded and warmed up, then
``app.launch``); only the weight values differ, which does not change the timings.

Run from the repository root (``app.py`` is imported from there).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    import app
    from benchmarks.speed import fresh_model
    from unet.inference.models import Segmenters
    from unet.inference.registry import ORGANS
    from unet.inference.segmenter import Segmenter

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    t0 = time.perf_counter()
    # the app's engine, as for weights read from a file
    given = {key: Segmenter(organ, model=fresh_model(organ), engine="litert")
             for key, organ in ORGANS.items() if not organ.weight_path.is_file()}
    models = Segmenters(given)
    for organ_key, problem in models.load_all().items():
        logging.getLogger("app").error("%s model unavailable: %s", organ_key, problem)
    print(f"Models ready in {time.perf_counter() - t0:.1f} s (untrained: "
          f"{', '.join(sorted(given)) or 'none'})", flush=True)
    app.launch(app.build_demo(models))


if __name__ == "__main__":
    main()
