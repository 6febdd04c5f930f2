"""The example images the web app offers: real, attributed scans in ``examples/``.

``examples/examples.json`` lists them in the order shown, each with its organ, a caption and
optionally its true mask. Files a host adds without listing them are shown too: in
``examples/<organ>/`` or with an organ's name in the file name (others count as breast);
masks (``*_mask*``) are never shown as examples.

The app serves this folder as static files (never copied into Gradio's cache), so the examples
cannot be swept away by the cache clean-up while the server runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from unet.inference.registry import ORGANS
from unet.io.uploads import UPLOAD_SUFFIXES

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
MANIFEST = "examples.json"


@dataclass(frozen=True)
class Example:
    path: Path
    organ: str  # a key of ORGANS
    label: str  # caption under the thumbnail, starting with the organ's name
    truth: Path | None = None  # its true lesion mask, when there is one

    @property
    def caption(self) -> str:
        organ = ORGANS[self.organ].display_name
        return self.label if self.label.startswith(organ) else f"{organ}: {self.label}"


def _listed(folder: Path) -> list[Example]:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return []
    found = []
    for entry in json.loads(manifest.read_text()).get("examples", []):
        path = folder / entry["file"]
        organ = str(entry.get("organ", "")).lower()
        if not path.is_file() or organ not in ORGANS:
            continue  # a listed file that is missing, or an unknown organ: not offered
        truth = folder / entry["truth_mask"] if entry.get("truth_mask") else None
        found.append(Example(path, organ, str(entry.get("label") or path.stem),
                             truth if truth is not None and truth.is_file() else None))
    return found


def host_examples(folder: Path) -> list[Example]:
    """Images in ``folder`` that the manifest does not list (see the module doc)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    listed = {e.path.resolve() for e in _listed(folder)}
    found = []
    for path in sorted(folder.rglob("*")):
        name = path.name.lower()
        if (not path.is_file() or path.suffix.lower() not in UPLOAD_SUFFIXES
                or "_mask" in name or name.startswith(".") or path.resolve() in listed):
            continue
        parts = [p.lower() for p in path.relative_to(folder).parts]
        organ = next((k for k in ORGANS if k in parts[:-1] or k in name), "breast")
        found.append(Example(path, organ, f"{ORGANS[organ].display_name}: {path.stem}"))
    return found


def load_examples(folder: Path = EXAMPLES_DIR) -> list[Example]:
    """The listed examples first, in the manifest's order, then any a host added."""
    folder = Path(folder)
    return [*_listed(folder), *host_examples(folder)]
