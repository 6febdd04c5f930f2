"""Example uploads for the web app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unet.downloads import write_png
from unet.inputs import UPLOAD_SUFFIXES
from unet.registry import ORGANS


@dataclass(frozen=True)
class Example:
    path: Path
    organ: str
    label: str


def make_examples(folder: Path) -> tuple[list[Example], Path]:
    """Synthetic example uploads (never patient images) and the first one's true mask."""
    from unet.phantom import make_phantom, make_scanner_frame
    from unet.synthetic_dicom import synthetic_dicom, write_dicom

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image, mask = make_phantom(288, 384, seed=1)
    write_png(folder / "synthetic_phantom.png", image)
    truth = write_png(folder / "synthetic_phantom_truth_mask.png",
                      np.where(mask, 255, 0).astype(np.uint8))
    frame, _, _ = make_scanner_frame(480, 640, seed=4)
    write_png(folder / "synthetic_scanner_screen.png", frame)
    dicom_image, _ = make_phantom(320, 400, seed=7)
    write_dicom(folder / "synthetic_phantom_0.1mm.dcm",
                synthetic_dicom(dicom_image, pixel_spacing_mm=0.1))
    empty, _ = make_phantom(288, 384, seed=5, lesion=False)
    write_png(folder / "synthetic_no_lesion.png", empty)
    examples = [
        Example(folder / "synthetic_phantom.png", "breast", "Synthetic phantom (PNG)"),
        Example(folder / "synthetic_scanner_screen.png", "thyroid",
                "Synthetic scanner screenshot with annotations"),
        Example(folder / "synthetic_phantom_0.1mm.dcm", "breast",
                "Synthetic DICOM, 0.1 mm/pixel (sizes in mm)"),
        Example(folder / "synthetic_no_lesion.png", "thyroid", "Synthetic phantom, no lesion"),
    ]
    return examples, truth


def host_examples(folder: Path) -> list[Example]:
    """Images a host put in ``examples/``: ``examples/<organ>/*`` or files whose name contains
    an organ's name (others count as breast). Masks (``*_mask*``) are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        name = path.name.lower()
        if (not path.is_file() or path.suffix.lower() not in UPLOAD_SUFFIXES
                or "_mask" in name or name.startswith(".")):
            continue
        parts = [p.lower() for p in path.relative_to(folder).parts]
        organ = next((k for k in ORGANS if k in parts[:-1] or k in name), "breast")
        found.append(Example(path, organ, f"{path.stem} ({ORGANS[organ].display_name})"))
    return found
