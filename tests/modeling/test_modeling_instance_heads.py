"""Sub-heads of OccPoseRCNN on hand-built inputs: GRL, Mask and Predict, pose loss/decoding."""

import math

import numpy as np
import pytest
import torch
from common import get_tiny_cfg, make_inputs
from detectron2.layers import ShapeSpec
from detectron2.structures import Boxes, Instances, Keypoints
from detectron2.utils.events import EventStorage

from occpose_d2.keypoints import KEYPOINT_OKS_SIGMAS
from occpose_d2.modeling import (
    MaskAndPredict,
    OccPoseInstanceHeads,
    build_seg_head,
    crop_to_inner_boxes,
    decode_expected_oks,
    decode_heatmaps,
    expected_oks,
    gaussian_heatmaps,
    grad_reverse,
    keypoints_on_mask,
    pairwise_oks,
    pose_loss,
    pose_nms,
    pose_supervised,
    random_block_keep,
    scale_boxes,
    seg_loss,
    visible_areas,
)

SHAPES = {f"p{k}": ShapeSpec(channels=16, stride=2**k) for k in range(2, 7)}


def _heads_and_batch(seed: int = 0):
    """Instance heads of the tiny config in training mode, F_raw and training Instances for a
    "pe" image (persons: fully visible, partially visible) and a "pd" image (two persons)."""
    torch.manual_seed(seed)
    heads = OccPoseInstanceHeads(get_tiny_cfg(), SHAPES).train()
    instances = []
    for x in make_inputs(("pe", "pd")):
        inst = x["instances"]
        inst.proposal_boxes = inst.gt_boxes.clone()
        instances.append(inst)
    feats = torch.randn(4, 16, 7, 7)
    return heads, feats, instances, ["pe", "pd"]


def test_grad_reverse_is_identity_forward_and_negated_backward():
    x = torch.randn(3, 4, requires_grad=True)
    y = grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    assert torch.allclose(x.grad, -0.7 * torch.arange(4.0).expand(3, 4))


def test_domain_loss_pushes_common_encoder_against_the_classifier():
    heads, feats, instances, domains = _heads_and_batch()
    encoder_params = list(heads.common_encoder.parameters())
    classifier_params = list(heads.domain_head.parameters())

    def grads(lambd):
        heads.zero_grad()
        heads.grl.lambd = lambd
        with EventStorage():
            loss = heads(feats, instances, domains)["loss_domain"]
        loss.backward()
        return loss.item(), [p.grad.clone() for p in encoder_params], \
            [p.grad.clone() for p in classifier_params]

    loss, enc_rev, cls_rev = grads(1.0)  # through the GRL
    _, enc_plain, cls_plain = grads(-1.0)  # -(-1) = plain backprop through C
    assert any(g.abs().sum() > 0 for g in enc_rev)
    for a, b in zip(enc_rev, enc_plain):
        assert torch.allclose(a, -b, atol=1e-7)
    for a, b in zip(cls_rev, cls_plain):  # C itself still learns to classify
        assert torch.allclose(a, b)
    # A gradient-descent step of E_C on the reversed gradient raises C's loss.
    heads.grl.lambd = 1.0
    with torch.no_grad():
        for p, g in zip(encoder_params, enc_rev):
            p -= 0.05 * g
    with EventStorage():
        after = heads(feats, instances, domains)["loss_domain"].item()
    assert after > loss


def _disc_maps(n=6, side=28):
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    maps = []
    for r in range(n):
        rad = 6 + r
        maps.append((((xx - 14) ** 2 + (yy - 14) ** 2) <= rad**2).astype(np.float32) * 0.9)
    return torch.from_numpy(np.stack(maps))


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.7])
def test_random_block_keep_removes_the_ratio_of_foreground(ratio):
    maps = _disc_maps()
    keep = random_block_keep(maps, ratio, 0.25, torch.Generator().manual_seed(1))
    fg = maps >= 0.5
    for r in range(len(maps)):
        removed = (fg[r] & ~keep[r]).sum().item() / fg[r].sum().item()
        assert abs(removed - ratio) <= 0.01
    # Removed cells come in blocks: most removed cells have a removed 4-neighbour.
    gone = ~keep[0]
    neighbours = gone[1:, :] & gone[:-1, :]
    assert neighbours.sum() > 0.5 * gone.sum()


