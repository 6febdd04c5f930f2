"""The box-prompted network: its window geometry (shared by training and the app), its layers,
the simulated user's boxes, and its place in the guided mask (used where bundled, the
training-free scheme otherwise)."""

import numpy as np
import pytest

from tests.test_prompts import FlatSegmenter, disc
from training.augment import AugmentConfig
from training.box_prompt_data import (
    LesionImage,
    evaluation_boxes,
    jitter_box,
    lesion_boxes,
    training_example,
)
from unet.inference.prompts import BoxPrompt, Prompts, guided_mask
from unet.transforms.box_window import Window, box_channel, cut, paste, window_around


def test_window_is_square_around_the_box_and_zero_past_the_edge():
    window = window_around((10, 20, 30, 60), scale=2.0)  # 20 wide, 40 high
    assert window.side == 80
    assert (window.y0 + window.side / 2, window.x0 + window.side / 2) == (40, 20)
    frame = np.full((50, 50), 7, np.uint8)
    pixels = cut(frame, window)
    assert pixels.shape == (80, 80)
    assert pixels[0, 0] == 0 and pixels[40, 40] == 7  # (0, -20) is outside; (40, 20) inside
    inside = (pixels == 7).sum()
    assert inside == 50 * (50 - max(0, window.x0))  # all of the frame the window covers


def test_paste_puts_the_window_back_where_it_was_cut():
    rng = np.random.default_rng(0)
    frame = rng.random((60, 90)).astype(np.float32)
    window = Window(-10, 30, 64)
    back = paste(cut(frame, window), window, frame.shape)
    np.testing.assert_allclose(back[0:54, 30:90], frame[0:54, 30:90], atol=1e-6)
    assert not back[:, :30].any()


def test_box_channel_marks_the_box_on_the_resized_window():
    window = Window(0, 0, 100)
    channel = box_channel((20, 40, 60, 80), window, 50)
    assert channel[30, 20] == 1 and channel[10, 20] == 0 and channel[30, 5] == 0
    assert channel.sum() == 20 * 20


def test_each_lesion_gets_its_box_and_specks_are_ignored():
    mask = np.zeros((100, 120), bool)
    mask[10:30, 20:50] = True
    mask[60:90, 70:100] = True
    mask[95, 5] = True  # a one-pixel annotation speck
    assert lesion_boxes(mask) == [(20, 10, 50, 30), (70, 60, 100, 90)]


def test_jittered_boxes_stay_on_the_image_and_are_repeatable():
    rng = np.random.default_rng(1)
    for _ in range(200):
        x0, y0, x1, y1 = jitter_box((0, 0, 10, 4), 0.5, (20, 12), rng)
        assert 0 <= x0 < x1 <= 12 and 0 <= y0 < y1 <= 20 and x1 - x0 >= 2 and y1 - y0 >= 2
    item = LesionImage(np.zeros((100, 120), np.uint8), np.zeros((100, 120), bool),
                       [(20, 10, 50, 30)], "k", "d")
    assert evaluation_boxes(item, 0, 5) == evaluation_boxes(item, 0, 5)
    assert evaluation_boxes(item, 0, 5) != evaluation_boxes(item, 0, 6)


def test_a_training_example_holds_the_lesion_inside_its_box():
    gray = np.full((120, 160), 60, np.uint8)
    mask = disc((120, 160), 60, 80, 20, 1.0) > 0
    gray[mask] = 20
    item = LesionImage(gray, mask, lesion_boxes(mask), "k", "d")
    x, target = training_example(item, 64, np.random.default_rng(3), AugmentConfig())
    assert x.shape == (64, 64, 2) and target.shape == (64, 64)
    assert target.any()
    # the lesion's centre lies in the drawn box
    ys, xs = np.nonzero(target)
    assert x[int(ys.mean()), int(xs.mean()), 1] == 1.0


@pytest.fixture(scope="module")
def tiny_box_model():
    from unet.networks.architectures import build_model

    return build_model("box_prompt_unet", 64, decoder_filters=(16, 8, 8, 8))


