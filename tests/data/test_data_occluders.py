"""Copy-paste occluders: the region each shape covers, the labels that follow the pixels, and the
mapper switch (source images only, off by default)."""

import numpy as np
import pytest
import torch
from common import synthetic_mapper_cfg
from detectron2.data import DatasetCatalog
from detectron2.structures import BitMasks, Boxes, Instances, Keypoints

from occpose_d2 import validate_occpose_config
from occpose_d2.data import OccPoseDatasetMapper
from occpose_d2.data.occluders import OCCLUDER_SHAPES, PatchSampler, occluder_mask, paste_occluders

H, W = 100, 80
BOX = (20.0, 10.0, 60.0, 90.0)  # one 40 x 80 px person


def _person(fully_visible=True):
    """One person filling BOX; joints on a vertical line through the box centre, all visible."""
    inst = Instances((H, W))
    inst.gt_boxes = Boxes(torch.tensor([BOX]))
    mask = torch.zeros(1, H, W, dtype=torch.bool)
    mask[0, 10:90, 20:60] = True
    inst.gt_masks = BitMasks(mask)
    ys = torch.linspace(12, 88, 13)
    kp = torch.stack([torch.full((13,), 40.0), ys, torch.full((13,), 2.0)], dim=1)
    inst.gt_keypoints = Keypoints(kp[None])
    inst.gt_fully_visible = torch.tensor([fully_visible])
    return inst


def _grey(value):
    return lambda rng, h, w: np.full((h, w, 3), value, np.uint8)


@pytest.mark.parametrize("shape", OCCLUDER_SHAPES)
def test_each_shape_covers_part_of_the_person(shape):
    rng = np.random.RandomState(0)
    person = np.zeros((H, W), bool)
    person[10:90, 20:60] = True
    for _ in range(20):
        region = occluder_mask(BOX, (H, W), rng, shape)
        covered = (region & person).sum()
        assert 0 < covered < person.sum(), shape
    with pytest.raises(ValueError, match="occluder shape"):
        occluder_mask(BOX, (H, W), rng, "car")


def test_bottom_shape_covers_the_lower_part_only():
    rng = np.random.RandomState(1)
    for _ in range(20):
        rows = np.nonzero(occluder_mask(BOX, (H, W), rng, "bottom").any(axis=1))[0]
        assert rows.min() >= 90 - 0.55 * 80 - 1 and 89 <= rows.max() <= 92


def test_labels_follow_the_pasted_pixels():
    image = np.zeros((H, W, 3), np.uint8)
    inst = _person()
    before = inst.gt_masks.tensor.clone()
    n = paste_occluders(image, inst, prob=1.0, min_visible=0.3, patches=_grey(200),
                        rng=np.random.RandomState(0))
    assert n == 1
    region = torch.from_numpy((image == 200).all(axis=2))
    assert region.any()
    # the visible mask loses exactly the pasted pixels
    assert torch.equal(inst.gt_masks.tensor[0], before[0] & ~region)
    # joints under the patch become occluded-but-labeled, the others stay visible
    kp = inst.gt_keypoints.tensor[0]
    under = region[kp[:, 1].long(), kp[:, 0].long()]
    assert under.any()
    assert torch.equal(kp[:, 2], torch.where(under, 1.0, 2.0))
    # boxes and the fully-visible flag do not change
    assert torch.equal(inst.gt_boxes.tensor, torch.tensor([BOX]))
    assert bool(inst.gt_fully_visible[0])
    # the paste leaves at least min_visible of the person
    assert inst.gt_masks.tensor[0].sum() >= 0.3 * before[0].sum()


def test_prob_zero_and_not_fully_visible_persons_are_left_alone():
    rng = np.random.RandomState(0)
    for inst, prob in ((_person(), 0.0), (_person(fully_visible=False), 1.0)):
        image = np.zeros((H, W, 3), np.uint8)
        assert paste_occluders(image, inst, prob, 0.3, _grey(200), rng) == 0
        assert not image.any() and (inst.gt_keypoints.tensor[0, :, 2] == 2).all()


