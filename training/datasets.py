"""Recognise the public data set layouts (and a generic one) and list image/mask pairs.

Layouts, detected from the folder's content:
- BUSI (`Dataset_BUSI_with_GT/`): class folders (`benign/`, `malignant/`, `normal/`) holding
  `name.png` with `name_mask.png` and optional `name_mask_1.png`, `name_mask_2.png` ... (further
  lesions of the same image, unioned). A class folder with no mask files at all is taken as
  lesion-free (its images get empty masks); in a folder with masks, an image without one is skipped.
- DDTI / TN-SCUI (`thyroidultrasound/`): `p_image/N.PNG` with `p_mask/N.PNG`.
- DDTI raw frames (`DDTI_raw/`): `image/N.PNG` with `mask/N.PNG`.
- BUS-BRA (`BUSBRA/`): `Images/bus_0001-l.png` with `Masks/mask_0001-l.png` and `bus_data.csv`
  (per image `ID, Case, ..., Pathology, ..., Device, ...`): the patient (`Case`) becomes the
  sample's group, so both views of a patient stay on one side of every split; the scanner
  (`Device`) is kept for per-scanner metrics. The folder holding `BUSBRA/` is accepted too.
- Generic: `images/` with `masks/`, matched by stem (`a.png` with `a.png` or `a_mask.png`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
PAIR_LAYOUTS = (("p_image", "p_mask"), ("image", "mask"), ("images", "masks"))
_MASK_RE = re.compile(r"^(?P<stem>.+)_mask(_\d+)?$")


class DatasetError(ValueError):
    """The data directory does not hold a layout this module knows."""


@dataclass(frozen=True)
class Sample:
    image_path: Path
    mask_paths: tuple[Path, ...]  # empty: the image has no lesion
    label: str  # class folder name for BUSI, "lesion" for pair layouts
    key: str  # path relative to the data directory, used in manifests
    group: str = ""  # a patient id where the layout knows it (BUS-BRA's Case); "" otherwise
    device: str = ""  # the scanner, where the layout says (BUS-BRA's Device)
    dataset: str = ""  # the data set's name (its folder), set by find_dataset

    @property
    def has_lesion_annotation(self) -> bool:
        return bool(self.mask_paths)


@dataclass
class Dataset:
    root: Path
    layout: str
    samples: list[Sample] = field(default_factory=list)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _busi_class(folder: Path, root: Path) -> list[Sample]:
    files = _images_in(folder)
    masks: dict[str, list[Path]] = {}
    images = []
    for f in files:
        m = _MASK_RE.match(f.stem)
        if m:
            masks.setdefault(m.group("stem"), []).append(f)
        else:
            images.append(f)
    no_masks_at_all = not masks
    samples = []
    for img in sorted(images, key=_natural_key):
        found = tuple(sorted(masks.get(img.stem, []), key=_natural_key))
        if not found and not no_masks_at_all:
            continue
        samples.append(Sample(img, found, folder.name, str(img.relative_to(root))))
    return samples


def _pairs(image_dir: Path, mask_dir: Path, root: Path) -> list[Sample]:
    by_stem = {}
    for m in _images_in(mask_dir):
        match = _MASK_RE.match(m.stem)
        by_stem.setdefault(match.group("stem") if match else m.stem, []).append(m)
    samples = []
    for img in sorted(_images_in(image_dir), key=_natural_key):
        found = by_stem.get(img.stem)
        if found:
            samples.append(Sample(img, tuple(sorted(found)), "lesion", str(img.relative_to(root))))
    return samples


def _busbra(root: Path) -> list[Sample]:
    try:
        with open(root / BUSBRA_CSV, newline="", encoding="utf-8-sig") as f:
            rows = {r["ID"].strip(): r for r in csv.DictReader(f)}
    except (OSError, KeyError, csv.Error) as exc:
        raise DatasetError(f"{root / BUSBRA_CSV}: cannot read the ID column ({exc}).") from exc
    samples = []
    for img in sorted(_images_in(root / "Images"), key=_natural_key):
        mask = root / "Masks" / (img.name.replace("bus_", "mask_", 1))
        row = rows.get(img.stem)
        if row is None or not mask.is_file():
            continue
        label = (row.get("Pathology") or "lesion").strip().lower() or "lesion"
        samples.append(Sample(img, (mask,), label, str(img.relative_to(root)),
                              group=f"case-{row.get('Case', img.stem).strip()}",
                              device=(row.get("Device") or "").strip()))
    if not samples:
        raise DatasetError(f"{root}: found BUS-BRA's Images/, Masks/ and {BUSBRA_CSV} but no "
                           "image with its mask and a row in the table.")
    return samples


BUSBRA_CSV = "bus_data.csv"


def _is_busbra(root: Path) -> bool:
    return all((root / n).exists() for n in ("Images", "Masks", BUSBRA_CSV))


def find_dataset(root: str | Path) -> Dataset:
    """Detect the layout of `root` and list its samples.

    Raises DatasetError naming what was expected."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Data directory {root} does not exist or is not a folder.")
    if not _is_busbra(root) and _is_busbra(root / "BUSBRA"):
        root = root / "BUSBRA"
    dataset = _find_layout(root)
    dataset.samples = [replace(s, dataset=root.name) for s in dataset.samples]
    return dataset


def _find_layout(root: Path) -> Dataset:
    if _is_busbra(root):
        return Dataset(root, "busbra", _busbra(root))
    for image_name, mask_name in PAIR_LAYOUTS:
        if (root / image_name).is_dir() and (root / mask_name).is_dir():
            samples = _pairs(root / image_name, root / mask_name, root)
            if not samples:
                raise DatasetError(
                    f"{root}: found {image_name}/ and {mask_name}/ but no image with a mask of the "
                    "same name."
                )
            return Dataset(root, f"{image_name}+{mask_name}", samples)
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    samples = []
    for d in class_dirs:
        samples.extend(_busi_class(d, root))
    if samples and any(s.has_lesion_annotation for s in samples):
        return Dataset(root, "busi", samples)
    raise DatasetError(
        f"{root} holds no data set in a known layout. Expected one of: class folders with "
        "'name.png' + 'name_mask.png' (BUSI), 'p_image/' + 'p_mask/' (DDTI/TN-SCUI), "
        "'image/' + 'mask/' (DDTI raw frames), 'Images/' + 'Masks/' + 'bus_data.csv' (BUS-BRA), "
        "or 'images/' + 'masks/' (your own pairs)."
    )


def has_lesion(sample: Sample) -> bool:
    """True when one of the sample's mask files marks a lesion (BUSI's lesion-free scans come
    with all-black mask files, so having a mask file is not enough). An unreadable mask file is
    a DatasetError, as in load_mask."""
    for path in sample.mask_paths:
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise DatasetError(f"Cannot read mask {path}.")
        if (mask > 127).any():
            return True
    return False


def load_gray(path: Path) -> np.ndarray:
    """Read an image file as uint8 grayscale through the same reader the app uses."""
    from unet.io.reader import read_image

    return read_image(path).pixels


def load_mask(sample: Sample, shape: tuple[int, int]) -> np.ndarray:
    """Union of the sample's mask files as a bool array of `shape` (empty when it has none)."""
    mask = np.zeros(shape, dtype=bool)
    for p in sample.mask_paths:
        m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise DatasetError(f"Cannot read mask {p}.")
        if m.shape != shape:
            m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        mask |= m > 127
    return mask
