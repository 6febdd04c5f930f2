"""Default training recipe per organ: the settings that produced the bundled weights."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int


RECIPES: dict[str, Recipe] = {
    "breast": Recipe(epochs=120, batch_size=16, learning_rate=2e-3, patience=40),
    "thyroid": Recipe(epochs=100, batch_size=16, learning_rate=2e-3, patience=35),
}

SMOKE = Recipe(epochs=2, batch_size=4, learning_rate=2e-3, patience=5)