def test_random_block_keep_zero_ratio_and_seeding():
    maps = _disc_maps()
    assert random_block_keep(maps, 0.0, 0.25).all()
    a = random_block_keep(maps, 0.4, 0.25, torch.Generator().manual_seed(3))
    b = random_block_keep(maps, 0.4, 0.25, torch.Generator().manual_seed(3))
    c = random_block_keep(maps, 0.4, 0.25, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="ratio"):
        random_block_keep(maps, 1.5, 0.25)


def test_mask_and_predict_zeroes_removed_cells():
    mp = MaskAndPredict(block_size=0.25)
    maps = _disc_maps()[:, None]
    out = mp(maps, 0.5, torch.Generator().manual_seed(0))
    kept = out > 0
    assert torch.equal(out[kept], maps[kept])
    assert abs(kept.sum().item() / (maps > 0).sum().item() - 0.5) < 0.01


def test_pose_loss_mse_equals_hand_computed_value():
    box = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    kps = torch.zeros(1, 13, 3)
    kps[0, 0] = torch.tensor([1.5, 2.5, 2.0])  # the only labeled joint
    kps[0, 1] = torch.tensor([9.0, 1.0, 2.0])  # outside the box: ignored
    sigma = 1.0
    centers = np.arange(4) + 0.5
    gx = np.exp(-((centers - 1.5) ** 2) / 2)
    gy = np.exp(-((centers - 2.5) ** 2) / 2)
    # zero prediction: sum of squared targets over the Gaussian's energy pi * sigma^2
    expected = (np.outer(gy, gx) ** 2).sum() / (math.pi * sigma**2)
    loss = pose_loss(torch.zeros(1, 13, 4, 4), kps, box, "mse", sigma)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    target, valid = gaussian_heatmaps(kps, box, 4, sigma)
    assert valid[0].tolist() == [True] + [False] * 12
    assert pose_loss(target, kps, box, "mse", sigma).item() == pytest.approx(0.0, abs=1e-12)
    ce = pose_loss(torch.zeros(1, 13, 4, 4), kps, box, "softmax_ce", sigma)
    assert ce.item() == pytest.approx(math.log(16), rel=1e-6)


def test_pose_loss_without_valid_joints_is_zero_and_keeps_graph():
    h = torch.randn(2, 13, 8, 8, requires_grad=True)
    for kind in ("mse", "softmax_ce"):
        loss = pose_loss(h, torch.zeros(2, 13, 3), torch.tensor([[0, 0, 8, 8.0]] * 2), kind, 2.0)
        assert loss.item() == 0.0
        loss.backward()
        assert h.grad is not None


def test_decode_heatmaps_recovers_gaussian_peaks():
    boxes = torch.tensor([[10.0, 20.0, 38.0, 76.0]])
    kps = torch.tensor([[[15.0 + 1.5 * k, 25.0 + 3.5 * k, 2.0] for k in range(13)]])
    target, _ = gaussian_heatmaps(kps, boxes, 28, 1.5)
    decoded = decode_heatmaps(target, boxes, "mse")
    assert decoded.shape == (1, 13, 3)
    assert torch.allclose(decoded[..., :2], kps[..., :2], atol=1.0)
    assert (decoded[..., 2] > 0.9).all()


def test_keypoints_on_mask():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    probs = torch.zeros(1, 2, 2)
    probs[0, 0, 0] = 0.9  # top-left quarter of the box is visible
    kps = torch.tensor([[[2.0, 2.0, 1.0], [8.0, 2.0, 1.0], [2.0, 12.0, 1.0]]])
    assert keypoints_on_mask(kps, boxes, probs).tolist() == [[True, False, False]]


def test_pose_supervision_selects_fully_visible_source_instances():
    pe, pd = (x["instances"] for x in make_inputs(("pe", "pd")))
    for inst in (pe, pd):
        inst.proposal_boxes = inst.gt_boxes
    assert pose_supervised(pe, "pe", "fully_visible").tolist() == [True, False]
    assert pose_supervised(pe, "pe", "labeled").tolist() == [True, True]
    pd.gt_keypoints = pe.gt_keypoints
    assert pose_supervised(pd, "pd", "labeled").tolist() == [False, False]
    # the oracle: every labeled target person, the partially visible one included
    for supervise in ("fully_visible", "labeled"):
        assert pose_supervised(pd, "pd", supervise, True).tolist() == [True, True]
    assert pose_supervised(pe, "pe", "fully_visible", True).tolist() == [True, False]
    pe.remove("gt_fully_visible")  # derived from v == 2 when the field is missing
    assert pose_supervised(pe, "pe", "fully_visible").tolist() == [True, False]
    # source persons pasted into a target image (INPUT.PERSON_PASTE): only they, when labeled
    pd.gt_pasted = torch.tensor([False, True])
    assert pose_supervised(pd, "pd", "fully_visible").tolist() == [False, True]
    pd.gt_keypoints = Keypoints(pd.gt_keypoints.tensor.clone())
    pd.gt_keypoints.tensor[1, :, 2] = 0
    assert pose_supervised(pd, "pd", "labeled").tolist() == [False, False]