def test_the_network_reads_the_box_and_keeps_its_channel_split_fixed(tiny_box_model, tmp_path):
    import keras

    model = tiny_box_model
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 64, 64, 2)).astype(np.float32)
    x[..., 1] = 0
    x[0, 10:30, 10:30, 1] = 1
    x[1, 30:60, 30:60, 1] = 1
    fixed = {name: model.get_layer(name).get_weights()[0].copy()
             for name in ("gray_to_rgb", "box")}
    assert not any(model.get_layer(n).trainable for n in fixed)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.train_on_batch(x, (x[..., 1:] > 0).astype(np.float32))
    for name, kernel in fixed.items():
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0], kernel)
    same_image = np.repeat(x[:1], 2, axis=0)
    same_image[1, ..., 1] = x[1, ..., 1]
    out = keras.ops.convert_to_numpy(model(same_image, training=False))
    assert np.abs(out[0] - out[1]).max() > 1e-4  # another box, another answer
    path = tmp_path / "box.keras"
    model.save(path)
    again = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(same_image, training=False)),
                               out, atol=1e-5)


class FakeBoxNetwork:
    """A box network that answers with a fixed region (or nothing)."""

    def __init__(self, region):
        self.region, self.boxes = region, []

    def outline(self, gray, box):
        self.boxes.append(box)
        return self.region.copy()


class WithNetwork(FlatSegmenter):
    def __init__(self, network):
        super().__init__()
        self.box_network = network


def _scene():
    shape = (120, 200)
    probability = disc(shape, 60, 150, 12, 0.3)  # faint: the automatic mask is empty
    gray = (probability * 200 + 20).astype(np.uint8)
    return gray, probability, probability >= 0.5


def test_a_bundled_box_network_outlines_the_box_and_an_empty_answer_falls_back():
    gray, probability, automatic = _scene()
    box = BoxPrompt(130, 40, 172, 80)
    region = np.zeros(gray.shape, bool)
    region[50:70, 140:160] = True
    network = FakeBoxNetwork(region)
    mask = guided_mask(WithNetwork(network), gray, probability, automatic, Prompts((box,)))
    assert network.boxes == [(130, 40, 172, 80)]
    np.testing.assert_array_equal(mask, region)
    # the network finds nothing: the training-free scheme outlines the faint blob instead
    empty = FakeBoxNetwork(np.zeros(gray.shape, bool))
    fallback = guided_mask(WithNetwork(empty), gray, probability, automatic, Prompts((box,)))
    free = guided_mask(FlatSegmenter(), gray, probability, automatic, Prompts((box,)))
    assert fallback.any()
    np.testing.assert_array_equal(fallback, free)
    unused = FakeBoxNetwork(region)
    off = guided_mask(WithNetwork(unused), gray, probability, automatic, Prompts((box,)),
                      use_networks=False)
    assert unused.boxes == [] and np.array_equal(off, free)


def test_the_box_keeps_the_lesion_it_is_drawn_on_not_a_larger_neighbour():
    """The network marks every lesion its window catches; the outline is the one in the box
    (and nothing where no marked region overlaps the box, so that the fallback answers)."""
    from unet.inference.box_network import BoxNetwork

    shape = (200, 200)
    small = disc(shape, 105, 105, 5, 1.0) > 0
    large = disc(shape, 130, 105, 9, 1.0) > 0  # larger, just below the box, in its window

    class Answer(BoxNetwork):
        def __init__(self, probability):  # no file: the network's answer is given
            self._probability = probability

        def probability(self, gray, box):
            return self._probability

    network = Answer((small | large).astype(np.float32))
    gray = np.zeros(shape, np.uint8)
    outline = network.outline(gray, (99, 99, 112, 112))
    np.testing.assert_array_equal(outline, small)
    assert not network.outline(gray, (10, 10, 30, 30)).any()  # nothing marked in this box


def test_the_report_says_when_a_box_fell_back_to_the_training_free_path():
    from unet.inference.prompts import box_method

    gray, probability, automatic = _scene()
    empty = FakeBoxNetwork(np.zeros(gray.shape, bool))
    empty.weights, empty.version = type("W", (), {"name": "breast_box.keras"})(), "box-1"
    used = {}
    guided_mask(WithNetwork(empty), gray, probability, automatic,
                Prompts((BoxPrompt(130, 40, 172, 80),)), used=used)
    assert used == {"box": ["training-free"]}
    text = box_method(WithNetwork(empty), used["box"])
    assert text.startswith("box-prompted network breast_box.keras (version box-1); 1 of 1 box")
    assert "found nothing" in text
    assert box_method(FlatSegmenter(), ["training-free"]).endswith("(no box network bundled)")
