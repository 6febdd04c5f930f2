"""One click to the other organ's model: beside a wrong-organ warning the result offers
"Segment with the thyroid model instead", and the click runs that model on the same image."""

import dataclasses

import pytest

from tests.app_fixtures import test_models, write_phantom
from unet.inference.models import Segmenters
from unet.trust.quality import Assessment
from webapp.segment_events import (
    segment_for_ui,
    suggested_organ,
    switch_button,
    switch_to_suggested,
)
from webapp.ui import Controls

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:gradio.helpers")


def _warned(result, probabilities, warning="This looks like a thyroid scan: switch to the "
                                            "thyroid model? (the breast model was selected)"):
    result.analysis = dataclasses.replace(
        result.analysis, assessment=Assessment(0.5, False, warning, probabilities))
    return result


def test_the_warning_offers_the_organ_it_names_and_the_click_runs_it(tmp_path):
    models = Segmenters(test_models().segmenters)
    path, _, _ = write_phantom(tmp_path, seed=2)
    c = Controls(file=path, organ="breast", threshold=0.5)
    result = segment_for_ui(models, c, None)["state"]
    plain = dataclasses.replace(result.analysis, assessment=Assessment(0.5, False, None, None))
    result.analysis = plain
    assert switch_button(result).visible is False
    _warned(result, {"breast": 0.1, "thyroid": 0.85, "other": 0.05})
    assert suggested_organ(result) == "thyroid"
    button = switch_button(result)
    assert button.visible and "thyroid model instead" in button.value
    out = switch_to_suggested(models, Controls(file=path, organ="breast", threshold=0.5), result)
    assert out["organ"] == "thyroid" and out["state"].analysis.organ.key == "thyroid"
    assert out["report_json"]["organ"] == "thyroid"
    # "not an ultrasound scan" suggests no model
    other = _warned(out["state"], {"breast": 0.05, "thyroid": 0.1, "other": 0.85},
                    "This does not look like an ultrasound scan")
    assert suggested_organ(other) is None and switch_button(other).visible is False
