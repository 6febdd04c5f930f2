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
    "breast": Recipe(epochs=80, batch_size=16, learning_rate=2e-3, patience=25),
    "thyroid": Recipe(epochs=70, batch_size=16, learning_rate=2e-3, patience=25),
}

SMOKE = Recipe(epochs=2, batch_size=4, learning_rate=2e-3, patience=5)
