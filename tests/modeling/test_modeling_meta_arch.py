"""OccPoseRCNN end to end on tiny CPU inputs: losses, outputs, modes, device,
learning."""

import copy
import os
import re

import pytest
import torch
from common import build_tiny_model, get_tiny_cfg, make_inputs
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

import occpose_d2
from occpose_d2.keypoints import flip_indices
from occpose_d2.modeling import OccPoseRCNN, mirror_boxes, pose_nms, visible_areas

DET_KEYS = ("loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg")
LOSS_KEYS = {f"{k}_{d}" for k in DET_KEYS for d in ("pe", "pd")} | {
    "loss_seg", "loss_domain", "loss_pose"}


@pytest.fixture(scope="module")
def model():
    return build_tiny_model()


def _train_step(model, inputs):
    model.train()
    model.zero_grad()
    with EventStorage() as storage:
        losses = model(inputs)
        sum(losses.values()).backward()
    return losses, storage


def test_training_losses_and_scalars(model):
    losses, storage = _train_step(model, make_inputs(("pe", "pd", "pe")))
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_pose"] > 0 and losses["loss_seg"] > 0 and losses["loss_domain"] > 0
    latest = storage.latest()
    assert 0 <= latest["occpose/domain_acc_pe"][0] <= 1
    assert 0 <= latest["occpose/domain_acc_pd"][0] <= 1


def test_no_person_and_single_domain_batches_give_finite_zero_losses(model):
    losses, _ = _train_step(model, make_inputs(("pe", "pe"), boxes=()))
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(v) for v in losses.values())
    for k in ("loss_seg", "loss_domain", "loss_pose") + tuple(f"{k}_pd" for k in DET_KEYS):
        assert losses[k].item() == 0.0, k
    # Every trainable parameter took part (DDP without find_unused_parameters).
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


def test_inference_outputs_at_original_size(model):
    model.eval()
    inputs = make_inputs(("pd", "pe"))
    for x in inputs:
        x["height"], x["width"] = 192, 160  # the network input was resized by 1/2
    with torch.no_grad():
        outputs = model(inputs)
    assert len(outputs) == 2
    for out in outputs:
        inst = out["instances"]
        n = len(inst)
        assert inst.image_size == (192, 160) and n > 0
        assert inst.pred_boxes.tensor.shape == (n, 4) and inst.scores.shape == (n,)
        assert inst.pred_classes.shape == (n,)
        assert inst.pred_masks.shape == (n, 192, 160) and inst.pred_masks.dtype == torch.bool
        assert inst.pred_keypoints.shape == (n, 13, 3)
        assert inst.pred_keypoint_heatmaps.shape == (n, 13, 28, 28)
        assert inst.pred_keypoint_visible.shape == (n, 13)
        assert inst.pred_keypoint_visible.dtype == torch.bool
        b = inst.pred_boxes.tensor
        kp = inst.pred_keypoints
        assert ((kp[..., 0] >= b[:, None, 0] - 1) & (kp[..., 0] <= b[:, None, 2] + 1)).all()


def _given(boxes):
    inst = Instances((192, 160))
    inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    return inst


def test_given_boxes_and_seeded_test_masking_are_deterministic(model):
    model.eval()
    inputs = make_inputs(("pe", "pd", "pe"))
    for x in inputs:
        x["height"], x["width"] = 192, 160
    given = [_given([[20, 16, 80, 160], [90, 40, 150, 180]]), _given([[20, 16, 80, 160]]),
             _given([])]

    def run(**kw):
        with torch.no_grad():
            return [o["instances"] for o in model.inference(inputs, given, **kw)]

    a, b = run(mask_ratio=0.5, mask_seed=7), run(mask_ratio=0.5, mask_seed=7)
    c, plain = run(mask_ratio=0.5, mask_seed=8), run()
    assert [len(r) for r in a] == [2, 1, 0]
    for r, g in zip(a, given):  # boxes come back in original coordinates, in input order
        assert torch.allclose(r.pred_boxes.tensor, g.pred_boxes.tensor, atol=1e-3)
        assert torch.equal(r.scores, torch.ones(len(g)))
    for x, y in zip(a, b):
        assert torch.equal(x.pred_keypoint_heatmaps, y.pred_keypoint_heatmaps)
        assert torch.equal(x.pred_keypoints, y.pred_keypoints)
    assert not torch.equal(a[0].pred_keypoint_heatmaps, c[0].pred_keypoint_heatmaps)
    assert not torch.equal(a[0].pred_keypoint_heatmaps, plain[0].pred_keypoint_heatmaps)
    assert torch.equal(a[0].pred_masks, plain[0].pred_masks)  # masking hides no output mask


