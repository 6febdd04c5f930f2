"""The click-prompted network: its window and click channel (shared by training and the app),
the simulated clicks it trains on, how its answer becomes an outline, and its place in the
guided mask (used where bundled, replacing the automatic outline it touches; the training-free
click otherwise)."""

import dataclasses

import numpy as np
import pytest

from tests.test_prompts import FlatSegmenter, disc
from training.augment import AugmentConfig
from training.box_prompt_data import LesionImage, lesion_boxes
from training.click_prompt_data import (
    ClickWindowBatches,
    interior_point,
    random_click,
    training_example,
    training_share,
    validation_example,
)
from training.metrics import dice
from unet.inference.click_network import ClickNetwork
from unet.inference.prompt_network import Look
from unet.inference.prompts import ClickPrompt, Prompts, click_method, guided_mask
from unet.transforms.click_window import ClickShares, click_channel, window_at_click
from unet.transforms.window import Window, cut, resize_window, touches_edge


def test_the_window_is_a_share_of_the_shorter_side_centred_on_the_click():
    window = window_at_click((50, 30), (200, 300), share=0.5)
    assert window.side == 100
    assert (window.y0, window.x0) == (-20, 0)  # centre (30.5, 50.5): the click's pixel
    moved = window_at_click((50, 30), (200, 300), share=0.5, shift=(0.1, -0.2))
    assert (moved.y0 - window.y0, moved.x0 - window.x0) == (10, -20)


def test_the_click_channel_peaks_at_the_click_on_the_resized_window():
    window = Window(0, 0, 200)
    channel = click_channel((50, 150), window, 100)  # x 50, y 150 -> (75, 25) at half size
    assert channel.shape == (100, 100) and channel.dtype == np.float32
    assert np.unravel_index(int(np.argmax(channel)), channel.shape) == (75, 25)
    assert channel.max() > 0.9 and channel[75, 60] < 1e-3  # a spot, not a wash
    np.testing.assert_allclose(channel, channel[:, ::-1][:, ::-1])


def test_simulated_clicks_fall_inside_the_lesion_mostly_towards_its_middle():
    mask = disc((120, 160), 60, 80, 25, 1.0) > 0
    (box,) = lesion_boxes(mask)
    assert interior_point(mask, box) == (80, 60)
    rng = np.random.default_rng(0)
    clicks = [random_click(mask, box, rng) for _ in range(400)]
    assert all(mask[y, x] for x, y in clicks)
    distance = [np.hypot(x - 80, y - 60) for x, y in clicks]
    assert np.mean(np.asarray(distance) < 12.5) > 0.4  # the inner quarter of the area: 25 %


def test_training_and_validation_windows_hold_the_click_and_the_lesion():
    gray = np.zeros((120, 160), np.uint8)
    mask = disc(gray.shape, 60, 80, 15, 1.0) > 0
    gray[mask] = 200
    item = LesionImage(gray, mask, lesion_boxes(mask), "k", "d")
    rng = np.random.default_rng(1)
    for _ in range(20):
        x, target = training_example(item, 64, rng, AugmentConfig())
        assert x.shape == (64, 64, 2) and target.shape == (64, 64)
        spot = np.unravel_index(int(np.argmax(x[..., 1])), (64, 64))
        assert target[spot] == 1  # the click lies on the lesion
    x, target = validation_example(item, 64)
    assert np.unravel_index(int(np.argmax(x[..., 1])), (64, 64)) in {(32, 32), (31, 31),
                                                                      (31, 32), (32, 31)}
    assert target.sum() > 0


def inside_window(probability, window):
    """``probability`` inside ``window`` only, 0 elsewhere: a network's view of a lesion."""
    inside = np.zeros(probability.shape, np.float32)
    rows = slice(window.y0, window.y0 + window.side)
    cols = slice(window.x0, window.x0 + window.side)
    inside[rows, cols] = probability[rows, cols]
    return inside


@dataclasses.dataclass(frozen=True)
class FrameLook(Look):
    """A look whose answer is given in frame coordinates."""

    frame: np.ndarray | None = None

    def in_frame(self, shape):
        return self.frame


class Answer(ClickNetwork):
    """A click network whose probability is given per window share (no file); no sized look
    unless its shares ask for one (``SizedAnswer`` below)."""

    def __init__(self, answers, shares=ClickShares(lesion_factor=None)):
        self.answers, self.shares, self.looked = answers, shares, []

    def look(self, gray, point, share=0.35):
        self.looked.append(share)
        window = window_at_click(point, gray.shape, share)
        return FrameLook(window, None, None, self.answers[share])


