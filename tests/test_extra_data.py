import cv2
import numpy as np
import pytest

from training.datasets import Dataset, DatasetError, Sample
from training.extra_data import count_by_dataset, extra_training_samples


@pytest.fixture
def dataset(tmp_path):
    """A BUSI-like data set: lesion images with a marked mask file, lesion-free ones with an
    all-black mask file (as BUSI ships its normal scans); the images themselves are not read."""
    def make(name: str, lesions: int, lesion_free: int) -> Dataset:
        root = tmp_path / name
        root.mkdir()
        marked, black = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
        marked[2:5, 3:6] = 255
        cv2.imwrite(str(root / "marked.png"), marked)
        cv2.imwrite(str(root / "black.png"), black)
        samples = [Sample(root / f"l{i}.png", (root / "marked.png",), "benign", f"l{i}.png",
                          dataset=name) for i in range(lesions)]
        samples += [Sample(root / f"n{i}.png", (root / "black.png",), "normal", f"n{i}.png",
                           dataset=name) for i in range(lesion_free)]
        return Dataset(root, "busi", samples)
    return make


def test_takes_only_the_lesion_images_of_every_extra_data_set(dataset):
    chosen = extra_training_samples([dataset("A", 5, 3), dataset("B", 2, 0)], None, seed=1)
    assert [s.key for s in chosen] == [f"l{i}.png" for i in range(5)] + ["l0.png", "l1.png"]
    assert all(s.has_lesion_annotation for s in chosen)
    assert count_by_dataset(chosen) == {"A": 5, "B": 2}


def test_a_limit_draws_a_fixed_subset_that_the_seed_moves(dataset):
    sets = [dataset("A", 40, 10), dataset("B", 40, 0)]
    first = extra_training_samples(sets, 20, seed=7)
    assert len(first) == len({(s.dataset, s.key) for s in first}) == 20
    assert all(s.has_lesion_annotation for s in first)
    assert first == extra_training_samples(sets, 20, seed=7)
    assert first != extra_training_samples(sets, 20, seed=8)
    # kept in the data sets' order, whichever were drawn
    order = [(s.dataset, int(s.key[1:-4])) for s in first]
    assert order == sorted(order)
    assert extra_training_samples(sets, 500, seed=7) == extra_training_samples(sets, None, seed=7)


@pytest.mark.parametrize("lesions, limit, words", [
    (0, None, "no image with an outlined lesion"),
    (3, 0, "at least 1"),
])
def test_unusable_extra_data_is_a_clear_error(dataset, lesions, limit, words):
    with pytest.raises(DatasetError, match=words):
        extra_training_samples([dataset("A", lesions, 4)], limit, seed=0)


def test_an_unreadable_mask_file_is_a_clear_error(dataset, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    sets = [dataset("A", 2, 0)]
    sets[0].samples.append(Sample(tmp_path / "x.png", (tmp_path / "broken.png",), "benign",
                                  "x.png", dataset="A"))
    with pytest.raises(DatasetError, match="Cannot read mask"):
        extra_training_samples(sets, None, seed=0)