def test_pose_loss_ignores_target_and_partially_visible_instances():
    heads, feats, instances, domains = _heads_and_batch()
    pe, pd = instances
    pd.gt_keypoints = Keypoints(torch.rand(2, 13, 3) * 50)

    def loss_pose():
        with EventStorage():
            return heads(feats, instances, domains)["loss_pose"].item()

    base = loss_pose()
    pe.gt_keypoints.tensor[1, :, :2] += 7.0  # the partially visible person
    pd.gt_keypoints.tensor[:, :, :2] += 7.0  # target persons
    assert loss_pose() == base
    pe.gt_keypoints.tensor[0, :, :2] += 7.0  # the fully visible source person
    assert loss_pose() != base


def test_oracle_switch_gives_pose_loss_on_target_instances():
    heads, feats, instances, domains = _heads_and_batch()
    pe, pd = instances
    pd.gt_keypoints = Keypoints(torch.rand(2, 13, 3) * 50)
    pd.gt_keypoints.tensor[:, :, 2] = 1.0  # every target joint occluded (v = 1) but labeled

    def loss_pose():
        with EventStorage():
            return heads(feats, instances, domains)["loss_pose"].item()

    heads.supervise_target = True
    base = loss_pose()
    pd.gt_keypoints.tensor[1, :, :2] += 7.0
    assert loss_pose() != base
    heads.supervise_target = False
    off = loss_pose()
    pd.gt_keypoints.tensor[1, :, :2] -= 7.0
    assert loss_pose() == off


def test_pasted_target_persons_give_pose_loss_the_others_none():
    heads, feats, instances, domains = _heads_and_batch()
    pd = instances[1]
    pd.gt_keypoints = Keypoints(torch.rand(2, 13, 3) * 50)
    pd.gt_keypoints.tensor[:, :, 2] = 2.0
    pd.gt_pasted = torch.tensor([False, True])

    def loss_pose():
        with EventStorage():
            return heads(feats, instances, domains)["loss_pose"].item()

    base = loss_pose()
    pd.gt_keypoints.tensor[0, :, :2] += 7.0  # a target person of the image: no pose loss
    assert loss_pose() == base
    pd.gt_keypoints.tensor[1, :, :2] += 7.0  # the pasted source person
    assert loss_pose() != base


def test_instance_heads_inference_fields():
    heads, feats, instances, _ = _heads_and_batch()
    heads.eval()
    preds = []
    for inst in instances:
        p = Instances(inst.image_size)
        p.pred_boxes = Boxes(inst.gt_boxes.tensor.clone())
        preds.append(p)
    with torch.no_grad():
        out = heads(feats, preds)
    for p in out:
        assert p.pred_masks.shape == (2, 1, 14, 14)
        assert p.pred_keypoints.shape == (2, 13, 3)
        assert p.pred_keypoint_heatmaps.shape == (2, 13, 28, 28)
        assert p.pred_keypoint_visible.shape == (2, 13)
        assert p.pred_keypoint_visible.dtype == torch.bool


def _two_cell_heatmaps(side: int = 4) -> torch.Tensor:
    """``1 x 13 x side x side`` logits: half the mass on cell (row 1, col 1), half on (1, 3)."""
    maps = torch.full((1, 13, side, side), -1e4, dtype=torch.float64)
    maps[:, :, 1, 1] = 0.0
    maps[:, :, 1, 3] = 0.0
    return maps


