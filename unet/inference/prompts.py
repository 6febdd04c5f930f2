"""A clinician's prompts turned into an outline, with no retraining: boxes around lesions and
clicks on (or off) them, applied to the automatic model's probability map.

* box: the automatic probability is averaged with a second pass of the model on a square
  window around the box (3x the box's larger side, at least 0.3 of the image's shorter side;
  the network was trained on whole fields of view and needs context around the lesion). Inside
  the box the threshold is min(0.5, half the peak probability in the box), and the outline is
  the connected component at the box's centre (else the largest one in the box). Automatic
  components that touch the box are replaced by it.
* lesion click: threshold min(0.5, half the local peak), the component under the click.
* "not a lesion" click: removes the marked component under the click.

Where the organ bundles a box-prompted network (``Segmenter.box_network``,
``unet/inference/box_network.py``), a box is outlined by it instead, and likewise a lesion
click by a click-prompted network (``Segmenter.click_network``,
``unet/inference/click_network.py``); the schemes above are the fallback (no network bundled,
or the network finds nothing there). The training-free
scheme measured 0.81 / 0.87 / 0.89 Dice on held-back BUSI / DDTI / BUS-BRA against 0.76 / 0.81
/ 0.87 automatic (the issue's probe 1); the network's figures are in its card.
Coordinates are pixels of the uploaded image: x to the right, y down, from 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from unet.errors import ImageInputError
from unet.transforms.postprocess import component_at, fill_holes, largest_component
from unet.transforms.preprocess import probability_to_frame, to_model_input
from unet.transforms.window import touches_edge

WINDOW_SCALE = 3.0  # window side / the box's larger side
MIN_WINDOW_SHARE = 0.3  # of the image's shorter side
CLICK_RADIUS_SHARE = 0.1  # local peak around a click: this share of the shorter side
CLICK_FLOOR = 0.1  # the clicked region's own extent, where the local peak is someone else's
# The training-free outlines mark what reaches half the peak near the prompt; below this peak
# the automatic model sees no lesion there, and half of it would mark noise (on a probability
# map near 0 everywhere, the whole image): nothing is outlined, and the prompt is named as
# having found none.
MIN_PROMPT_PEAK = 0.1


@dataclass(frozen=True)
class BoxPrompt:
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int  # exclusive

    def to_dict(self) -> dict:
        return {"x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1}


@dataclass(frozen=True)
class ClickPrompt:
    x: int
    y: int
    lesion: bool = True  # False: "not a lesion"

    def to_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "lesion": self.lesion}


@dataclass(frozen=True)
class Prompts:
    boxes: tuple[BoxPrompt, ...] = ()
    clicks: tuple[ClickPrompt, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.boxes or self.clicks)

    def to_dict(self) -> dict:
        return {"boxes": [b.to_dict() for b in self.boxes],
                "clicks": [c.to_dict() for c in self.clicks]}

    def describe(self) -> str:
        """``1 box and 2 clicks``: what the user gave, in words."""
        parts = [f"{n} {word if n == 1 else plural}"
                 for n, word, plural in ((len(self.boxes), "box", "boxes"),
                                         (len(self.clicks), "click", "clicks")) if n]
        return " and ".join(parts)


def check_prompts(prompts: Prompts, shape: tuple[int, int]) -> Prompts:
    """Boxes ordered and clipped to the image, clicks inside it, all in whole pixels (plain
    ints, whatever number type came in). A box of less than 2 px a side or a click outside the
    image raises :class:`ImageInputError`."""
    h, w = shape
    boxes = []
    for b in prompts.boxes:
        x0, x1 = sorted((int(round(b.x0)), int(round(b.x1))))
        y0, y1 = sorted((int(round(b.y0)), int(round(b.y1))))
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise ImageInputError("A box must lie on the image and be at least 2 pixels wide "
                                  "and high. Draw it around the whole lesion.")
        boxes.append(BoxPrompt(x0, y0, x1, y1))
    clicks = []
    for c in prompts.clicks:
        x, y = int(np.floor(c.x)), int(np.floor(c.y))  # the pixel the point lies in
        if not (0 <= x < w and 0 <= y < h):
            raise ImageInputError(f"A click at ({x}, {y}) lies outside the image "
                                  f"({w} × {h} px).")
        clicks.append(ClickPrompt(x, y, bool(c.lesion)))
    return Prompts(tuple(boxes), tuple(clicks))


def _window(box: BoxPrompt, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = shape
    side = max(WINDOW_SCALE * max(box.x1 - box.x0, box.y1 - box.y0),
               MIN_WINDOW_SHARE * min(h, w))
    side = int(min(side, max(h, w)))
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    x0 = int(np.clip(round(cx - side / 2), 0, max(0, w - side)))
    y0 = int(np.clip(round(cy - side / 2), 0, max(0, h - side)))
    return y0, min(h, y0 + side), x0, min(w, x0 + side)


def window_probability(segmenter, gray: np.ndarray, window) -> np.ndarray:
    """The model's probability on one window of the frame (the image and its mirror image)."""
    y0, y1, x0, x1 = window
    crop = gray[y0:y1, x0:x1]
    x = to_model_input(crop, segmenter.input_size)
    out = segmenter.predict_batch(np.stack([x, x[:, ::-1]]))
    return probability_to_frame((out[0] + out[1][:, ::-1]) / 2, crop.shape)


