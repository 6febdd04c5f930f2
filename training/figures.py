"""Matplotlib figures of a run: training curves and best / median / worst test cases."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_training_curves(history_csv: Path, out_png: Path) -> None:
    """Loss and Dice per epoch, train against validation."""
    with open(history_csv) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "loss", "Loss (BCE + soft Dice)"), (axes[1], "dice", "Dice")):
        ax.plot(epochs, [float(r[key]) for r in rows], label="train")
        if f"val_{key}" in rows[0]:
            ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def plot_cases(cases: list[dict], out_png: Path, title: str) -> None:
    """Rows of (image, truth, prediction) for cases with keys name, image, truth, pred, dice."""
    if not cases:
        return
    fig, axes = plt.subplots(len(cases), 3, figsize=(9, 3 * len(cases)), squeeze=False)
    for row, case in zip(axes, cases, strict=True):
        row[0].imshow(case["image"], cmap="gray")
        row[0].set_title(f"{case['tag']}: {case['name']}", fontsize=8)
        row[1].imshow(case["image"], cmap="gray")
        row[1].imshow(np.ma.masked_where(~case["truth"], case["truth"]), cmap="summer", alpha=0.5)
        row[1].set_title("ground truth", fontsize=8)
        row[2].imshow(case["image"], cmap="gray")
        row[2].imshow(np.ma.masked_where(~case["pred"], case["pred"]), cmap="autumn", alpha=0.5)
        row[2].set_title(f"prediction, Dice {case['dice']:.2f}", fontsize=8)
        for ax in row:
            ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