def test_aims_choose_the_persons_and_visible_boxes_follow_the_masks():
    """Target image: a target person (no flag, no pose) and a pasted person beside it; patches are
    aimed at the pasted person only, and every changed mask's visible box shrinks with it."""
    inst = Instances((H, W))
    inst.gt_boxes = Boxes(torch.tensor([BOX, (40.0, 10.0, 78.0, 90.0)]))
    mask = torch.zeros(2, H, W, dtype=torch.bool)
    mask[0, 10:90, 20:60] = True
    mask[1, 10:90, 60:78] = True  # behind the target person: its left part is hidden
    inst.gt_masks = BitMasks(mask)
    inst.gt_vis_boxes = inst.gt_masks.get_bounding_boxes()
    kp = torch.zeros(2, 13, 3)
    kp[1] = torch.stack([torch.full((13,), 70.0), torch.linspace(12, 88, 13),
                         torch.full((13,), 2.0)], dim=1)
    inst.gt_keypoints = Keypoints(kp)
    aims = torch.tensor([False, True])
    for seed in range(10):
        case = Instances((H, W), **{
            k: v.clone() if torch.is_tensor(v) else type(v)(v.tensor.clone())
            for k, v in inst.get_fields().items()})
        image = np.zeros((H, W, 3), np.uint8)
        assert paste_occluders(image, case, 1.0, 0.3, _grey(200), np.random.RandomState(seed),
                               aims=aims) == 1
        region = torch.from_numpy((image == 200).all(axis=2))
        ys, xs = torch.nonzero(region, as_tuple=True)  # aimed at the pasted person's box
        assert xs.max() >= 40 and xs.min() < 78 and ys.max() >= 10 and ys.min() < 90
        assert torch.equal(case.gt_masks.tensor, mask & ~region)
        assert torch.equal(case.gt_vis_boxes.tensor, case.gt_masks.get_bounding_boxes().tensor)
        assert (case.gt_keypoints.tensor[0, :, 2] == 0).all()  # unlabeled stays unlabeled
    # without aims and without the fully-visible flag nobody is aimed at
    assert paste_occluders(np.zeros((H, W, 3), np.uint8), inst, 1.0, 0.3, _grey(200),
                           np.random.RandomState(0)) == 0


def test_min_visible_one_never_pastes():
    inst = _person()
    image = np.zeros((H, W, 3), np.uint8)
    assert paste_occluders(image, inst, 1.0, 1.0, _grey(200), np.random.RandomState(0)) == 0
    assert not image.any()


def test_patch_sampler_crops_and_upscales(tmp_path):
    import cv2

    path = str(tmp_path / "t.png")
    cv2.imwrite(path, np.random.RandomState(0).randint(0, 255, (20, 30, 3)).astype(np.uint8))
    sampler = PatchSampler([path], "BGR")
    rng = np.random.RandomState(0)
    assert sampler(rng, 10, 12).shape == (10, 12, 3)
    assert sampler(rng, 50, 70).shape == (50, 70, 3)  # larger than the image: upscaled
    with pytest.raises(ValueError, match="no images"):
        PatchSampler([], "BGR")


def _cfg(prob):
    return synthetic_mapper_cfg(["INPUT.OCCLUDERS.PROB", prob])


def test_mapper_pastes_on_source_images_only(synthetic_root):
    on, off = (OccPoseDatasetMapper(_cfg(p), is_train=True) for p in (1.0, 0.0))
    on.augmentations.augs, off.augmentations.augs = [], []  # no random resize / flip / blur
    src = [d for d in DatasetCatalog.get("synth_pe_train")
           if any(a.get("fully_visible") for a in d["annotations"])]
    changed = 0
    for d in src:
        np.random.seed(0)
        a, b = on(dict(d)), off(dict(d))
        changed += int(not torch.equal(a["image"], b["image"]))
        # pixels change only where some label changed too: masks lost what the patch covers
        assert (a["instances"].gt_masks.tensor <= b["instances"].gt_masks.tensor).all()
        assert (a["instances"].gt_keypoints.tensor[..., 2]
                <= b["instances"].gt_keypoints.tensor[..., 2]).all()
    assert changed == len(src)
    tgt = next(d for d in DatasetCatalog.get("synth_pd_train") if d["annotations"])
    assert torch.equal(on(dict(tgt))["image"], off(dict(tgt))["image"])


def test_config_checks():
    cfg = _cfg(1.5)
    with pytest.raises(ValueError, match="INPUT.OCCLUDERS.PROB"):
        validate_occpose_config(cfg)
    cfg = _cfg(0.5)
    cfg.INPUT.MASK_FORMAT = "polygon"
    with pytest.raises(ValueError, match="INPUT.MASK_FORMAT"):
        validate_occpose_config(cfg)