def box_outline(segmenter, gray: np.ndarray, probability: np.ndarray,
                box: BoxPrompt) -> np.ndarray:
    """The lesion outline inside one box (bool, the frame's size)."""
    window = _window(box, gray.shape)
    y0, y1, x0, x1 = window
    mixed = probability[y0:y1, x0:x1].astype(np.float32)
    mixed = (mixed + window_probability(segmenter, gray, window)) / 2
    inside = mixed[box.y0 - y0:box.y1 - y0, box.x0 - x0:box.x1 - x0]
    peak = float(inside.max()) if inside.size else 0.0
    binary = (inside >= min(0.5, peak / 2) if peak >= MIN_PROMPT_PEAK
              else np.zeros(inside.shape, bool))
    cy, cx = (box.y1 - box.y0) // 2, (box.x1 - box.x0) // 2
    region = component_at(binary, (cx, cy))
    if not region.any():
        region = largest_component(binary)
    mask = np.zeros(gray.shape, bool)
    mask[box.y0:box.y1, box.x0:box.x1] = fill_holes(region)
    return mask


def click_outline(probability: np.ndarray, click: ClickPrompt) -> np.ndarray:
    """The component under a lesion click, at min(0.5, half the local peak). Where a stronger
    lesion nearby sets that level above the clicked region's own peak (a faint candidate beside
    a marked lesion), the level is taken from the clicked region's own peak instead: the region
    of probability at least ``CLICK_FLOOR`` under the click."""
    h, w = probability.shape
    r = max(2, int(CLICK_RADIUS_SHARE * min(h, w)))
    local = probability[max(0, click.y - r):click.y + r + 1, max(0, click.x - r):click.x + r + 1]
    peak = float(local.max()) if local.size else 0.0
    if peak < MIN_PROMPT_PEAK:
        return np.zeros(probability.shape, bool)
    region = component_at(probability >= min(0.5, peak / 2), (click.x, click.y))
    if not region.any():
        own = component_at(probability >= CLICK_FLOOR, (click.x, click.y))
        if own.any():
            own_peak = float(probability[own].max())
            region = component_at(probability >= min(0.5, own_peak / 2), (click.x, click.y))
    return fill_holes(region)


TRAINING_FREE = {"box": "the automatic model on a window around the box",
                 "click": "the automatic model's probability under the click"}


def network_method(network, kind: str, used: list[str] | None = None) -> str:
    """How the prompts of one kind ("box" or "click") were outlined, for the report: ``used``
    names each prompt's path (as :func:`guided_mask` records it); without it, how a prompt
    would be answered here by ``network`` (None: not bundled)."""
    free = TRAINING_FREE[kind]
    if network is None:
        return f"{free} (no {kind} network bundled)"
    name = f"{kind}-prompted network {network.weights.name} (version {network.version})"
    fallbacks = sum(u == "training-free" for u in used or ())
    if not fallbacks:
        return name
    plural = "es" if kind == "box" else "s"
    where = "there" if kind == "click" else ("in them" if fallbacks > 1 else "in it")
    return (f"{name}; {fallbacks} of {len(used)} {kind}{plural if len(used) > 1 else ''} by "
            f"{free} (the network found nothing {where})")


def box_method(segmenter, used: list[str] | None = None) -> str:
    """How the boxes were outlined (:func:`network_method` for the segmenter's box network)."""
    return network_method(getattr(segmenter, "box_network", None), "box", used)


