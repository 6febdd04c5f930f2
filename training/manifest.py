"""The samples a split manifest (``weights/<organ>_split.json``, ``split_manifest.json``) names.

Shared by the evaluation, the export and the trust fitting; it imports none of them."""

from __future__ import annotations

from pathlib import Path


def _stem(key: str) -> str:
    return Path(key).with_suffix("").as_posix().split("/", 1)[-1]


def select(samples: list, keys: list[str]) -> list:
    """Samples whose file stem matches one of the keys' stems (works across crop/raw layouts)."""
    stems = {_stem(k) for k in keys}
    return [s for s in samples if _stem(s.key) in stems]


def split_samples(datasets, manifest: dict, name: str) -> list:
    """The samples of one split of the manifest, from every data set it names.

    A data set the manifest does not name (the same cases in another layout, e.g. DDTI_raw for
    a thyroidultrasound run) is matched on file stems alone."""
    items = manifest["splits"][name]
    named = {i.get("dataset") for i in items}
    chosen = []
    for d in datasets:
        mine = d.root.name in named
        keys = [i["key"] for i in items if not mine or i.get("dataset") == d.root.name]
        chosen.extend(select(d.samples, keys))
    return chosen
