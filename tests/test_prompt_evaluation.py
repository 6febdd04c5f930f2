"""The simulated user who clears the marks they did not box (training/prompt_evaluation.py)."""

import numpy as np

from training.prompt_evaluation import removal_clicks
from unet.inference.prompts import BoxPrompt, ClickPrompt, Prompts, guided_mask


def test_a_not_a_lesion_click_lands_inside_each_mark_no_box_touches_and_clears_it():
    mask = np.zeros((120, 160), bool)
    mask[20:50, 20:60] = True  # the boxed lesion
    mask[80:110, 100:150] = True  # a mark the user did not box
    mask[10:16, 130:136] = True  # and a small one
    prompts = Prompts(boxes=(BoxPrompt(15, 15, 65, 55),))
    clicks = removal_clicks(mask, prompts)
    assert len(clicks) == 2 and not any(c.lesion for c in clicks)
    # one inside each unboxed mark, away from its edge
    assert sorted((80 < c.y < 109 and 100 < c.x < 149, 10 < c.y < 15 and 130 < c.x < 135)
                  for c in clicks) == [(False, True), (True, False)]
    # through the app's own "not a lesion" path, only the boxed lesion is left
    cleared = guided_mask(object(), np.zeros(mask.shape, np.uint8), mask.astype(np.float32),
                          mask, Prompts(clicks=clicks))
    expected = np.zeros_like(mask)
    expected[20:50, 20:60] = True
    np.testing.assert_array_equal(cleared, expected)
    # a mark that reaches into a box is the user's boxed lesion: no click on it
    assert removal_clicks(mask, Prompts(boxes=(BoxPrompt(0, 0, 160, 120),))) == ()


def test_the_marks_a_lesion_click_is_on_or_nearest_to_are_kept():
    mask = np.zeros((100, 100), bool)
    mask[10:30, 10:30] = True
    mask[60:90, 60:90] = True
    on = removal_clicks(mask, Prompts(clicks=(ClickPrompt(20, 20),)))
    assert len(on) == 1 and mask[on[0].y, on[0].x] and on[0].y >= 60
    # a click beside a mark (within a tenth of the shorter side, 10 px) keeps that mark
    beside = removal_clicks(mask, Prompts(clicks=(ClickPrompt(35, 20),)))
    assert len(beside) == 1 and beside[0].y >= 60
    # a "not a lesion" click keeps nothing, and a click far from every mark keeps nothing
    assert len(removal_clicks(mask, Prompts(clicks=(ClickPrompt(20, 20, lesion=False),)))) == 2
    assert len(removal_clicks(mask, Prompts(clicks=(ClickPrompt(50, 5),)))) == 2
