"""The end of a box-network run: the inference copy (no optimizer state) and its LiteRT
flatbuffer in the export folder, the test split scored with simulated prompts through the app's
own path, and the card ``<organ>_box.json`` that says how it was made and what it scored."""

from __future__ import annotations

import json
import time
from pathlib import Path

from unet.inference.registry import WEIGHTS_DIR

VERSION = "box-1"


def box_weight_path(organ: str, folder: Path = WEIGHTS_DIR) -> Path:
    """Where an organ's box network is exported: ``<folder>/<organ>_box.keras``."""
    return Path(folder) / f"{organ}_box.keras"


def export_box_network(organ_key: str, model, recipe, datasets, manifest: dict, info: dict,
                       run_dir: Path, export_dir: Path, *, started: float,
                       max_test_images: int | None = None,
                       automatic_weights: str | Path | None = None) -> Path:
    from training.export import export_engine_bundle, inference_copy
    from training.manifest import split_samples
    from training.prompt_evaluation import evaluate_prompts, format_prompt_table
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter

    organ = get_organ(organ_key)
    export_dir.mkdir(parents=True, exist_ok=True)
    path = box_weight_path(organ.key, export_dir)
    inference_copy(model, recipe.input_size, {"decoder_filters": recipe.decoder_filters},
                   path, architecture="box_prompt_unet")
    print(f"exported {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    export_engine_bundle(path)
    test = split_samples(datasets, manifest, "test")
    if max_test_images:
        test = test[:max_test_images]
    segmenter = Segmenter(organ, weights=automatic_weights or organ.weight_path, box_weights=path)
    evaluated_at = time.time()
    result = evaluate_prompts(segmenter, test)
    (run_dir / "prompt_test.json").write_text(json.dumps(result, indent=1))
    if result["summary"]:
        print(format_prompt_table(f"{organ.display_name} test split, lesion images",
                                  result["summary"]), flush=True)
    card = {
        "version": VERSION,
        "organ": organ.key,
        "what": ("Box-prompted U-Net: a user's box around a lesion in, the lesion's outline out "
                 "(unet/networks/box_prompt_unet.py). The app uses it for boxes; clicks and "
                 "organs without it use the automatic model (unet/inference/prompts.py)."),
        "architecture": "box_prompt_unet",
        "input": (f"a square window of 2.2x the box's larger side around the box, resized to "
                  f"{recipe.input_size} px: the standardized gray window and the box as a "
                  "filled rectangle (unet/transforms/box_window.py)"),
        "automatic_model": {"file": Path(automatic_weights or organ.weight_path).name,
                            "version": segmenter.version},
        "training": info,
        "split": manifest.get("grouping", ""),
        "split_file": info.get("split"),
        "test": {
            "what": ("lesion images of the automatic model's test split, each at its own size "
                     "through the app's path; box: every lesion's bounding box with each side "
                     "moved by up to 10 % of its size (seed 0); click: one lesion click on each "
                     "lesion's most interior point; 'box_training_free': the same boxes through "
                     "the automatic model alone; Dice mean with 95 % bootstrap interval, and "
                     "the share of images below Dice 0.5"),
            "images": result["images"],
            "seconds": round(time.time() - evaluated_at, 1),
            **(result["summary"] or {}),
        },
        "total_seconds": round(time.time() - started, 1),
        "created": time.strftime("%Y-%m-%d"),
    }
    card_path = path.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    print(f"card {card_path}", flush=True)
    return path