def test_given_visible_masks_replace_the_predicted_ones_in_the_pose_path(model):
    """``gt_masks`` on the given boxes (original frame): the pose path reads them, so the
    returned (box-frame) masks are their crops and the poses differ from those of the predicted
    masks."""
    from detectron2.structures import BitMasks

    model.eval()
    inputs = make_inputs(("pd",))
    inputs[0]["height"], inputs[0]["width"] = 192, 160
    boxes = [[20, 16, 80, 160], [90, 40, 150, 180]]
    masks = torch.zeros(2, 192, 160, dtype=torch.bool)
    masks[0, 16:88, 20:80] = True  # upper half of the first box
    masks[1, 40:180, 90:120] = True  # left half of the second
    with_masks = _given(boxes)
    with_masks.gt_masks = BitMasks(masks)
    with torch.no_grad():
        plain = model.inference(inputs, [_given(boxes)], do_postprocess=False)[0]
        given = model.inference(inputs, [with_masks], do_postprocess=False)[0]
    side = given.pred_masks.shape[-1]
    expected = BitMasks(masks).crop_and_resize(torch.tensor(boxes, dtype=torch.float32), side)
    assert torch.equal(given.pred_masks[:, 0] > 0.5, expected)
    assert not torch.equal(given.pred_keypoint_heatmaps, plain.pred_keypoint_heatmaps)


def test_device_comes_from_cfg():
    cfg = get_tiny_cfg()
    model = build_model(cfg)
    assert model.device == torch.device(cfg.MODEL.DEVICE)
    assert all(p.device == torch.device(cfg.MODEL.DEVICE) for p in model.parameters())
    root = os.path.dirname(occpose_d2.__file__)
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as f:
                    assert not re.search(r"\.cuda\(", f.read()), name


def test_shared_detectors_and_detectors_only():
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.SHARE_DETECTORS = True
    cfg.MODEL.OCCPOSE.DETECTORS_ONLY = True
    model = build_tiny_model(cfg)
    assert isinstance(model, OccPoseRCNN)
    assert model.detectors["pe"] is model.detectors["pd"]
    assert not any(p.requires_grad for p in model.instance_heads.parameters())
    losses, _ = _train_step(model, make_inputs(("pe", "pd")))
    assert set(losses) == {f"{k}_{d}" for k in DET_KEYS for d in ("pe", "pd")}


@pytest.mark.parametrize("mode", ["proposals", "gt+proposals"])
def test_train_box_modes(mode):
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.TRAIN_BOXES = mode
    cfg.MODEL.OCCPOSE.MASK_AND_PREDICT.MASK_SOURCE = "gt"
    cfg.MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE = "softmax_ce"
    losses, _ = _train_step(build_tiny_model(cfg), make_inputs(("pe", "pd")))
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(v) for v in losses.values())


def test_bad_config_and_domain_are_reported():
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.TRAIN_BOXES = "boxes"
    with pytest.raises(ValueError, match="TRAIN_BOXES"):
        build_model(cfg)
    model = build_tiny_model().eval()
    inputs = make_inputs(("pe",))
    inputs[0]["domain"] = "coco"
    with pytest.raises(ValueError, match="synthetic_pe_0.png"):
        model(inputs)
    del inputs[0]["domain"]
    model.train()
    with pytest.raises(ValueError, match="no 'domain'"), EventStorage():
        model(inputs)


def test_inputs_without_domain_use_test_domain(model):
    model = copy.deepcopy(model).eval()
    with torch.no_grad():  # the two detectors start equal: make them differ
        model.detectors["pe"].roi_heads.box_predictor.cls_score.bias.add_(1.0)
    tagged = make_inputs(("pd",))
    untagged = make_inputs(("pd",))
    del untagged[0]["domain"]
    other = make_inputs(("pd",))
    other[0]["domain"] = "pe"  # same image through the other detector
    with torch.no_grad():
        a, b, c = (model(x)[0]["instances"] for x in (tagged, untagged, other))
    assert model.test_domain == "pd"
    assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
    assert len(a) != len(c) or not torch.equal(a.scores, c.scores)


