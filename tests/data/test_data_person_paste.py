"""Cross-domain person paste: where a pasted person goes, what it covers, the labels it brings
(and those it changes on nobody else), the bank of source persons and the mapper switch (target
images only, off by default)."""

import numpy as np
import pytest
import torch
from common import pasted_pairs, synthetic_mapper_cfg
from detectron2.data import DatasetCatalog
from detectron2.structures import BitMasks, Boxes, BoxMode, Instances

from occpose_d2 import validate_occpose_config
from occpose_d2.data import OccPoseDatasetMapper
from occpose_d2.data.person_paste import (
    SourcePerson,
    SourcePersonBank,
    paste_source_persons,
    restyle_to_anchor,
)
from occpose_d2.data.target_style import lab_stats, to_lab
from occpose_d2.keypoints import NUM_KEYPOINTS, flip_indices

H, W = 60, 120
TARGET_BOX = (50.0, 10.0, 70.0, 50.0)  # one 20 x 40 px target person in the middle


def _pixel_under(mask: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
    """``mask`` (H, W) bool at each joint of ``kp`` (..., K, 3; x, y in pixels, clamped into
    the image): whether the pixel under the joint is set (shape ``kp.shape[:-1]``)."""
    h, w = mask.shape
    return mask[kp[..., 1].long().clamp(0, h - 1), kp[..., 0].long().clamp(0, w - 1)]


def _target(box=TARGET_BOX):
    """A target image's Instances: one person whose visible mask fills its box."""
    inst = Instances((H, W))
    inst.gt_boxes = Boxes(torch.tensor([box]))
    inst.gt_classes = torch.zeros(1, dtype=torch.int64)
    mask = torch.zeros(1, H, W, dtype=torch.bool)
    x0, y0, x1, y1 = (int(v) for v in box)
    mask[0, y0:y1, x0:x1] = True
    inst.gt_masks = BitMasks(mask)
    inst.gt_vis_boxes = Boxes(torch.tensor([box]))
    return inst


def _source_person(value=200):
    """A 10 x 20 px source person of one grey level, filling its box; joints down its middle
    column (x = 5), left of it for even joints, all visible."""
    kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    kp[:, 0] = np.where(np.arange(NUM_KEYPOINTS) % 2 == 0, 3.0, 7.0)
    kp[:, 1] = np.linspace(1, 19, NUM_KEYPOINTS)
    kp[:, 2] = 2
    return SourcePerson(np.full((20, 10, 3), value, np.uint8), np.ones((20, 10), bool), kp)


def _paste(target, max_persons=1, min_visible=0.2, seed=0, value=200):
    image = np.zeros((H, W, 3), np.uint8)
    out = paste_source_persons(image, target, max_persons, min_visible,
                               lambda rng: _source_person(value), np.random.RandomState(seed))
    return image, out


def test_mirrored_person_swaps_sides_and_flips_x():
    person = _source_person()
    person.image[:, :5] = 10  # left half darker
    m = person.mirrored()
    assert (m.image[:, 5:] == 10).all() and (m.image[:, :5] == 200).all()
    np.testing.assert_allclose(m.keypoints[:, 0], 10 - person.keypoints[flip_indices(), 0])
    back = m.mirrored()
    np.testing.assert_array_equal(back.keypoints, person.keypoints)
    np.testing.assert_array_equal(back.image, person.image)


@pytest.mark.parametrize("seed", range(8))
def test_pasted_person_goes_behind_the_target_person_with_its_labels(seed):
    target = _target()
    image, out = _paste(target, seed=seed)
    assert len(out) == 2
    assert out.gt_pasted.tolist() == [False, True]
    # the target person keeps its box and mask, and gets no pose label
    assert torch.equal(out.gt_boxes.tensor[0], target.gt_boxes.tensor[0])
    assert torch.equal(out.gt_masks.tensor[0], target.gt_masks.tensor[0])
    assert (out.gt_keypoints.tensor[0, :, 2] == 0).all()
    # the pasted pixels are exactly the pasted person's visible mask, never over the target's
    painted = torch.from_numpy((image == 200).all(axis=2))
    assert torch.equal(out.gt_masks.tensor[1], painted)
    assert painted.any() and not (painted & target.gt_masks.tensor[0]).any()
    ys, xs = torch.nonzero(painted, as_tuple=True)
    assert out.gt_vis_boxes.tensor[1].tolist() == [xs.min().item(), ys.min().item(),
                                                   xs.max().item() + 1, ys.max().item() + 1]
    # the full-body box holds the visible one, inside the image; height 0.85-1.15 x the anchor's
    x0, y0, x1, y1 = out.gt_boxes.tensor[1].tolist()
    vx0, vy0, vx1, vy1 = out.gt_vis_boxes.tensor[1].tolist()
    assert 0 <= x0 <= vx0 and 0 <= y0 <= vy0 and vx1 <= x1 <= W and vy1 <= y1 <= H
    # joints: behind the target person -> occluded-but-labeled, outside the image -> unlabeled
    kp = out.gt_keypoints.tensor[1]
    inside = (kp[:, 0] >= 0) & (kp[:, 0] <= W) & (kp[:, 1] >= 0) & (kp[:, 1] <= H)
    behind = _pixel_under(target.gt_masks.tensor[0], kp)
    expected = torch.where(~inside, 0.0, torch.where(behind, 1.0, 2.0))
    assert torch.equal(kp[:, 2], expected)


def test_pasted_person_stands_beside_the_anchor_at_its_size():
    heights, offsets = [], []
    for seed in range(30):
        _, out = _paste(_target(), min_visible=0.0, seed=seed)
        kp = out.gt_keypoints.tensor[1]
        # the source person's joints span 18 of its 20 px: its scaled height from its joints
        heights.append(float(kp[:, 1].max() - kp[:, 1].min()) * 20 / 18)
        offsets.append(abs(float(kp[:, 0].mean()) - 60.0) / 20.0)  # anchor centre x 60, w 20
    assert 0.85 * 40 - 1 <= min(heights) and max(heights) <= 1.15 * 40 + 1
    assert 0.3 - 0.05 <= min(offsets) and max(offsets) <= 1.2 + 0.05


def test_nothing_is_pasted_where_everything_is_covered():
    target = _target(box=(0.0, 0.0, float(W), float(H)))  # a person covering the image
    image, out = _paste(target, max_persons=3, min_visible=0.01)
    assert out is target and not out.has("gt_pasted")
    assert not image.any()


def test_an_image_without_persons_gets_pasted_persons():
    empty = Instances((H, W))
    empty.gt_boxes = Boxes(torch.zeros((0, 4)))
    empty.gt_classes = torch.zeros(0, dtype=torch.int64)
    empty.gt_vis_boxes = Boxes(torch.zeros((0, 4)))  # as the mapper gives it: no gt_masks
    image, out = _paste(empty, max_persons=2, seed=1)
    assert len(out) >= 1 and out.gt_pasted.all()
    assert torch.equal(out.gt_masks.tensor.any(dim=0), torch.from_numpy((image == 200).all(2)))
    # 0.4-0.8 of the image's height tall, feet in its lowest fifth (before clipping)
    kp = out.gt_keypoints.tensor[0]
    assert 0.4 * H - 1 <= float(kp[:, 1].max() - kp[:, 1].min()) * 20 / 18 <= 0.8 * H + 1


def test_later_persons_go_behind_earlier_ones():
    for seed in range(10):
        image = np.zeros((H, W, 3), np.uint8)
        levels_left = [100, 200, 250]
        out = paste_source_persons(image, _target(), 3, 0.0,
                                   lambda rng, left=levels_left: _source_person(left.pop()),
                                   np.random.RandomState(seed))
        masks = out.gt_masks.tensor
        # visible masks never overlap, and each is painted with one person's grey level
        assert (masks.sum(dim=0) <= 1).all()
        levels = [set(torch.from_numpy(image[..., 0])[m].tolist()) for m in masks[1:]]
        assert all(len(v) == 1 for v in levels) and len(set.union(*levels)) == len(levels)


def test_the_oracle_keeps_its_target_keypoints():
    target = _target()
    labels = torch.rand(1, NUM_KEYPOINTS, 3) * 10
    labels[..., 2] = 2
    from detectron2.structures import Keypoints

    target.gt_keypoints = Keypoints(labels.clone())
    _, out = _paste(target)
    assert torch.equal(out.gt_keypoints.tensor[0], labels[0])


def test_bank_cuts_fully_visible_persons_at_their_boxes(synthetic_root):
    dicts = DatasetCatalog.get("synth_pe_train")
    bank = SourcePersonBank(dicts, "BGR")
    wanted = sum(bool(a.get("fully_visible")) for d in dicts for a in d["annotations"])
    assert len(bank) == wanted > 0
    record, anno = bank.persons[0]
    person = bank.cut(0)
    x0, y0, x1, y1 = BoxMode.convert(list(anno["bbox"]), anno["bbox_mode"], BoxMode.XYXY_ABS)
    assert person.image.shape[:2] == person.mask.shape
    assert abs(person.mask.shape[0] - (y1 - y0)) <= 1 and abs(person.mask.shape[1] - (x1 - x0)) <= 1
    assert person.mask.mean() > 0.3  # a silhouette, not an empty box
    kp = np.asarray(anno["keypoints"], np.float32).reshape(-1, 3)
    np.testing.assert_allclose(person.keypoints[:, :2], kp[:, :2] - np.floor([x0, y0]))
    with pytest.raises(ValueError, match="no fully visible person"):
        SourcePersonBank([dict(d, annotations=[dict(a, fully_visible=False)
                                               for a in d["annotations"]]) for d in dicts], "BGR")


def _cfg(prob):
    return synthetic_mapper_cfg(["INPUT.PERSON_PASTE.PROB", prob])


def test_mapper_pastes_into_target_images_only(synthetic_root):
    on, off = (OccPoseDatasetMapper(_cfg(p), is_train=True) for p in (1.0, 0.0))
    on.augmentations.augs, off.augmentations.augs = [], []  # no random resize / flip / blur
    pasted = 0
    for d in DatasetCatalog.get("synth_pd_train"):
        np.random.seed(0)
        a, b = on(dict(d)), off(dict(d))
        n = len(b["instances"])
        ia, ib = a["instances"], b["instances"]
        assert torch.equal(ia.gt_boxes.tensor[:n], ib.gt_boxes.tensor)
        assert torch.equal(ia.gt_masks.tensor[:n], ib.gt_masks.tensor)
        if len(ia) > n:
            pasted += 1
            # no target pose label leaks: only the pasted persons are labeled
            assert ia.gt_pasted.tolist() == [False] * n + [True] * (len(ia) - n)
            assert (ia.gt_keypoints.tensor[:n, :, 2] == 0).all()
            assert (ia.gt_keypoints.tensor[n:, :, 2] > 0).any(dim=1).all()
            # pixels change only under the pasted persons' visible masks
            changed = (a["image"] != b["image"]).any(dim=0)
            assert (changed <= ia.gt_masks.tensor[n:].any(dim=0)).all()
    assert pasted >= len(DatasetCatalog.get("synth_pd_train")) // 2
    src = DatasetCatalog.get("synth_pe_train")[0]
    np.random.seed(0)
    a = on(dict(src))
    np.random.seed(0)
    assert torch.equal(a["image"], off(dict(src))["image"])
    assert not a["instances"].has("gt_pasted")


def test_pasted_persons_get_occluders_of_their_own(synthetic_root):
    """``OCCLUDER_PROB``: a patch from a random target image over each pasted person; their
    labels follow the pixels and the image's own persons keep no pose."""
    paste = ["INPUT.PERSON_PASTE.PROB", 1.0]
    occluded = covered_joints = 0
    for a, b in pasted_pairs(paste + ["INPUT.PERSON_PASTE.OCCLUDER_PROB", 1.0], paste, 20):
        ia, ib = a["instances"], b["instances"]
        pasted = ib.gt_pasted
        assert torch.equal(ia.gt_pasted, pasted)
        assert torch.equal(ia.gt_boxes.tensor, ib.gt_boxes.tensor)
        assert (ia.gt_masks.tensor <= ib.gt_masks.tensor).all()  # masks only lose pixels
        lost = (ib.gt_masks.tensor & ~ia.gt_masks.tensor).flatten(1).any(dim=1)
        painted = (a["image"] != b["image"]).any(dim=0)  # the patches' pixels (H, W)
        assert not (ib.gt_masks.tensor & ~ia.gt_masks.tensor & ~painted).any()
        # a visible joint under a patch becomes occluded-but-labeled; no other joint changes
        kp, vb = ib.gt_keypoints.tensor, ib.gt_keypoints.tensor[..., 2]
        under = _pixel_under(painted, kp)
        expected = torch.where((vb == 2) & under, torch.ones_like(vb), vb)
        assert torch.equal(ia.gt_keypoints.tensor[..., 2], expected)
        occluded += int(lost[pasted].any())
        covered_joints += int(((vb == 2) & under)[pasted].sum())
        assert (ia.gt_keypoints.tensor[~pasted, :, 2] == 0).all()
    assert occluded >= 5  # (a patch may fall on the part hidden behind a target person)
    assert covered_joints >= 5


def test_restyle_moves_the_person_to_the_anchors_colours():
    """The re-coloured person has its anchor's Lab mean and spread (within uint8 rounding),
    keeps the contrast between its parts, and nothing outside its silhouette changes."""
    rng = np.random.RandomState(0)
    image = np.zeros((H, W, 3), np.uint8)
    anchor = np.zeros((H, W), bool)
    anchor[10:50, 50:70] = True
    image[anchor] = rng.randint(20, 90, size=(int(anchor.sum()), 3))  # dark, muted
    pixels = np.zeros((H, W, 3), np.uint8)
    silhouette = np.zeros((H, W), bool)
    silhouette[10:50, 10:20] = True
    pixels[10:30, 10:20] = (30, 200, 250)  # a bright shirt
    pixels[30:50, 10:20] = (200, 40, 40)  # and other trousers
    before = pixels.copy()
    assert restyle_to_anchor(pixels, silhouette, image, anchor, "BGR")
    assert np.array_equal(pixels[~silhouette], before[~silhouette])
    got = lab_stats(to_lab(pixels, "BGR"), silhouette)
    want = lab_stats(to_lab(image, "BGR"), anchor)
    np.testing.assert_allclose(got, want, atol=1.5)
    shirt, trousers = (to_lab(pixels, "BGR")[rows, 10:20].mean((0, 1))
                       for rows in (slice(10, 30), slice(30, 50)))
    assert np.abs(shirt - trousers).max() > 5  # the parts stay apart
    tiny = np.zeros((H, W), bool)
    tiny[0, :3] = True  # an anchor of 3 px says nothing: no change
    pixels = before.copy()
    assert not restyle_to_anchor(pixels, silhouette, image, tiny, "BGR")
    assert np.array_equal(pixels, before)


def test_style_prob_recolours_the_pasted_person_only():
    """``style_prob`` 1: the pasted person takes its anchor's grey; labels, masks and the random
    stream of placements stay those of the plain paste; 0 draws exactly as before."""
    for seed in range(6):
        target = _target()
        plain_image, plain = _paste(target, seed=seed)
        image = np.zeros((H, W, 3), np.uint8)
        image[target.gt_masks.tensor[0].numpy()] = 60  # the anchor: a dark grey person
        base = image.copy()
        out = paste_source_persons(image, target, 1, 0.2, lambda rng: _source_person(200),
                                   np.random.RandomState(seed), style_prob=1.0)
        assert torch.equal(out.gt_masks.tensor, plain.gt_masks.tensor)
        assert torch.equal(out.gt_keypoints.tensor, plain.gt_keypoints.tensor)
        mask = out.gt_masks.tensor[1].numpy()
        assert np.abs(image[mask].astype(int) - 60).max() <= 1  # the anchor's grey, not 200
        assert np.array_equal(image[~mask], base[~mask])
        np.testing.assert_array_equal(plain_image[mask], 200)


def test_mapper_restyles_pasted_persons_only(synthetic_root):
    """``STYLE_PROB`` 1 in the mapper: the same persons and labels as the plain paste (one
    person per image, so that the style's own draw comes last), pixels changed only under the
    pasted person, which then looks more like the target's persons."""
    one = ["INPUT.PERSON_PASTE.PROB", 1.0, "INPUT.PERSON_PASTE.MAX_PERSONS", 1]
    closer = compared = 0
    for a, b in pasted_pairs(one + ["INPUT.PERSON_PASTE.STYLE_PROB", 1.0], one, 12):
        ia, ib = a["instances"], b["instances"]
        for name in ("gt_boxes", "gt_masks", "gt_keypoints"):
            assert torch.equal(ia.get(name).tensor, ib.get(name).tensor)
        pasted = ib.gt_masks.tensor[ib.gt_pasted].any(dim=0)
        own = ib.gt_masks.tensor[~ib.gt_pasted].any(dim=0)
        changed = (a["image"] != b["image"]).any(dim=0)
        assert (changed <= pasted).all()
        # mean colour distance (Lab) of the pasted pixels to the target persons' pixels
        lab_a, lab_b = (to_lab(x["image"].permute(1, 2, 0).numpy(), "BGR") for x in (a, b))
        ref = lab_b[own.numpy()].mean(0)
        dist = [np.linalg.norm(lab[pasted.numpy()].mean(0) - ref) for lab in (lab_a, lab_b)]
        closer += dist[0] < dist[1]
        compared += 1
    assert compared >= 6 and closer >= compared - 1


def test_config_checks():
    for key, value, match in (("PROB", 1.5, "PERSON_PASTE.PROB"),
                              ("OCCLUDER_PROB", -0.5, "PERSON_PASTE.OCCLUDER_PROB"),
                              ("STYLE_PROB", 2.0, "PERSON_PASTE.STYLE_PROB"),
                              ("MIN_VISIBLE", -0.1, "PERSON_PASTE.MIN_VISIBLE"),
                              ("MAX_PERSONS", 0, "PERSON_PASTE.MAX_PERSONS")):
        cfg = _cfg(0.5)
        cfg.INPUT.PERSON_PASTE[key] = value
        with pytest.raises(ValueError, match=match):
            validate_occpose_config(cfg)
    cfg = _cfg(0.5)
    cfg.INPUT.MASK_FORMAT = "polygon"
    with pytest.raises(ValueError, match="INPUT.MASK_FORMAT"):
        validate_occpose_config(cfg)
    cfg = _cfg(0.5)
    cfg.INPUT.PERSON_PASTE.STYLE_PROB = 0.5
    cfg.INPUT.FORMAT = "L"
    with pytest.raises(ValueError, match="INPUT.FORMAT"):
        validate_occpose_config(cfg)
