"""An honest "no lesion found": the empty answer states the model's measured misses and does
not present the estimate as the overlap of an outline."""

import numpy as np
import pytest
from PIL import Image

from tests.app_fixtures import test_models
from unet.inference.models import Segmenters
from webapp.segment_events import segment_for_ui
from webapp.ui import Controls

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:gradio.helpers")


def test_an_empty_answer_is_worded_honestly(tmp_path):
    models = test_models()
    if "breast" not in models.trained_organs:
        pytest.skip("needs the bundled breast model and its card")
    flat = np.full((200, 260), 90, np.uint8)  # nothing there: the model finds no lesion
    path = tmp_path / "flat.png"
    Image.fromarray(flat).save(path)
    out = segment_for_ui(Segmenters(models.segmenters),
                         Controls(file=str(path), organ="breast", threshold=None), None)
    report, summary = out["report_json"], out["summary"]
    assert report["measurements"]["lesion_found"] is False
    card = models.segmenters["breast"].card["test_metrics"]["test"]
    assert report["missed_lesion_rate_test"]["share"] == round(card["missed_lesion_rate"], 6)
    assert f"{card['missed_lesion_rate']:.1%}" in summary and "draw a box" in summary
    # the interval as the model card shows it (rounded once)
    low, high = card["missed_lesion_rate_ci95"]
    assert f"(95 % interval {low:.1%}-{high:.1%})" in summary
    # the whole rule, not the threshold alone: a faint region is left out at any threshold
    segmenter = models.segmenters["breast"]
    assert f"No region passes the model's rule at threshold {report['threshold']:.2f}" in summary
    if segmenter.min_peak > 0:
        assert (f"highest probability stays below {segmenter.min_peak:.2f} are left out, "
                "whatever the threshold") in summary
    if report["quality"] is not None:
        assert "chance that the scan has no lesion" in report["confidence_meaning"]
        assert "Expected overlap" not in summary and "no lesion ≈" in summary


def test_a_found_lesion_keeps_the_overlap_wording(tmp_path):
    from tests.app_fixtures import write_phantom

    models = test_models()
    path, _, _ = write_phantom(tmp_path, seed=3)
    out = segment_for_ui(Segmenters(models.segmenters),
                         Controls(file=path, organ="breast", threshold=0.5), None)
    if not out["report_json"]["measurements"]["lesion_found"]:
        pytest.skip("the model found no lesion on this phantom")
    assert "can miss a lesion" not in out["summary"]
    if out["report_json"]["quality"] is not None:
        assert "expected Dice overlap" in out["report_json"]["confidence_meaning"]
        own = out["report_json"]["threshold"]
        assert "The estimate is for the model's own threshold" not in out["summary"]
        # at another threshold the estimate stays the model's own answer's, and says so
        other = segment_for_ui(Segmenters(models.segmenters),
                               Controls(file=path, organ="breast", threshold=0.3), None)
        assert (f"The estimate is for the model's own threshold {own:.2f}, not for 0.30."
                in other["summary"])


def test_a_wrong_organ_headline_states_no_finding():
    """Beside a wrong-organ warning the headline does not announce a lesion."""
    from webapp.result import View
    from webapp.summary import summary_markdown

    lesion = {"index": 1, "area_px": 400, "area_mm2": None, "image_fraction": 0.01,
              "longest_diameter_px": 30.0, "perpendicular_diameter_px": 20.0,
              "longest_diameter_mm": None, "perpendicular_diameter_mm": None,
              "mean_probability": 0.8}
    measurements = {"lesion_found": True, "unit": "px", "spacing_mm": None, "lesions": [lesion]}
    report = {"organ": "breast", "model_version": "v6", "spacing_source": "none (pixels)",
              "quality": 0.7, "low_confidence": False, "confidence": 0.9,
              "organ_warning": "This looks like a thyroid scan: switch to the thyroid model?"}
    view = View(None, None, None, None, measurements, report, 0.5)
    warned = summary_markdown(view, None)
    assert "lesion found" not in warned and "Check the image first: 1 region marked" in warned
    assert "switch to the thyroid model" in warned
    report["organ_warning"] = None
    assert "### 1 lesion found" in summary_markdown(view, None)


def test_a_wrong_organ_row_of_the_batch_table_states_no_finding():
    """The batch table's Result beside a wrong-organ warning: what was marked, not a finding."""
    from types import SimpleNamespace

    from webapp.batch_tab import HEADERS, table_row

    warning = "This looks like a thyroid scan: switch to the thyroid model?"
    lesion = {"index": 1, "area_px": 1234, "longest_diameter_px": 40.0,
              "perpendicular_diameter_px": 30.0}

    def row(lesions, organ_warning):
        analysis = SimpleNamespace(quality=0.7, low_confidence=False, confidence=0.9,
                                   organ_warning=organ_warning, automatic_empty=not lesions,
                                   guided=None)
        outcome = SimpleNamespace(ok=True, item=SimpleNamespace(name="scan.png"),
                                  analysis=analysis)
        report = {"measurements": {"unit": "px", "lesions": lesions}}
        return dict(zip(HEADERS, table_row(outcome, report), strict=True))

    warned = row([lesion, {**lesion, "index": 2}], warning)
    assert warned["Result"] == "check the image first: 2 regions marked"
    assert warned["Lesions"] == "2" and "switch to the thyroid model" in warned["Warnings"]
    assert row([], warning)["Result"] == "check the image first: nothing marked"
    assert row([lesion], None)["Result"] == "lesion found"
    assert row([], None)["Result"] == "no lesion found"
    assert row([lesion], None)["Largest (long × short axis)"] == "40 × 30 px"
