import cv2
import numpy as np
import pytest

from training.datasets import DatasetError, find_dataset, load_mask
from training.splits import group_near_duplicates, perceptual_hash, split_groups
from unet.phantom import make_phantom


def write_pair(folder, name, seed, lesion=True, mask_names=("_mask",)):
    gray, mask = make_phantom(96, 128, seed=seed, lesion=lesion)
    cv2.imwrite(str(folder / f"{name}.png"), gray)
    for suffix in mask_names:
        cv2.imwrite(str(folder / f"{name}{suffix}.png"), mask.astype(np.uint8) * 255)
    return gray, mask


def test_busi_layout_unions_extra_masks_and_accepts_a_class_without_masks(tmp_path):
    root = tmp_path / "Dataset_BUSI_with_GT"
    for c in ("benign", "malignant", "normal"):
        (root / c).mkdir(parents=True)
    write_pair(root / "benign", "benign (1)", 1)
    # a second lesion in its own mask file: the loader must union both
    gray, first = write_pair(root / "benign", "benign (2)", 2)
    second = np.zeros_like(first)
    second[5:15, 5:20] = True
    cv2.imwrite(str(root / "benign" / "benign (2)_mask_1.png"), second.astype(np.uint8) * 255)
    # RGB mask, as the Kaggle download sometimes has
    g3, m3 = make_phantom(96, 128, seed=3)
    cv2.imwrite(str(root / "malignant" / "malignant (1).png"), cv2.cvtColor(g3, cv2.COLOR_GRAY2BGR))
    cv2.imwrite(str(root / "malignant" / "malignant (1)_mask.png"),
                cv2.cvtColor(m3.astype(np.uint8) * 255, cv2.COLOR_GRAY2BGR))
    # "normal" holds images and no mask files at all: lesion-free
    g4, _ = make_phantom(96, 128, seed=4, lesion=False)
    cv2.imwrite(str(root / "normal" / "normal (1).png"), g4)

    ds = find_dataset(root)
    assert ds.layout == "busi"
    by_key = {s.key: s for s in ds.samples}
    assert set(by_key) == {"benign/benign (1).png", "benign/benign (2).png",
                           "malignant/malignant (1).png", "normal/normal (1).png"}
    union = load_mask(by_key["benign/benign (2).png"], gray.shape)
    assert np.array_equal(union, first | second)
    assert np.array_equal(load_mask(by_key["malignant/malignant (1).png"], g3.shape), m3)
    normal = by_key["normal/normal (1).png"]
    assert normal.label == "normal" and not load_mask(normal, g4.shape).any()


@pytest.mark.parametrize("image_dir,mask_dir", [("p_image", "p_mask"), ("image", "mask"),
                                                ("images", "masks")])
def test_pair_layouts(tmp_path, image_dir, mask_dir):
    (tmp_path / image_dir).mkdir()
    (tmp_path / mask_dir).mkdir()
    for i in range(3):
        gray, mask = make_phantom(64, 64, seed=i)
        cv2.imwrite(str(tmp_path / image_dir / f"{i}.PNG"), gray)
        if i < 2:  # the third has no mask and is left out
            cv2.imwrite(str(tmp_path / mask_dir / f"{i}.PNG"), mask.astype(np.uint8) * 255)
    ds = find_dataset(tmp_path)
    assert [s.key for s in ds.samples] == [f"{image_dir}/0.PNG", f"{image_dir}/1.PNG"]


def test_wrong_or_empty_directory_names_the_expected_layouts(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        find_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="p_image"):
        find_dataset(tmp_path)


def test_near_duplicates_share_a_group_and_a_split():
    rng = np.random.default_rng(0)
    images, labels = [], []
    for seed in range(12):
        gray, _ = make_phantom(120, 160, seed=seed)
        images.append(gray)
        labels.append("benign" if seed % 2 else "malignant")
    # a re-crop of image 0 (8 px margin) and a brightened copy of image 1, in another class
    images.append(cv2.resize(images[0][8:-8, 8:-8], (160, 120)))
    labels.append("malignant")
    images.append(np.clip(images[1].astype(int) + 12 + rng.integers(0, 3, images[1].shape),
                          0, 255).astype(np.uint8))
    labels.append("malignant")
    hashes = [perceptual_hash(g) for g in images]
    groups = group_near_duplicates(hashes)
    assert groups[12] == groups[0] and groups[13] == groups[1]
    assert len(set(groups)) >= 10  # unrelated phantoms stay apart
    for seed in range(3):
        split = split_groups(labels, groups, seed=seed)
        assert split[12] == split[0] and split[13] == split[1]
        assert set(split) <= {"train", "val", "test"}
    assert split_groups(labels, groups, seed=5) == split_groups(labels, groups, seed=5)


def test_split_proportions_and_stratification():
    labels = ["a"] * 70 + ["b"] * 30
    groups = list(range(100))
    split = split_groups(labels, groups, seed=1)
    for label, n in (("a", 70), ("b", 30)):
        test = sum(1 for s, lab in zip(split, labels, strict=True) if lab == label and s == "test")
        assert abs(test - 0.15 * n) <= 1