def test_the_outline_is_the_component_under_the_click_or_just_beside_it():
    shape = (200, 200)
    lesion = disc(shape, 100, 100, 10, 1.0)
    other = disc(shape, 100, 140, 6, 1.0)
    network = Answer({0.35: np.maximum(lesion, other)})
    gray = np.zeros(shape, np.uint8)
    np.testing.assert_array_equal(network.outline(gray, (100, 100)), lesion >= 0.5)
    beside = network.outline(gray, (100, 113))  # 3 px off the lesion's edge, 21 px off other's
    np.testing.assert_array_equal(beside, lesion >= 0.5)
    assert not network.outline(gray, (20, 20)).any()  # nothing near: the fallback answers
    assert network.looked == [0.35] * 3


def test_a_lesion_larger_than_the_window_gets_the_wider_look():
    shape = (200, 200)
    big = disc(shape, 100, 100, 40, 1.0)  # wider than the 70 px first window
    window = window_at_click((100, 100), shape, 0.35)
    cut_short = inside_window(big, window)
    network = Answer({0.35: cut_short, 0.6: big})
    outline = network.outline(np.zeros(shape, np.uint8), (100, 100))
    assert network.looked == [0.35, 0.6]
    np.testing.assert_array_equal(outline, big >= 0.5)
    assert touches_edge(cut_short >= 0.5, window, shape)
    assert not touches_edge(big >= 0.5, window_at_click((100, 100), shape, 0.6), shape)


def test_a_network_looks_through_the_windows_its_card_records():
    assert ClickShares.from_card({}) == ClickShares(0.35, 0.6, 2.2, (0.25, 0.7))  # defaults
    card = {"window": {"share": 0.5, "wide_share": 0.9, "lesion_factor": None,
                       "training_share_range": [0.3, 1.0]}}
    shares = ClickShares.from_card(card)
    assert shares == ClickShares(0.5, 0.9, None, (0.3, 1.0))
    assert shares.to_card() == card["window"]  # what an export writes reads back the same
    assert ClickShares.from_card({"window": shares.to_card()}) == shares
    shape = (200, 200)
    big = disc(shape, 100, 100, 60, 1.0)
    window = window_at_click((100, 100), shape, 0.5)
    cut_short = inside_window(big, window)
    network = Answer({0.5: cut_short, 0.9: big}, shares)
    np.testing.assert_array_equal(network.outline(np.zeros(shape, np.uint8), (100, 100)),
                                  big >= 0.5)
    assert network.looked == [0.5, 0.9]


class SizedAnswer(ClickNetwork):
    """A click network with real looks: its window probability (at ``size`` px) is cut from a
    frame-sized answer given for the first share and for any other (the sized look)."""

    def __init__(self, first, sized, shares=ClickShares(), size=160):
        self.first, self.sized_answer, self.shares, self.size = first, sized, shares, size
        self.looked = []

    def look(self, gray, point, share=0.35):
        self.looked.append(share)
        window = window_at_click(point, gray.shape, share)
        frame = self.first if share == self.shares.first else self.sized_answer
        probability = resize_window(cut(frame, window), self.size)
        return Look(window, np.zeros((self.size, self.size, 2), np.float32), probability)


def test_the_last_look_is_sized_by_the_answer_and_averaged_with_it():
    shape, point = (400, 400), (200, 200)
    first = disc(shape, 200, 200, 26, 0.6)  # the first window's answer: 53 px across
    sized = np.maximum(disc(shape, 200, 200, 24, 0.45), disc(shape, 200, 200, 20, 0.6))
    network = SizedAnswer(first, sized)
    region, look = network.answer(np.zeros(shape, np.uint8), point)
    assert network.looked[0] == 0.35
    ys, xs = np.nonzero(network._first_answer(np.zeros(shape, np.uint8), point)[0])
    side = max(np.ptp(ys), np.ptp(xs)) + 1  # about 53 px, as the 160-px look resolves it
    assert 45 <= side <= 55
    assert network.looked[1] == pytest.approx(2.2 * side / 400)  # 2.2 times the answer's side
    assert look.window == window_at_click(point, shape, network.looked[1])
    # the mean: inside 20 px both say 0.6; 20-24 px (0.45 + 0.6) / 2; 24-26 px only 0.3
    expected = disc(shape, 200, 200, 24, 1.0) > 0
    assert dice(region, expected) > 0.95
    assert dice(region, first >= 0.5) < dice(region, expected) and region.sum() < (
        first >= 0.5).sum()
    assert not (region & (look.in_frame(shape) < 0.5)).any()  # the look it came from


def test_the_sized_look_stays_within_the_windows_the_network_was_trained_on():
    shapes = ClickShares()
    tiny = disc((400, 400), 200, 200, 5, 1.0) > 0
    huge = disc((400, 400), 200, 200, 150, 1.0) > 0
    assert shapes.sized(tiny) == 0.25 and shapes.sized(huge) == 0.7
    shape, point = (400, 400), (200, 200)
    answer = disc(shape, 200, 200, 20, 1.0)
    none = SizedAnswer(answer, answer, ClickShares(lesion_factor=None))
    none.answer(np.zeros(shape, np.uint8), point)
    assert none.looked == [0.35]  # a card that turns it off: no sized look
    lost = SizedAnswer(answer, np.zeros(shape, np.float32))
    region, look = lost.answer(np.zeros(shape, np.uint8), point)
    assert len(lost.looked) == 2 and region.any()  # the mean keeps the first answer's lesion


