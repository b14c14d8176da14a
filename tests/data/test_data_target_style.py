"""Target-style colour transfer: region statistics land on the target's, the gain cap, the regions
of a target record, and the mapper switch (source images only, labels untouched)."""

import cv2
import numpy as np
import pytest
import torch
from common import synthetic_mapper_cfg
from detectron2.data import DatasetCatalog
from detectron2.structures import BitMasks, Instances, PolygonMasks
from pycocotools import mask as mask_util

from occpose_d2 import validate_occpose_config
from occpose_d2.data import OccPoseDatasetMapper
from occpose_d2.data.target_style import (
    MAX_GAIN,
    TargetStyleBank,
    apply_target_style,
    from_lab,
    lab_stats,
    region_masks,
    to_lab,
    transfer_region,
)

H, W = 60, 50


def _noisy_image(seed=0, mean=(60, 180, 120), std=25.0):
    rng = np.random.RandomState(seed)
    return np.clip(rng.normal(mean, std, (H, W, 3)), 0, 255).astype(np.uint8)


def test_lab_round_trip_is_lossless_to_one_level():
    image = _noisy_image()
    for fmt in ("BGR", "RGB"):
        back = from_lab(to_lab(image, fmt), fmt)
        assert np.abs(back.astype(int) - image).max() <= 1


def test_transfer_moves_region_statistics_and_leaves_the_rest():
    lab = to_lab(_noisy_image(), "BGR")
    before = lab.copy()
    region = np.zeros((H, W), bool)
    region[10:40, 5:30] = True
    dst = np.array([[40.0, 10.0, -5.0], [8.0, 3.0, 6.0]])
    transfer_region(lab, region, dst)
    np.testing.assert_allclose(lab_stats(lab, region), dst, rtol=1e-4, atol=1e-3)
    assert np.array_equal(lab[~region], before[~region])


def test_gain_is_capped_on_flat_regions():
    lab = np.zeros((H, W, 3), np.float32)
    lab[..., 0] = 50.0
    lab[::2, :, 0] += 1.0  # L std 0.5
    region = np.ones((H, W), bool)
    transfer_region(lab, region, np.array([[30.0, 0.0, 0.0], [20.0, 0.0, 0.0]]))
    stats = lab_stats(lab, region)
    assert stats[0, 0] == pytest.approx(30.0, abs=1e-4)
    assert stats[1, 0] == pytest.approx(0.5 * MAX_GAIN, rel=1e-4)  # not 20


