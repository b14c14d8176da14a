"""OccPoseROIHeads inside a stock GeneralizedRCNN config (single dataset, no domain head)."""

import torch
from common import build_tiny_model, get_tiny_cfg, make_inputs
from detectron2.modeling import GeneralizedRCNN, StandardROIHeads
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from occpose_d2.modeling import OccPoseROIHeads, pose_nms, visible_areas


def _inputs():
    inputs = make_inputs(("pe", "pe"))
    for x in inputs:
        del x["domain"]  # a plain D2 pipeline knows no domains
    return inputs


def test_roi_heads_plugin_trains_and_predicts():
    model = build_tiny_model(get_tiny_cfg("GeneralizedRCNN"))
    assert isinstance(model, GeneralizedRCNN) and isinstance(model.roi_heads, OccPoseROIHeads)
    assert model.roi_heads.occpose_heads.domain_head is None
    assert not model.roi_heads.mask_on and not model.roi_heads.keypoint_on
    model.train()
    with EventStorage():
        losses = model(_inputs())
        sum(losses.values()).backward()
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg",
                           "loss_seg", "loss_pose"}
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_pose"] > 0

    model.eval()
    with torch.no_grad():
        out = model(_inputs())[0]["instances"]
    n = len(out)
    assert n > 0
    assert out.pred_masks.shape == (n, 96, 80) and out.pred_keypoints.shape == (n, 13, 3)
    assert out.pred_keypoint_heatmaps.shape == (n, 13, 28, 28)
    assert out.pred_keypoint_visible.shape == (n, 13)

    given = Instances((96, 80))
    given.pred_boxes = Boxes(torch.tensor([[10.0, 8.0, 40.0, 80.0]]))
    given.pred_classes = torch.zeros(1, dtype=torch.long)
    with torch.no_grad():
        res = model.inference(_inputs()[:1], detected_instances=[given])[0]["instances"]
    assert res.pred_keypoints.shape == (1, 13, 3)
    assert torch.equal(res.pred_boxes.tensor, given.pred_boxes.tensor)


def test_roi_heads_plugin_applies_pose_nms_to_detections_only():
    plain = build_tiny_model(get_tiny_cfg("GeneralizedRCNN")).eval()
    cfg = get_tiny_cfg("GeneralizedRCNN")
    cfg.MODEL.OCCPOSE.POSE_NMS.ENABLED = True
    # the untrained model's poses are vague (OKS about 0.1 with one another)
    cfg.MODEL.OCCPOSE.POSE_NMS.OKS_THRESH = 0.05
    model = build_tiny_model(cfg).eval()
    model.load_state_dict(plain.state_dict())
    with torch.no_grad():
        ref = plain.inference(_inputs(), do_postprocess=False)
        got = model.inference(_inputs(), do_postprocess=False)
    dropped = 0
    for r, g in zip(ref, got):
        keep = pose_nms(r.pred_keypoints, r.scores,
                        visible_areas(r.pred_masks[:, 0], r.pred_boxes.tensor), 0.05)
        assert torch.equal(g.pred_boxes.tensor, r.pred_boxes.tensor[keep])
        dropped += int((~keep).sum())
    assert dropped > 0
    given = Instances((96, 80))
    given.pred_boxes = Boxes(torch.tensor([[10.0, 8.0, 40.0, 80.0]] * 2))
    given.pred_classes = torch.zeros(2, dtype=torch.long)
    with torch.no_grad():
        res = model.inference(_inputs()[:1], detected_instances=[given])[0]["instances"]
    assert len(res) == 2


def test_roi_heads_without_masks_and_keypoints_is_box_only():
    cfg = get_tiny_cfg("GeneralizedRCNN")
    cfg.MODEL.MASK_ON = False
    cfg.MODEL.KEYPOINT_ON = False
    model = build_tiny_model(cfg).train()
    assert isinstance(model.roi_heads, StandardROIHeads)
    assert model.roi_heads.occpose_heads is None
    with EventStorage():
        losses = model(_inputs())
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"}