def test_expected_oks_of_a_two_cell_distribution():
    maps = _two_cell_heatmaps()
    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0]], dtype=torch.float64)  # 1 px cells
    keypoints = torch.tensor([1.5, 1.5], dtype=torch.float64).expand(1, 13, 2)  # cell (1, 1)
    area = torch.tensor([4.0], dtype=torch.float64)
    # half the mass on the joint (similarity 1), half 2 px away
    var = (2 * torch.tensor(KEYPOINT_OKS_SIGMAS, dtype=torch.float64)) ** 2
    expected = (0.5 + 0.5 * torch.exp(-(2.0 ** 2) / (2 * 4.0 * var))).mean()
    assert torch.allclose(expected_oks(maps, boxes, keypoints, area), expected[None])
    # scale-free: every length x 3, the area x 9
    assert torch.allclose(expected_oks(maps, boxes * 3, keypoints * 3, area * 9), expected[None])
    # a larger person tolerates the same spread better
    assert expected_oks(maps, boxes, keypoints, area * 4) > expected
    # a peaked map on the joint: about 1
    peaked = maps.clone()
    peaked[:, :, 1, 3] = -1e4
    assert torch.allclose(expected_oks(peaked, boxes, keypoints, area),
                          torch.ones(1, dtype=torch.float64))


def test_pairwise_oks_of_shifted_poses():
    base = torch.rand(1, 13, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    poses = torch.cat([base * 50, base * 50 + torch.tensor([3.0, 4.0], dtype=torch.float64)])
    areas = torch.tensor([400.0, 1600.0], dtype=torch.float64)
    oks = pairwise_oks(poses, areas)
    var = (2 * torch.tensor(KEYPOINT_OKS_SIGMAS, dtype=torch.float64)) ** 2
    # every joint 5 px away; each row uses its own (the reference's) area
    for i, area in enumerate((400.0, 1600.0)):
        assert torch.isclose(oks[i, 1 - i], torch.exp(-25.0 / (2 * area * var)).mean())
    assert torch.allclose(oks.diagonal(), torch.ones(2, dtype=torch.float64))
    assert oks[1, 0] > oks[0, 1]  # the larger person tolerates the same shift better
    assert pairwise_oks(torch.zeros(0, 13, 3), torch.zeros(0)).shape == (0, 0)


def test_pose_nms_drops_near_duplicates_of_higher_scored_poses_only():
    pose = torch.rand(1, 13, 2, generator=torch.Generator().manual_seed(1)) * 40
    # a pose, its 1-px copy (scored lower), another person's pose in an overlapping box (x + 15,
    # scored lower still), and the 1-px copy scored above the original
    poses = torch.cat([pose, pose + 1, pose + torch.tensor([15.0, 0.0]), pose + 1])
    areas = torch.full((4,), 1600.0)
    keep = pose_nms(poses, torch.tensor([0.9, 0.8, 0.7, 0.95]), areas, 0.9)
    assert keep.tolist() == [False, False, True, True]
    # equal scores: the earlier pose stays
    keep = pose_nms(poses[:2], torch.tensor([0.5, 0.5]), areas[:2], 0.9)
    assert keep.tolist() == [True, False]
    # a threshold of 1 keeps every pose that is not an exact copy
    assert pose_nms(poses, torch.rand(4), areas, 1.0).all()
    assert pose_nms(torch.zeros(0, 13, 3), torch.zeros(0), torch.zeros(0), 0.9).shape == (0,)


def _blob_heatmaps(side: int, cells, masses) -> torch.Tensor:
    """``1 x 13 x side x side`` logits whose softmax puts ``masses`` on the (row, col) ``cells``
    (and next to nothing elsewhere)."""
    maps = torch.full((1, 13, side, side), -1e4, dtype=torch.float64)
    for (row, col), mass in zip(cells, masses):
        maps[:, :, row, col] = math.log(mass)
    return maps


def test_expected_oks_decoding_of_one_peak_is_the_peak():
    maps = _blob_heatmaps(16, [(5, 9)], [1.0])
    boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0]], dtype=torch.float64)
    got = decode_expected_oks(maps, boxes, torch.tensor([100.0], dtype=torch.float64))
    peak = decode_heatmaps(maps, boxes, "softmax_ce")
    torch.testing.assert_close(got[..., :2], peak[..., :2], atol=1 / 16, rtol=0)
    torch.testing.assert_close(got[..., 2], peak[..., 2])  # joint scores do not change