def _rle(region):
    rle = mask_util.encode(np.asfortranarray(region.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def test_region_masks_from_masks_and_from_visible_boxes():
    seg = np.zeros((H, W), bool)
    seg[5:20, 3:9] = True
    annos = [
        {"bbox": [3, 5, 6, 15], "bbox_mode": 1, "category_id": 0, "segmentation": _rle(seg),
         "keypoints": [5.0, 6.0, 2.0] * 13},  # raw keypoints (a target set that has them)
        {"bbox": [20, 10, 20, 40], "bbox_mode": 1, "category_id": 0, "vis_bbox": [20, 30, 10, 20]},
        {"bbox": [0, 50, 10, 5], "bbox_mode": 1, "category_id": 0},
    ]
    masks = region_masks(annos, H, W)
    assert np.array_equal(masks[0], seg)
    assert masks[1].sum() == 10 * 20 and masks[1][30:50, 20:30].all()
    assert masks[2].sum() == 10 * 5 and masks[2][50:55, 0:10].all()


def test_bank_reads_person_and_background_styles(tmp_path):
    image = np.full((H, W, 3), 200, np.uint8)
    person = np.zeros((H, W), bool)
    person[10:50, 10:25] = True
    image[person] = (30, 40, 50)
    path = str(tmp_path / "t.png")
    cv2.imwrite(path, image)
    record = {"file_name": path, "height": H, "width": W, "annotations": [
        {"bbox": [10, 10, 15, 40], "bbox_mode": 1, "category_id": 0, "segmentation": _rle(person)},
        {"bbox": [30, 0, 10, 10], "bbox_mode": 1, "category_id": 0, "iscrowd": 1},
    ]}
    bank = TargetStyleBank([record, {"file_name": "x", "annotations": []}], "BGR")
    assert len(bank.dicts) == 1  # the dict without persons is left out
    bg, persons = bank.sample(np.random.RandomState(0))
    lab = to_lab(image, "BGR")
    assert len(persons) == 1  # the crowd region gives no person style ...
    np.testing.assert_allclose(persons[0], lab_stats(lab, person), atol=1e-4)
    np.testing.assert_allclose(bg, lab_stats(lab, ~person), atol=1e-4)  # ... nor background
    with pytest.raises(ValueError, match="no annotated person"):
        TargetStyleBank([{"file_name": "x", "annotations": []}], "BGR")
    with pytest.raises(ValueError, match="INPUT.FORMAT"):
        TargetStyleBank([record], "YUV-BT.601")


def test_apply_gives_each_person_a_target_persons_colours():
    image = _noisy_image(1, mean=(40, 200, 230))  # a bright, saturated source
    masks = torch.zeros(2, H, W, dtype=torch.bool)
    masks[0, 5:50, 5:20] = True
    masks[1, 10:55, 30:45] = True
    inst = Instances((H, W))
    inst.gt_masks = BitMasks(masks)
    dark = np.array([[25.0, 2.0, -3.0], [6.0, 2.0, 3.0]])
    bg = np.array([[60.0, 0.0, 5.0], [10.0, 2.0, 4.0]])
    apply_target_style(image, inst, "BGR", (bg, [dark]), np.random.RandomState(0))
    lab = to_lab(image, "BGR")
    for m in masks.numpy():
        np.testing.assert_allclose(lab_stats(lab, m)[0], dark[0], atol=1.0)  # uint8 rounding
    np.testing.assert_allclose(lab_stats(lab, ~masks.numpy().any(0))[0], bg[0], atol=1.0)
    square = [np.array([5.0, 5.0, 15.0, 5.0, 15.0, 15.0, 5.0, 15.0])]
    inst.gt_masks = PolygonMasks([square, square])
    with pytest.raises(TypeError, match="bitmask"):
        apply_target_style(image, inst, "BGR", (bg, [dark]), np.random.RandomState(0))


def _cfg(prob):
    return synthetic_mapper_cfg(["INPUT.TARGET_STYLE.PROB", prob])


def test_mapper_restyles_source_images_only(synthetic_root):
    on, off = (OccPoseDatasetMapper(_cfg(p), is_train=True) for p in (1.0, 0.0))
    on.augmentations.augs, off.augmentations.augs = [], []  # no random resize / flip / blur
    targets = DatasetCatalog.get("synth_pd_train")
    person_means = []
    for d in targets:
        lab = to_lab(cv2.imread(d["file_name"]), "BGR")
        for a, r in zip(d["annotations"], region_masks(d["annotations"], d["height"], d["width"])):
            if not a.get("iscrowd", 0) and r.sum() >= 16:
                person_means.append(lab_stats(lab, r)[0])
    person_means = np.array(person_means)
    for d in DatasetCatalog.get("synth_pe_train"):
        np.random.seed(0)
        a, b = on(dict(d)), off(dict(d))
        assert not torch.equal(a["image"], b["image"])
        for key in ("gt_boxes", "gt_keypoints", "gt_masks"):  # labels are untouched
            assert torch.equal(a["instances"].get(key).tensor, b["instances"].get(key).tensor)
        # every source person now has the mean colour of some target person
        lab = to_lab(a["image"].permute(1, 2, 0).numpy(), "BGR")
        for m in a["instances"].gt_masks.tensor.numpy():
            if m.sum() >= 16:
                gap = np.abs(person_means - lab_stats(lab, m)[0]).max(axis=1).min()
                assert gap < 1.5
    tgt = next(d for d in targets if d["annotations"])
    assert torch.equal(on(dict(tgt))["image"], off(dict(tgt))["image"])


def test_config_checks():
    cfg = _cfg(-0.1)
    with pytest.raises(ValueError, match="INPUT.TARGET_STYLE.PROB"):
        validate_occpose_config(cfg)
    cfg = _cfg(0.5)
    cfg.INPUT.MASK_FORMAT = "polygon"
    with pytest.raises(ValueError, match="INPUT.MASK_FORMAT"):
        validate_occpose_config(cfg)
