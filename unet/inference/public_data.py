"""The public data sets the bundled models were trained and tested on, as the cards name them
(by the folder their users download: the cards' ``dataset`` entries and per-data-set figures):
how people call each, its licence and its citation. The model card tab and the Hub's model card
(``training/publish.py``) read them from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataSet:
    """A public data set as the cards name it (their ``dataset`` entries), for the card text."""

    label: str  # how people call it
    key: str  # the model-index's dataset type (no Hub data set exists for these)
    licence: str
    citation: str


DATA = {
    "Dataset_BUSI_with_GT": DataSet(
        "BUSI", "busi", "CC0 1.0 (public domain dedication)",
        "W. Al-Dhabyani, M. Gomaa, H. Khaled, A. Fahmy, \"Dataset of breast ultrasound images\", "
        "*Data in Brief* 28 (2020) 104863, https://doi.org/10.1016/j.dib.2019.104863"),
    "BUSBRA": DataSet(
        "BUS-BRA", "bus-bra",
        "free use, copying and redistribution, with its copyright notice kept and its article "
        "cited",
        "W. Gómez-Flores, M. J. Gregorio-Calas, W. C. de Albuquerque Pereira, \"BUS-BRA: A "
        "Breast Ultrasound Dataset for Assessing Computer-aided Diagnosis Systems\", *Medical "
        "Physics* 51 (2024) 3110-3123, https://doi.org/10.1002/mp.16812"),
    "thyroidultrasound": DataSet(
        "DDTI", "ddti", "open access, published by its authors for research and teaching",
        "L. Pedraza, C. Vargas, F. Narváez, O. Durán, E. Muñoz, E. Romero, \"An open access "
        "thyroid ultrasound image database\", *Proc. SPIE* 9287, 92870W (2015), "
        "https://doi.org/10.1117/12.2073532"),
}


def published_name(folder: str) -> str:
    """'BUS-BRA' for the folder 'BUSBRA'; an unknown folder keeps its own name."""
    known = DATA.get(folder)
    return folder if known is None else known.label