def test_sized_draws_cut_windows_of_the_lesions_scale_within_the_training_range():
    rng = np.random.default_rng(0)
    shape, box = (400, 600), (280, 180, 320, 220)  # a 40-px lesion: 0.1 of the shorter side
    plain = [training_share(box, shape, rng, (0.25, 0.7)) for _ in range(300)]
    sized = [training_share(box, shape, rng, (0.1, 0.7), sized_draws=1.0) for _ in range(300)]
    half = [training_share(box, shape, rng, (0.1, 0.7), sized_draws=0.5) for _ in range(400)]
    assert 0.25 <= min(plain) and max(plain) <= 0.7 and np.std(plain) > 0.1
    assert 0.16 - 1e-9 <= min(sized) and max(sized) <= 0.30 + 1e-9  # 1.6-3.0 x 40 px / 400 px
    # at most 0.3: every sized draw, and a third of the others (0.1-0.3 of 0.1-0.7): 2/3
    assert 0.55 < np.mean(np.asarray(half) <= 0.3) < 0.78
    tiny = [training_share(box, shape, rng, (0.25, 0.7), sized_draws=1.0) for _ in range(50)]
    assert min(tiny) >= 0.25  # kept within the range the network is trained and read on


def test_click_batches_draw_windows_of_the_recipes_shares():
    gray = np.zeros((120, 160), np.uint8)
    mask = disc(gray.shape, 60, 80, 15, 1.0) > 0
    gray[mask] = 200
    item = LesionImage(gray, mask, lesion_boxes(mask), "k", "d")
    narrow = validation_example(item, 64, 0.35)[1].sum()
    wide = validation_example(item, 64, 0.9)[1].sum()
    assert wide < narrow / 4  # the same lesion in a window 2.6x wider: about 1/6.6 the area
    batches = ClickWindowBatches([item], share=0.9, share_range=(0.9, 0.9), size=64,
                                 batch_size=1, training=False)
    np.testing.assert_array_equal(batches[0][1][0, ..., 0], validation_example(item, 64, 0.9)[1])


class FakeClickNetwork:
    def __init__(self, region):
        self.region, self.points = region, []
        self.weights, self.version = type("W", (), {"name": "breast_click.keras"})(), "click-1"

    def answer(self, gray, point):
        """The region, and a look whose window is the whole image (nothing cut)."""
        from types import SimpleNamespace

        from unet.transforms.window import Window

        self.points.append(point)
        return self.region.copy(), SimpleNamespace(window=Window(0, 0, max(gray.shape)))

    def outline(self, gray, point):
        return self.answer(gray, point)[0]


class WithClickNetwork(FlatSegmenter):
    def __init__(self, network):
        super().__init__()
        self.click_network = network


def test_a_bundled_click_network_replaces_the_automatic_outline_it_touches():
    shape = (120, 200)
    probability = np.maximum(disc(shape, 60, 60, 20, 0.9), disc(shape, 60, 150, 10, 0.9))
    gray = (probability * 200).astype(np.uint8)
    automatic = probability >= 0.5
    tight = disc(shape, 60, 60, 12, 1.0) >= 0.5  # the network's outline: inside the automatic
    network = FakeClickNetwork(tight)
    used = {}
    mask = guided_mask(WithClickNetwork(network), gray, probability, automatic,
                       Prompts(clicks=(ClickPrompt(60, 60),)), used=used)
    assert network.points == [(60, 60)] and used == {"click": ["network"]}
    np.testing.assert_array_equal(mask[:, :110], tight[:, :110])  # the clicked lesion: replaced
    np.testing.assert_array_equal(mask[:, 110:], automatic[:, 110:])  # the other: kept
    # nothing found: the training-free click answers, and the report says so
    empty = FakeClickNetwork(np.zeros(shape, bool))
    used = {}
    fallback = guided_mask(WithClickNetwork(empty), gray, probability, automatic,
                           Prompts(clicks=(ClickPrompt(60, 60),)), used=used)
    free = guided_mask(FlatSegmenter(), gray, probability, automatic,
                       Prompts(clicks=(ClickPrompt(60, 60),)))
    np.testing.assert_array_equal(fallback, free)
    text = click_method(WithClickNetwork(empty), used["click"])
    assert text.startswith("click-prompted network breast_click.keras (version click-1); 1 of 1")
    assert "found nothing there" in text
    assert click_method(FlatSegmenter()).endswith("(no click network bundled)")
    # "not a lesion" clicks never go to the network
    unused = FakeClickNetwork(tight)
    guided_mask(WithClickNetwork(unused), gray, probability, automatic,
                Prompts(clicks=(ClickPrompt(150, 60, lesion=False),)))
    assert unused.points == []
