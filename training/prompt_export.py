"""The end of a prompted network's run: the inference copy (no optimizer state) and its LiteRT
flatbuffer in the export folder, the test split scored with simulated prompts through the app's
own path, and the card ``<organ>_<prompt>.json`` that says how it was made and what it scored.

``PROMPT_KINDS`` holds what differs between the box and the click networks: their recipes,
their training windows, and what their cards say."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from unet.inference.registry import WEIGHTS_DIR


@dataclass(frozen=True)
class PromptKind:
    name: str  # "box" or "click": the file suffix and the builder's ``prompt``
    what: str
    input: str  # the card's description of the input; {size}: the network's side
    scored: tuple[str, ...]  # the simulated prompts its card scores (training.prompt_evaluation)

    def recipes(self) -> dict:
        from training import recipes

        return {"box": recipes.BOX_RECIPES, "click": recipes.CLICK_RECIPES}[self.name]

    def batches(self, recipe, items: list, **options):
        """The training or validation batches of ``items`` for this kind's network."""
        if self.name == "click":
            from training.click_prompt_data import ClickWindowBatches

            return ClickWindowBatches(items, share_range=recipe.click_shares.share_range,
                                      share=recipe.click_shares.first,
                                      sized_draws=recipe.click_sized_draws, **options)
        from training.box_prompt_data import BoxWindowBatches

        return BoxWindowBatches(items, **options)

    def card_input(self, recipe) -> dict:
        """What the card says the network sees: the text, and a click network's windows."""
        if self.name != "click":
            return {"input": self.input.format(size=recipe.input_size)}
        shares = recipe.click_shares
        sized = ("" if shares.lesion_factor is None else
                 f", then a window of {shares.lesion_factor}x that answer's larger side (within "
                 "the training range), its answer averaged with the one before")
        return {"input": self.input.format(size=recipe.input_size, share=shares.first,
                                           wide=shares.wide, sized=sized),
                "window": {**shares.to_card(), "training_sized_draws": recipe.click_sized_draws}}


PROMPT_KINDS = {
    "box": PromptKind(
        "box",
        "Box-prompted U-Net: a user's box around a lesion in, the lesion's outline out "
        "(unet/networks/box_prompt_unet.py). The app uses it for boxes; organs without it use "
        "the automatic model (unet/inference/prompts.py).",
        "a square window of 2.2x the box's larger side around the box, resized to {size} px: "
        "the standardized gray window and the box as a filled rectangle "
        "(unet/transforms/box_window.py)",
        ("box", "click")),
    "click": PromptKind(
        "click",
        "Click-prompted U-Net: a user's click on a lesion in, the lesion's outline out (the "
        "box network's builder with prompt='click'). The app uses it for lesion clicks; "
        "organs without it use the automatic model (unet/inference/prompts.py).",
        "a square window of {share}x the image's shorter side centred on the click ({wide}x "
        "where the answer reaches the window's edge){sized}, resized to {size} px: the "
        "standardized gray window and the click as a Gaussian spot "
        "(unet/transforms/click_window.py)",
        ("click",)),
}


def prompt_weight_path(organ: str, prompt: str = "box", folder: Path = WEIGHTS_DIR) -> Path:
    """Where an organ's prompted network is exported: ``<folder>/<organ>_<prompt>.keras``."""
    return Path(folder) / f"{organ}_{prompt}.keras"


def prompt_network_version(organ_key: str, prompt: str, path: Path, day: str) -> str:
    """A prompted network's version: organ, prompt, the day it was made and the start of its
    file's SHA-256 (the networks bundled before 2026-12-07 are "box-1" and "click-1")."""
    import hashlib

    return f"{organ_key}-{prompt}-{day}-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}"


def export_prompt_network(prompt: str, organ_key: str, model, recipe, datasets, manifest: dict,
                          info: dict, run_dir: Path, export_dir: Path, *, started: float,
                          max_test_images: int | None = None,
                          automatic_weights: str | Path | None = None) -> Path:
    from training.export import export_engine_bundle, inference_copy
    from training.manifest import split_samples
    from training.prompt_evaluation import evaluate_prompts, format_prompt_table
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter

    organ = get_organ(organ_key)
    export_dir.mkdir(parents=True, exist_ok=True)
    kind = PROMPT_KINDS[prompt]
    path = prompt_weight_path(organ.key, prompt, export_dir)
    inference_copy(model, recipe.input_size,
                   {"decoder_filters": recipe.decoder_filters, "prompt": prompt}, path,
                   architecture="box_prompt_unet")
    print(f"exported {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    export_engine_bundle(path)
    test = split_samples(datasets, manifest, "test")
    if max_test_images:
        test = test[:max_test_images]
    segmenter = Segmenter(organ, weights=automatic_weights or organ.weight_path,
                          **{f"{prompt}_weights": path})
    evaluated_at = time.time()
    result = evaluate_prompts(segmenter, test, kind.scored)
    (run_dir / "prompt_test.json").write_text(json.dumps(result, indent=1))
    if result["summary"]:
        print(format_prompt_table(f"{organ.display_name} test split, lesion images",
                                  result["summary"]), flush=True)
    card = {
        "version": prompt_network_version(organ.key, prompt, path, time.strftime("%Y%m%d")),
        "organ": organ.key,
        "prompt": prompt,
        "what": kind.what,
        "architecture": "box_prompt_unet",
        **kind.card_input(recipe),
        "automatic_model": {"file": Path(automatic_weights or organ.weight_path).name,
                            "version": segmenter.version},
        "training": info,
        "split": manifest.get("grouping", ""),
        "split_file": info.get("split"),
        "test": {
            "what": ("lesion images of the automatic model's test split, each at its own size "
                     "through the app's path; box: every lesion's bounding box with each side "
                     "moved by up to 10 % of its size (seed 0); click: one lesion click on each "
                     "lesion's most interior point; '<prompt>_training_free': the same prompts "
                     "through the automatic model alone; Dice mean with 95 % bootstrap "
                     "interval, and the share of images below Dice 0.5"),
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
