"""Where an organ's weights come from: the bundled file, or a pinned Hugging Face Hub revision.

Set `UNET_<ORGAN>_HUB_REPO` (e.g. `UNET_BREAST_HUB_REPO=me/unet-breast`) to download
`<organ>.keras` from that Hub model repo, with its card `<organ>.json` and its engine flatbuffer
`<organ>.tflite` (+ manifest) where the repo has them, and `UNET_HUB_REVISION` to pin a commit or
tag (default "main"). With `HF_HUB_OFFLINE=1`, without network, or on any download failure the
bundled `weights/<organ>.keras` is used instead; the returned description says which.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from unet.inference.registry import OrganConfig

log = logging.getLogger(__name__)


class WeightsNotFoundError(FileNotFoundError):
    """Neither the Hub nor the bundled folder has the organ's weight file."""


@dataclass(frozen=True)
class WeightSource:
    path: Path
    description: str  # e.g. "bundled weights/breast.keras"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def companion_files(weight_file: str) -> list[str]:
    """What travels with a weight file: its card (operating point, quality estimate, organ
    check) and the engine's flatbuffer with its manifest (``training.publish`` uploads them)."""
    stem = Path(weight_file).stem
    return [f"{stem}.json", f"{stem}.tflite", f"{stem}.tflite.json"]


def _companions(download, repo: str, weight_file: str, revision: str) -> None:
    """Download the weight file's companions from the same revision (they land beside it in
    the Hub cache, where the segmenter looks for them). A missing one is logged and skipped:
    without its card the model runs at the registry's defaults, without its flatbuffer the
    engine converts it."""
    for name in companion_files(weight_file):
        try:
            download(repo_id=repo, filename=name, revision=revision)
        except Exception as exc:  # noqa: BLE001 - optional files; the weights themselves came
            log.warning("%s not downloaded from %s@%s (%s)", name, repo, revision,
                        type(exc).__name__)


def resolve_weights(organ: OrganConfig) -> WeightSource:
    bundled = organ.weight_path
    repo = os.environ.get(organ.hub_repo_env, "").strip() if organ.hub_repo_env else ""
    reason = ""
    if repo and _offline():
        reason = " (HF_HUB_OFFLINE is set)"
    elif repo:
        revision = os.environ.get("UNET_HUB_REVISION", "main").strip() or "main"
        try:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(repo_id=repo, filename=organ.weight_file, revision=revision)
            _companions(hf_hub_download, repo, organ.weight_file, revision)
            return WeightSource(Path(path), f"Hugging Face Hub {repo}@{revision}")
        except Exception as exc:  # offline, unknown repo, timeout: fall back, say why
            reason = f" (Hub download from {repo} failed: {type(exc).__name__})"
            log.warning("falling back to bundled weights%s", reason)
    if not bundled.is_file():
        raise WeightsNotFoundError(
            f"No weights for {organ.display_name}: {bundled} is missing{reason}. "
            f"Train them with `python -m training --organ {organ.key} --data-dir ...`."
        )
    return WeightSource(bundled, f"bundled weights/{bundled.name}{reason}")
