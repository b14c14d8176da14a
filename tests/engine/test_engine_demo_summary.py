"""run_synthetic_demo.py's summary: it names the variant and shows where target AP is lost."""

import os

import pytest
from common import load_project_script

from occpose_d2 import get_occpose_cfg


@pytest.fixture(scope="module")
def demo():
    return load_project_script("run_synthetic_demo")


def test_variant_is_named(demo):
    cfg = get_occpose_cfg(demo.CONFIG)
    assert demo.describe_variant(cfg) == (
        "two detectors tied (w = 1); adversarial adaptation on; Mask-and-Predict on (ratio up "
        "to 0.5); 4-conv segmentation head (loss weight 2); pose loss on labeled source "
        "persons; colour jitter (contrast 0.6-1.4, saturation 0.4-1.4); source persons pasted "
        "into target images (p = 0.5); poses ranked by box score x expected OKS; joints placed "
        "where their expected OKS is highest; flip test; test box NMS at IoU 0.6")
    cfg = get_occpose_cfg(demo.CONFIG, [
        "MODEL.OCCPOSE.POSE_HEAD.RESCORE", "False", "MODEL.OCCPOSE.POSE_HEAD.DECODE", "peak",
        "INPUT.OCCLUDERS.PROB", "0.5", "INPUT.PERSON_PASTE.PROB", "0.0",
        "INPUT.TARGET_STYLE.PROB", "0.25",
        "MODEL.OCCPOSE.POSE_HEAD.FLIP_TEST", "False", "INPUT.CONTRAST", "(1.0, 1.0)",
        "INPUT.SATURATION", "(1.0, 1.0)",
        "MODEL.OCCPOSE.ROI_SCALE", "1.25", "MODEL.ROI_HEADS.NAME", "CascadeROIHeads",
        "MODEL.OCCPOSE.DETECTOR_TIE.WEIGHT", "0.0", "MODEL.OCCPOSE.POSE_HEAD.SUPERVISE",
        "fully_visible", "MODEL.OCCPOSE.DOMAIN_HEAD.LOSS_WEIGHT", "0.0",
        "MODEL.OCCPOSE.MASK_AND_PREDICT.RATIO_END", "0.0", "MODEL.OCCPOSE.DETECTORS_ONLY", "True",
        "MODEL.OCCPOSE.POSE_HEAD.SUPERVISE_TARGET", "True",
        "MODEL.OCCPOSE.SELF_TRAINING.ENABLED", "True", "MODEL.OCCPOSE.SELF_TRAINING.FLIP_TEACHER",
        "True", "MODEL.OCCPOSE.SELF_TRAINING.FLIP_AGREEMENT", "2.0",
        "MODEL.OCCPOSE.SELF_TRAINING.TARGETS", "soft",
        "MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT", "0.5",
        "MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.7", "MODEL.OCCPOSE.POSE_NMS.ENABLED", "True"])
    assert demo.describe_variant(cfg) == (
        "two detectors (the paper); Cascade R-CNN box heads (IoU 0.5/0.6/0.7); adversarial "
        "adaptation off; image-level alignment "
        "(w = 0.5); Mask-and-Predict off; 4-conv segmentation head (loss weight 2); "
        "target-style colour transfer (p = 0.25); copy-paste occluders (p = 0.5); "
        "self-training from iteration 500 (flip teacher with peaks agreeing within 2 cells, "
        "soft targets, confidence >= 0.5); test box NMS at IoU 0.7; pose NMS at OKS 0.9; "
        "instance RoIs grown by 1.25; "
        "ORACLE: target poses supervised; "
        "switches on: MODEL.OCCPOSE.DETECTORS_ONLY")
    cfg = get_occpose_cfg(demo.CONFIG, ["INPUT.PERSON_PASTE.OCCLUDER_PROB", "0.5"])
    assert ("source persons pasted into target images (p = 0.5, a copy-paste occluder over "
            "each with p = 0.5)") in demo.describe_variant(cfg)


def test_summary_shows_gt_box_and_visibility_ap(demo):
    vis = {"AP": 33.0, "AP_gt_boxes": 39.6, "AP_gt_boxes_gt_masks": 45.2,
           "AP_oracle_ranking": 36.1, "AP_matched_boxes": 35.2, "AP_vis_lt_065": 2.35,
           "AP_gt_boxes_vis_lt_065": 3.6}
    results = {"synth_pe_val": {"keypoints": {"AP": 66.0}},
               "synth_pd_val_kp": {"keypoints": {"AP": 33.0}, "visibility_ap": vis}}
    text = demo.summary_table(results, get_occpose_cfg(demo.CONFIG), 1.0)
    assert text.startswith("Variant: two detectors tied (w = 1);")
    assert "| target val AP, ground-truth boxes | 39.60 |" in text
    assert "| target val AP, each person's detected box | 35.20 |" in text
    assert "| target val AP, ground-truth boxes and visible masks | 45.20 |" in text
    assert "| target val AP, detections ranked by true OKS | 36.10 |" in text
    assert "| target val AP, visible < 0.65, detected boxes | 2.35 |" in text
    assert "| target val AP, visible < 0.65, ground-truth boxes | 3.60 |" in text
    assert "| target val AP, visible >= 0.9, detected boxes | nan |" in text


def test_the_papers_segmentation_head_is_not_named(demo):
    cfg = get_occpose_cfg(demo.CONFIG, ["MODEL.OCCPOSE.SEG_HEAD.NUM_CONV", "1",
                                        "MODEL.OCCPOSE.SEG_HEAD.LOSS_WEIGHT", "0.5"])
    assert "segmentation head" not in demo.describe_variant(cfg)


def test_config_file_option_trains_another_synthetic_config(demo, tmp_path):
    cascade = os.path.join(os.path.dirname(demo.CONFIG), "OccPose-Tiny-Cascade.yaml")
    cfg = demo.setup(demo.parse_args(["--config-file", cascade, "--output", str(tmp_path),
                                      "SOLVER.MAX_ITER", "7"]))
    assert cfg.MODEL.ROI_HEADS.NAME == "CascadeROIHeads"
    assert cfg.INPUT.PERSON_PASTE.STYLE_PROB == 0.5
    assert cfg.INPUT.PERSON_PASTE.PROB == 0.5  # the rest is OccPose-Tiny.yaml's
    assert cfg.SOLVER.MAX_ITER == 7 and cfg.OUTPUT_DIR == str(tmp_path)
    described = demo.describe_variant(cfg)
    assert "Cascade R-CNN box heads" in described
    assert cfg.MODEL.OCCPOSE.SHARE_DETECTORS and cfg.MODEL.OCCPOSE.DOMAIN_NORM
    assert described.startswith("shared detector with per-domain BatchNorm statistics;")
    assert "switches on" not in described
    assert "re-coloured to the target person beside them with p = 0.5" in described
    assert "re-coloured" not in demo.describe_variant(get_occpose_cfg(demo.CONFIG))