def test_expected_oks_decoding_moves_towards_the_probability_mass():
    # 0.4 on cell column 4, 0.3 each on columns 9 and 10 (row 8): the peak is column 4, but most
    # of the mass lies 5-6 px to the right
    maps = _blob_heatmaps(16, [(8, 4), (8, 9), (8, 10)], [0.4, 0.3, 0.3])
    boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0]], dtype=torch.float64)  # 1 px cells

    def column(area):
        return decode_expected_oks(maps, boxes, torch.tensor([area], dtype=torch.float64))[0, :, 0]

    peak = decode_heatmaps(maps, boxes, "softmax_ce")[0, :, 0]
    assert torch.allclose(peak, torch.full((13,), 4.5, dtype=torch.float64), atol=0.1)
    # a tiny person tolerates no spread: the single most likely cell
    assert torch.allclose(column(4.0), peak, atol=0.1)
    # a huge one tolerates any: the kernel is flat, and the best place the mean of the mass
    mean = torch.full((13,), 0.4 * 4.5 + 0.3 * 9.5 + 0.3 * 10.5, dtype=torch.float64)
    assert torch.allclose(column(1e6), mean, atol=0.1)
    # the rows do not move
    rows = decode_expected_oks(maps, boxes, torch.tensor([400.0], dtype=torch.float64))[0, :, 1]
    assert torch.allclose(rows, torch.full((13,), 8.5, dtype=torch.float64), atol=0.1)


def test_visible_areas_count_mask_cells_at_least_half():
    probs = torch.zeros(2, 4, 4)
    probs[0, :2] = 0.5  # 8 cells
    probs[1, 0, 0] = 0.49
    boxes = torch.tensor([[0.0, 0.0, 8.0, 4.0], [10.0, 10.0, 14.0, 14.0]])  # cells of 2 and 1 px^2
    assert torch.equal(visible_areas(probs, boxes), torch.tensor([16.0, 0.0]))


@pytest.mark.parametrize("rescore,rescore_by", [(False, "joint_score"), (True, "joint_score"),
                                                (True, "expected_oks")])
def test_pose_rescoring_multiplies_box_scores_by_pose_quality(rescore, rescore_by):
    heads, feats, instances, _ = _heads_and_batch()
    heads.rescore = rescore
    heads.rescore_by = rescore_by
    heads.eval()
    box_scores = torch.tensor([0.9, 0.5])
    preds = []
    for inst in instances:
        p = Instances(inst.image_size)
        p.pred_boxes = Boxes(inst.gt_boxes.tensor.clone())
        p.scores = box_scores.clone()
        preds.append(p)
    with torch.no_grad():
        out = heads(feats, preds)
    for p in out:
        boxes = p.pred_boxes.tensor
        if rescore_by == "joint_score":
            quality = p.pred_keypoints[:, :, 2].mean(dim=1)
        else:
            quality = expected_oks(p.pred_keypoint_heatmaps, boxes, p.pred_keypoints,
                                   visible_areas(p.pred_masks[:, 0], boxes))
        assert (quality > 0).all() and (quality < 1).all()
        expected = box_scores * quality if rescore else box_scores
        assert torch.allclose(p.scores, expected)


def test_unknown_rescore_by_or_decoder_is_refused():
    with pytest.raises(ValueError, match="rescore_by"):
        OccPoseInstanceHeads(get_tiny_cfg(), SHAPES, rescore_by="oks")
    with pytest.raises(ValueError, match="decode"):
        OccPoseInstanceHeads(get_tiny_cfg(), SHAPES, decode="mean")


@pytest.mark.parametrize("decode", ["peak", "expected_oks"])
def test_predict_places_joints_with_the_chosen_decoder(decode):
    heads, feats, instances, _ = _heads_and_batch()
    heads.decode = decode
    heads.eval()
    boxes = torch.cat([inst.gt_boxes.tensor for inst in instances])
    with torch.no_grad():
        probs, heatmaps, keypoints, _ = heads.predict(feats, boxes)
    if decode == "peak":
        expected = decode_heatmaps(heatmaps, boxes, heads.pose_head.loss_type)
    else:
        expected = decode_expected_oks(heatmaps, boxes, visible_areas(probs[:, 0], boxes))
    assert torch.equal(keypoints, expected)


def test_scale_boxes_grows_about_the_centre():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert scale_boxes(boxes, 1.0) is boxes
    assert torch.equal(scale_boxes(boxes, 1.5), torch.tensor([[5.0, 10.0, 35.0, 70.0]]))


