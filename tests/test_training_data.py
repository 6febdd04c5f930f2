import cv2
import numpy as np
import pytest

from training.datasets import DatasetError, find_dataset, load_mask
from training.splits import group_near_duplicates, perceptual_hash, split_groups
from unet.testing.phantom import make_phantom


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


def write_busbra(root, cases: int = 6):
    """A BUS-BRA-shaped folder: two views per patient (-l, -r), two scanners."""
    (root / "Images").mkdir(parents=True)
    (root / "Masks").mkdir()
    rows = ["ID,Case,Histology,Pathology,BIRADS,Device,Width,Height,Side,BBOX"]
    for case in range(1, cases + 1):
        for side in ("l", "r"):
            gray, mask = make_phantom(90, 110, seed=case * 2 + (side == "r"))
            cv2.imwrite(str(root / "Images" / f"bus_{case:04d}-{side}.png"), gray)
            cv2.imwrite(str(root / "Masks" / f"mask_{case:04d}-{side}.png"),
                        mask.astype(np.uint8) * 255)
            device = "GE Logiq 5" if case % 2 else "Toshiba Aplio 300"
            rows.append(f'bus_{case:04d}-{side},{case},x,{"benign" if case % 3 else "malignant"},'
                        f'3,{device},110,90,left,"[1,2,3,4]"')
    (root / "bus_data.csv").write_text("\n".join(rows) + "\n")
    return root


def test_busbra_layout_as_published_groups_both_views_of_a_patient(tmp_path):
    from training.run import split_labels_and_groups

    root = write_busbra(tmp_path / "BUSBRA")
    ds = find_dataset(tmp_path)  # the folder holding BUSBRA/ is accepted too
    assert ds.layout == "busbra" and ds.root.name == "BUSBRA" and len(ds.samples) == 12
    first = ds.samples[0]
    assert first.key == "Images/bus_0001-l.png" and first.dataset == "BUSBRA"
    assert first.device == "GE Logiq 5" and first.label == "benign"
    assert load_mask(first, (90, 110)).any()
    labels, groups = split_labels_and_groups(ds.samples)
    assert len(set(groups)) == 6
    for seed in range(4):
        split = split_groups(labels, groups, seed=seed)
        for i in range(0, 12, 2):  # -l and -r of one patient on one side
            assert split[i] == split[i + 1]
    # an image without a row in the table or a mask is left out
    cv2.imwrite(str(root / "Images" / "bus_0099-l.png"), np.zeros((8, 8), np.uint8))
    assert len(find_dataset(root).samples) == 12


def test_lesion_free_classes_get_their_own_split_fractions():
    labels = ["normal"] * 40 + ["benign"] * 60
    split = split_groups(labels, list(range(100)), seed=0,
                         fractions_by_label={"normal": (0.5, 0.25, 0.25)})
    pairs = list(zip(split, labels, strict=True))
    normal_val = sum(1 for s, lab in pairs if lab == "normal" and s == "val")
    benign_val = sum(1 for s, lab in pairs if lab == "benign" and s == "val")
    assert normal_val == 10 and benign_val == 9


def test_near_duplicate_groups_are_the_linked_components_numbered_by_first_item():
    far = (1 << 64) - 1
    twelve = (1 << 12) - 1  # twelve low bits set
    hashes = [
        far,  # group 0
        0,  # group 1
        far ^ 1,  # 1 bit from item 0: group 0
        0b111,  # 3 bits from item 1: group 1
        0b111 ^ (twelve << 20),  # 12 bits from item 3 (15 from item 1): linked through item 3
        twelve << 40 | 1,  # 13 bits from item 1, further from the rest: a group of its own
    ]
    assert group_near_duplicates(hashes) == [0, 1, 0, 1, 1, 2]
    assert group_near_duplicates(hashes, threshold=11) == [0, 1, 0, 1, 2, 3]
    assert group_near_duplicates(hashes, threshold=13) == [0, 1, 0, 1, 1, 1]
    assert group_near_duplicates([]) == []
    assert group_near_duplicates([5]) == [0]


@pytest.mark.parametrize("organ", ["breast", "thyroid"])
def test_bundled_split_manifests_still_match_their_cards_and_the_split(organ):
    """The manifest hash the card states is still the manifest's, and the split drawn from the
    manifest's own labels and groups (the training run's rule and seed) is the manifest's."""
    import json

    from training.run import LESION_FREE_FRACTIONS
    from training.splits import manifest_hash
    from unet.inference.registry import WEIGHTS_DIR

    manifest = json.loads((WEIGHTS_DIR / f"{organ}_split.json").read_text())
    card = json.loads((WEIGHTS_DIR / f"{organ}.json").read_text())
    assert manifest_hash(manifest) == card["split"]["manifest_sha256"]
    assert card["version"].split("-")[2] == manifest_hash(manifest)[:8]
    items = [(name, item) for name, its in manifest["splits"].items() for item in its]
    labels = [f"{item['dataset']}/{item['label']}" for _, item in items]
    lesion_free = {lab: LESION_FREE_FRACTIONS for lab in labels if lab.endswith("/normal")}
    split = split_groups(labels, [item["group"] for _, item in items], seed=manifest["seed"],
                         fractions_by_label=lesion_free)
    assert split == [name for name, _ in items]
