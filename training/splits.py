"""Leakage-free, class-stratified, seeded splits.

BUSI holds near-duplicates (other crops of the same scan, sometimes filed in two classes). Every
image gets a 64-bit perceptual hash (DCT of a 32x32 thumbnail, low 8x8 frequencies against their
median); images whose hashes differ in at most HAMMING_THRESHOLD bits are linked, and linked
images form one group (the graph's connected components, by SciPy). Each group goes whole to
one side of every split.

HAMMING_THRESHOLD = 12 of 64 bits: unrelated ultrasound images (similar texture, different
anatomy) sit near 32 bits apart, re-saved or slightly shifted copies of one scan within a few
bits; 12 links re-crops with a margin while keeping false links rare (the training log prints
the resulting group sizes).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict

import cv2
import numpy as np

HAMMING_THRESHOLD = 12
SPLITS = ("train", "val", "test")


def perceptual_hash(gray: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a grayscale image."""
    small = cv2.resize(gray.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def near_duplicate_pairs(hashes: list[int], threshold: int = HAMMING_THRESHOLD) -> np.ndarray:
    """(i, j) index pairs, i < j, of hashes at most ``threshold`` bits apart; shape (k, 2)."""
    arr = np.array(hashes, dtype=np.uint64)
    pairs = [np.empty((0, 2), np.int64)]
    for i in range(len(arr) - 1):
        near = np.nonzero(np.bitwise_count(arr[i + 1:] ^ arr[i]) <= threshold)[0]
        pairs.append(np.column_stack([np.full(len(near), i), i + 1 + near]))
    return np.concatenate(pairs)


def group_near_duplicates(hashes: list[int], threshold: int = HAMMING_THRESHOLD) -> list[int]:
    """Group ids (one per item) such that items within `threshold` bits share a group: the
    connected components of the "near-duplicate" graph (SciPy). Groups are numbered in the order
    of their first item, as the split (and so every saved split manifest) depends on it."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    n = len(hashes)
    if n == 0:
        return []
    pairs = near_duplicate_pairs(hashes, threshold)
    graph = coo_array((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    ids = {label: k for k, label in enumerate(dict.fromkeys(labels.tolist()))}
    return [ids[label] for label in labels.tolist()]


def split_groups(
    labels: list[str],
    groups: list[int],
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    fractions_by_label: dict[str, tuple[float, float, float]] | None = None,
) -> list[str]:
    """Assign every item a split; groups stay whole, classes keep their proportions (by group).

    fractions_by_label overrides the fractions for some classes (e.g. more lesion-free scans in
    validation, so the lesion-free rule is chosen on enough of them)."""
    members = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_class = defaultdict(list)
    for g, items in members.items():
        label = Counter(labels[i] for i in items).most_common(1)[0][0]
        by_class[label].append(g)
    rng = random.Random(seed)
    assignment = [""] * len(labels)
    for label in sorted(by_class):
        class_groups = sorted(by_class[label])
        rng.shuffle(class_groups)
        total = sum(len(members[g]) for g in class_groups)
        counts = dict.fromkeys(SPLITS, 0)
        share = (fractions_by_label or {}).get(label, fractions)
        for g in class_groups:
            # put the group where the split is furthest below its target share
            need = {s: share[k] * total - counts[s] for k, s in enumerate(SPLITS)}
            target = max(SPLITS[::-1], key=lambda s: need[s])
            counts[target] += len(members[g])
            for i in members[g]:
                assignment[i] = target
    return assignment


def manifest_hash(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