def click_method(segmenter, used: list[str] | None = None) -> str:
    """How the lesion clicks were outlined (the same for its click network)."""
    return network_method(getattr(segmenter, "click_network", None), "click", used)


def _replace_touched(mask: np.ndarray, labels: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``mask`` with the automatic components (``labels``) that ``region`` touches taken out
    and ``region`` put in: a prompted outline stands for the lesion it marks."""
    touched = np.unique(labels[region])
    return (mask & ~np.isin(labels, touched[touched > 0])) | region


def guided_mask(segmenter, gray: np.ndarray, probability: np.ndarray,
                automatic: np.ndarray, prompts: Prompts, *, use_networks: bool = True,
                used: dict[str, list[str]] | None = None, removals: bool = True,
                cut: list | None = None) -> np.ndarray:
    """The automatic mask changed by the prompts (see the module's text). Boxes and lesion
    clicks are outlined by the organ's prompted networks where bundled (a network's outline
    replaces the automatic components it touches); without ``use_networks`` they take the
    training-free paths even where a network is bundled (the evaluation compares the two).
    ``used``, where given, gets each prompt's path appended under its kind ("box", "click"):
    "network" or "training-free". ``removals=False`` leaves out the last step, the "not a
    lesion" clicks (:func:`remove_marked`): the outlines the boxes and lesion clicks found.
    ``cut``, where given, gets each lesion click whose network outline reaches the border of the
    window the network looked at, inside the image: the lesion may go on past it."""
    prompts = check_prompts(prompts, gray.shape)
    used = {"box": [], "click": []} if used is None else used
    mask = automatic.astype(bool).copy()
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    for box in prompts.boxes:
        touched = np.unique(labels[box.y0:box.y1, box.x0:box.x1])
        mask &= ~np.isin(labels, touched[touched > 0])
    # each network is loaded on the first prompt of its kind, not on any prompt
    box_network = (getattr(segmenter, "box_network", None)
                   if use_networks and prompts.boxes else None)
    for box in prompts.boxes:
        region, path = None, "network"
        if box_network is not None:
            region = box_network.outline(gray, (box.x0, box.y0, box.x1, box.y1))
        if region is None or not region.any():
            region, path = box_outline(segmenter, gray, probability, box), "training-free"
        used.setdefault("box", []).append(path)
        mask |= region
    click_network = (getattr(segmenter, "click_network", None)
                     if use_networks and any(c.lesion for c in prompts.clicks) else None)
    for click in prompts.clicks:
        if not click.lesion:
            continue
        region, look = (click_network.answer(gray, (click.x, click.y))
                        if click_network is not None else (None, None))
        if region is not None and region.any():
            mask = _replace_touched(mask, labels, region)
            used.setdefault("click", []).append("network")
            if cut is not None and touches_edge(region, look.window, gray.shape):
                cut.append(click)
        else:
            mask |= click_outline(probability, click)
            used.setdefault("click", []).append("training-free")
    return remove_marked(mask, prompts) if removals else mask


def remove_marked(mask: np.ndarray, prompts: Prompts) -> np.ndarray:
    """``mask`` without the marked region under each "not a lesion" click."""
    mask = np.asarray(mask, bool).copy()
    for click in prompts.clicks:
        if not click.lesion:
            mask &= ~component_at(mask, (click.x, click.y))
    return mask


def unprompted_marks(mask: np.ndarray, prompts: Prompts) -> list[np.ndarray]:
    """The marked regions of ``mask`` (a guided mask) that no prompt touches: no box reaches
    into them and no lesion click is on them (or, for a click on no region, nearest to it
    within ``CLICK_RADIUS_SHARE`` of the shorter side). They come from the automatic answer,
    and a "not a lesion" click removes each. One bool frame per region."""
    count, labels = cv2.connectedComponents(np.asarray(mask, np.uint8), connectivity=8)
    kept = {int(v) for b in prompts.boxes for v in np.unique(labels[b.y0:b.y1, b.x0:b.x1])}
    reach = CLICK_RADIUS_SHARE * min(labels.shape)
    for click in prompts.clicks:
        if click.lesion:
            region = component_at(mask, (click.x, click.y), max_distance=reach)
            if region.any():
                kept.add(int(labels[region][0]))
    return [labels == label for label in range(1, count) if label not in kept]


def unanswered_prompts(mask: np.ndarray, prompts: Prompts) -> Prompts:
    """The boxes with no marked pixel inside them and the lesion clicks with no marked region
    under or near them (as :func:`unprompted_marks` reaches) in ``mask``: the prompts that found
    no lesion, which the user should be told of. Give the mask before the "not a lesion" clicks
    (``guided_mask(..., removals=False)``): an outline the user then removed was found."""
    mask = np.asarray(mask, bool)
    reach = CLICK_RADIUS_SHARE * min(mask.shape)
    boxes = tuple(b for b in prompts.boxes if not mask[b.y0:b.y1, b.x0:b.x1].any())
    clicks = tuple(c for c in prompts.clicks if c.lesion
                   and not component_at(mask, (c.x, c.y), max_distance=reach).any())
    return Prompts(boxes, clicks)


# Below this Dice a prompt's outline and the model's own answer at the same place are two
# different regions (the project's "badly wrong": a Dice below 0.5), which the user is told of.
UNLIKE_DICE = 0.5


def unlike_model(automatic: np.ndarray, found: np.ndarray,
                 prompts: Prompts) -> list[tuple[BoxPrompt | ClickPrompt, float]]:
    """The boxes and lesion clicks whose outline in ``found`` (the guided mask before the "not
    a lesion" clicks) overlaps the model's own answer at the same place (the components of
    ``automatic`` the box reaches into, or the one under the click) with a Dice below
    ``UNLIKE_DICE``, with that Dice: a loose box, or one around the wrong structure, can
    outline something else than the lesion the model had found there. Prompts where the model
    had marked nothing are not compared (there the prompt adds what the model missed)."""
    automatic, found = np.asarray(automatic, bool), np.asarray(found, bool)
    _, auto_labels = cv2.connectedComponents(automatic.astype(np.uint8), connectivity=8)
    _, found_labels = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)

    def touched(labels, box):
        ids = np.unique(labels[box.y0:box.y1, box.x0:box.x1])
        return np.isin(labels, ids[ids > 0])

    pairs = [(b, touched(auto_labels, b), touched(found_labels, b)) for b in prompts.boxes]
    pairs += [(c, component_at(automatic, (c.x, c.y)), component_at(found, (c.x, c.y)))
              for c in prompts.clicks if c.lesion]
    out = []
    for prompt, model_own, outlined in pairs:
        if model_own.any():
            both = 2.0 * float((model_own & outlined).sum())
            score = both / float(model_own.sum() + outlined.sum())
            if score < UNLIKE_DICE:
                out.append((prompt, round(score, 2)))
    return out


def parse_box(text: str) -> BoxPrompt:
    """``"x0,y0,x1,y1"`` (pixels) -> a box; anything else raises :class:`ImageInputError`."""
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in str(text).split(","))
    except ValueError:
        raise ImageInputError(f"A box is four numbers x0,y0,x1,y1 in pixels (for example "
                              f"40,60,180,150), not {text!r}.") from None
    return BoxPrompt(x0, y0, x1, y1)


def parse_prompts(value) -> Prompts:
    """Prompts as the API takes them: a JSON list (or its text) of ``{"box": [x_min, y_min,
    x_max, y_max]}`` and ``{"point": [x, y], "label": 1 | 0}`` (1: a lesion, 0: not a lesion),
    in the image's own pixels. Empty or None: no prompts. Anything else raises
    :class:`ImageInputError` naming the item."""
    import json

    if value is None or (isinstance(value, str) and not value.strip()):
        return Prompts()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ImageInputError("The prompts must be JSON: a list such as "
                                  '[{"box": [40, 60, 180, 150]}, {"point": [90, 100], '
                                  '"label": 1}].') from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ImageInputError("The prompts must be a list of boxes and points.")
    boxes, clicks = [], []
    for i, item in enumerate(value, start=1):
        try:
            if "box" in item:
                x0, y0, x1, y1 = (int(round(float(v))) for v in item["box"])
                boxes.append(BoxPrompt(x0, y0, x1, y1))
            else:
                x, y = (int(round(float(v))) for v in item["point"])
                label = int(item.get("label", 1))
                if label not in (0, 1):
                    raise ValueError
                clicks.append(ClickPrompt(x, y, lesion=label == 1))
        except (KeyError, TypeError, ValueError):
            raise ImageInputError(
                f"Prompt {i} is not understood: give {{\"box\": [x_min, y_min, x_max, y_max]}} "
                f"or {{\"point\": [x, y], \"label\": 1 or 0}}, in pixels.") from None
    return Prompts(tuple(boxes), tuple(clicks))