def test_crop_to_inner_boxes_resamples_the_central_part():
    side, scale = 20, 2.0
    ramp = torch.arange(side, dtype=torch.float32) + 0.5  # value = cell-centre coordinate
    maps = ramp.expand(side, side)[None, None].repeat(3, 1, 1, 1)  # varies along x
    out = crop_to_inner_boxes(maps, scale)
    lo = side * (1 - 1 / scale) / 2
    expected = lo + (torch.arange(side) + 0.5) * (side - 2 * lo) / side
    assert out.shape == maps.shape
    assert torch.allclose(out[:, 0], expected.expand(3, side, side), atol=1e-5)
    assert crop_to_inner_boxes(maps, 1.0) is maps


def test_roi_scale_pools_the_grown_boxes():
    heads, _, instances, _ = _heads_and_batch()
    feats = {f"p{k}": torch.randn(2, 16, 128 // 2**k, 128 // 2**k) for k in range(2, 7)}
    boxes = [inst.gt_boxes for inst in instances]
    grown = [Boxes(scale_boxes(b.tensor, 1.25)) for b in boxes]
    plain = heads.pool(feats, grown)
    heads.roi_scale = 1.25
    assert torch.allclose(heads.pool(feats, boxes), plain)


def test_decode_heatmaps_agrees_with_d2_and_survives_non_finite_maps():
    """Same interpolant as D2's per-box bicubic resize, searched on a 1/16-cell grid instead of
    the box's pixels: single-peak maps decode within D2's pixel rounding of its answer."""
    from detectron2.structures import heatmaps_to_keypoints

    from occpose_d2.modeling import decode_heatmaps

    g = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[0.0, 0.0, 40.0, 90.0], [10.0, 5.0, 33.5, 70.2], [50, 50, 90, 130.0]])
    wh = boxes[:, 2:] - boxes[:, :2]
    kps = torch.cat([boxes[:, None, :2] + (0.05 + 0.9 * torch.rand(3, 13, 2, generator=g))
                     * wh[:, None], torch.full((3, 13, 1), 2.0)], dim=2)
    maps, _ = gaussian_heatmaps(kps, boxes, 28, 2.0)
    maps = maps + 0.02 * torch.randn(maps.shape, generator=g)
    for loss_type, col in (("mse", 2), ("softmax_ce", 3)):
        ours = decode_heatmaps(maps, boxes, loss_type)
        d2 = heatmaps_to_keypoints(maps, boxes)
        assert (ours[..., :2] - d2[..., :2]).abs().max() <= 0.75
        torch.testing.assert_close(ours[..., 2], d2[..., col], atol=0.05, rtol=0.0)
    maps[0, 0] = float("nan")
    maps[1, 2, 3, 4] = float("inf")
    decoded = decode_heatmaps(maps, boxes, "softmax_ce")
    assert torch.isfinite(decoded).all()
    assert decode_heatmaps(maps[:0], boxes[:0], "mse").shape == (0, 13, 3)


@pytest.mark.parametrize("num_conv", [1, 3])
def test_seg_head_depth_and_that_it_fits_a_mask(num_conv):
    """SEG_HEAD.NUM_CONV 3x3 convs before the deconv: 2P x 2P logits, the one-conv head's
    parameter names kept, and a few Adam steps fit a fixed target mask."""
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.SEG_HEAD.NUM_CONV = num_conv
    torch.manual_seed(0)
    head = build_seg_head(cfg, ShapeSpec(channels=16, height=7, width=7))
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)
             and not isinstance(m, torch.nn.ConvTranspose2d) and m.kernel_size == (3, 3)]
    assert len(convs) == num_conv
    assert {"conv.weight", "deconv.weight", "predictor.weight"} <= set(head.state_dict())
    x = torch.randn(2, 16, 7, 7)
    target = torch.zeros(2, 14, 14)
    target[:, 3:11, 5:9] = 1.0
    assert head(x).shape == (2, 1, 14, 14)
    opt = torch.optim.Adam(head.parameters(), lr=0.01)
    first = None
    for _ in range(60):
        loss = seg_loss(head(x), target)
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.2 * first


def test_seg_head_depth_below_one_is_refused():
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.SEG_HEAD.NUM_CONV = 0
    with pytest.raises(ValueError, match="num_conv"):
        build_seg_head(cfg, ShapeSpec(channels=16, height=7, width=7))