def test_sgd_steps_lower_every_loss():
    """The model can learn: 60 SGD steps on one tiny mixed batch lower every loss but the box
    heads' regression losses. D2 divides those by all sampled proposals, foreground or not, so
    they grow with the number of foreground proposals while the RPN learns to find the persons
    (loss_rpn_loc, the RPN's own box loss, is checked)."""
    model = build_tiny_model(seed=0).train()
    # C learns freely here (no reversal); test_modeling_instance_heads tests the reversal.
    model.instance_heads.grl.set_lambda(0.0)
    model.instance_heads.mask_and_predict.set_ratio(0.2)
    inputs = make_inputs(("pe", "pd"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = []
    with EventStorage() as storage:
        for step in range(60):
            storage.iter = step
            torch.manual_seed(step)  # jitter / sampling / masking vary, reproducibly
            losses = model(inputs)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
            history.append({k: v.item() for k, v in losses.items()})
    checked = [k for k in history[0] if not k.startswith("loss_box_reg")]
    assert len(checked) == len(history[0]) - 2
    for key in checked:
        last = sum(h[key] for h in history[-3:]) / 3
        first = sum(h[key] for h in history[:3]) / 3
        assert last < first, f"{key}: {first:.4f} -> {last:.4f}"


def test_two_detectors_start_equal_but_are_separate():
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.SHARE_DETECTORS = False
    model = build_tiny_model(cfg)
    pe, pd = model.detectors["pe"], model.detectors["pd"]
    assert pe is not pd
    pairs = list(zip(pe.state_dict().values(), pd.state_dict().values()))
    assert pairs and all(torch.equal(a, b) for a, b in pairs)
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(pe.parameters(), pd.parameters()))


def test_detector_tie_pulls_the_two_detectors_together():
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.SHARE_DETECTORS = False
    cfg.MODEL.OCCPOSE.DETECTOR_TIE.WEIGHT = 0.5
    model = build_tiny_model(cfg).train()
    assert model.detector_distance().item() == 0.0
    pe_w = next(model.detectors["pe"].backbone.parameters())
    pd_w = next(model.detectors["pd"].backbone.parameters())
    with torch.no_grad():
        pd_w.add_(0.1)
    expected = 0.1**2 * pd_w.numel()
    assert model.detector_distance().item() == pytest.approx(expected, rel=1e-4)
    with EventStorage():
        losses = model(make_inputs())
    assert losses["loss_detector_tie"].item() == pytest.approx(0.5 * expected, rel=1e-4)
    losses["loss_detector_tie"].backward()
    # d/d(theta_pd) of w * (theta_pd - theta_pe)^2 = 2 w (theta_pd - theta_pe) = 0.1 here.
    assert torch.allclose(pd_w.grad, torch.full_like(pd_w, 0.1), atol=1e-5)
    assert torch.allclose(pe_w.grad, torch.full_like(pe_w, -0.1), atol=1e-5)
    # The RPN and box heads are not tied by default.
    rpn = next(model.detectors["pd"].proposal_generator.parameters())
    assert rpn.grad is None or rpn.grad.abs().sum() == 0
    cfg.MODEL.OCCPOSE.SHARE_DETECTORS = True
    assert build_tiny_model(cfg).detector_tie_weight == 0.0


def test_flip_test_makes_poses_mirror_equivariant():
    """With the flip test, the poses of a mirrored image (mirrored boxes) are the mirrored poses
    of the image; without it they are not (the tiny random network is not symmetric)."""
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.POSE_HEAD.FLIP_TEST = True
    model = build_tiny_model(cfg).eval()
    size = 96  # a multiple of the size divisibility: no padding, so the flip is exact
    inputs = make_inputs(("pd",), size=(size, size))
    mirrored = [dict(inputs[0], image=inputs[0]["image"].flip(-1))]
    boxes = torch.tensor([[10.0, 8, 40, 80], [45, 20, 75, 90]])

    def poses(batch, b):
        given = Instances((size, size))
        given.pred_boxes = Boxes(b)
        with torch.no_grad():
            return model.inference(batch, [given])[0]["instances"].pred_keypoints

    def mirrored_back(kp):
        kp = kp[:, flip_indices()].clone()
        kp[..., 0] = size - kp[..., 0]
        return kp

    plain, flipped = poses(inputs, boxes), poses(mirrored, mirror_boxes(boxes, size))
    assert torch.allclose(plain, mirrored_back(flipped), atol=0.2)
    model.flip_test = False
    plain, flipped = poses(inputs, boxes), poses(mirrored, mirror_boxes(boxes, size))
    assert (plain[..., :2] - mirrored_back(flipped)[..., :2]).abs().max() > 1.0


def test_pose_nms_drops_detections_whose_pose_repeats_a_higher_scored_one(model):
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.POSE_NMS.ENABLED = True
    # the untrained model's poses are vague (OKS up to about 0.1 with one another): a low
    # threshold makes it drop some
    cfg.MODEL.OCCPOSE.POSE_NMS.OKS_THRESH = 0.05
    nms_model = build_model(cfg).eval()
    nms_model.load_state_dict(model.state_dict())
    model.eval()
    inputs = make_inputs(("pd", "pe"))
    with torch.no_grad():
        plain = model.inference(inputs, do_postprocess=False)
        found = nms_model.inference(inputs, do_postprocess=False)
    dropped = 0
    for p, f in zip(plain, found):
        keep = pose_nms(p.pred_keypoints, p.scores,
                        visible_areas(p.pred_masks[:, 0], p.pred_boxes.tensor), 0.05)
        assert torch.equal(f.pred_boxes.tensor, p.pred_boxes.tensor[keep])
        assert torch.equal(f.pred_keypoints, p.pred_keypoints[keep])
        dropped += int((~keep).sum())
        assert len(f) > 0
    assert dropped > 0
    # given boxes are all kept, however alike their poses
    box = [[20, 16, 80, 160]]
    with torch.no_grad():
        given = nms_model.inference(inputs[:1], [_given(box + box)])[0]["instances"]
    assert len(given) == 2


def test_inference_at_ratios_equals_one_inference_per_ratio():
    """The occlusion evaluation's batched call (one backbone pass for all ratios, flip test on)
    gives exactly what one inference call per ratio gives."""
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.POSE_HEAD.FLIP_TEST = True
    model = build_tiny_model(cfg).eval()
    inputs = make_inputs(("pe", "pd"))
    for x in inputs:
        x["height"], x["width"] = 192, 160  # results are rescaled, once for every ratio
    given = [_given([[20, 16, 80, 160], [90, 40, 150, 180]]), _given([[20, 16, 80, 160]])]
    ratios = [0.0, 0.3, 0.7]
    with torch.no_grad():
        batched = model.inference_at_ratios(inputs, given, mask_ratios=ratios, mask_seed=3)
        single = [model.inference(inputs, given, mask_ratio=p, mask_seed=3) for p in ratios]
    assert len(batched) == len(ratios)
    for b, s in zip(batched, single):
        for x, y in zip(b, s):
            assert torch.equal(x["instances"].pred_boxes.tensor, y["instances"].pred_boxes.tensor)
            assert torch.equal(x["instances"].pred_keypoints, y["instances"].pred_keypoints)
            assert torch.equal(x["instances"].pred_masks, y["instances"].pred_masks)
    # the ratios really differ (each got its own masks)
    assert not torch.equal(batched[0][0]["instances"].pred_keypoint_heatmaps,
                           batched[2][0]["instances"].pred_keypoint_heatmaps)


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_source_via_target_trains_the_target_backbone_with_source_poses(prob):
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.SHARE_DETECTORS = False
    cfg.MODEL.OCCPOSE.SOURCE_VIA_TARGET = prob
    model = build_tiny_model(cfg)
    counts = []
    model.instance_heads.register_forward_pre_hook(lambda m, args: counts.append(len(args[0])))
    losses, _ = _train_step(model, make_inputs(("pe", "pe")))
    # A source-only step: the target backbone learns only from the routed source instances.
    grad = sum(p.grad.abs().sum() for p in model.detectors["pd"].backbone.parameters()
               if p.grad is not None)
    assert (grad > 0) == (prob == 1.0)
    assert losses["loss_pose"] > 0
    # The routed instances join the heads' batch: twice the rows of the two images' persons.
    assert counts == [8 if prob else 4]
    # Target detector losses stay those of the (absent) target images.
    assert losses["loss_cls_pd"].item() == 0.0


def test_cascade_detectors_train_and_detect():
    """D2's CascadeROIHeads as both domains' box heads (MODEL.ROI_HEADS.NAME): three stages of
    box losses per domain, zeros for a domain without images (every parameter still takes
    part), and detections with poses at inference."""
    cfg = get_tiny_cfg()
    cfg.MODEL.ROI_HEADS.NAME = "CascadeROIHeads"
    cfg.MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG = True
    model = build_tiny_model(cfg)
    stage_keys = {f"{k}_stage{s}" for k in ("loss_cls", "loss_box_reg") for s in range(3)}
    detector_keys = {f"{k}_{d}" for k in stage_keys | {"loss_rpn_cls", "loss_rpn_loc"}
                     for d in ("pe", "pd")}
    losses, _ = _train_step(model, make_inputs(("pe", "pd")))
    assert set(losses) == detector_keys | {"loss_seg", "loss_domain", "loss_pose"}
    assert all(torch.isfinite(v) for v in losses.values())
    losses, _ = _train_step(model, make_inputs(("pe", "pe")))
    assert set(losses) >= detector_keys
    assert all(losses[f"{k}_pd"].item() == 0.0 for k in stage_keys)
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    model.eval()
    with torch.no_grad():
        out = model(make_inputs(("pd",)))[0]["instances"]
    assert out.has("pred_boxes") and out.has("pred_keypoints")
    assert out.pred_keypoints.shape[1:] == (13, 3)
