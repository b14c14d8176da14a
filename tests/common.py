"""Helpers for tests: a tiny CPU config + model and hand-built inputs with known persons.

Usable by every test folder: ``from common import get_tiny_cfg, build_tiny_model, make_inputs``
(``tests/`` is on ``sys.path`` because pytest inserts the folder of ``tests/conftest.py``).
"""

import os
from typing import List, Optional, Sequence

import numpy as np
import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances, Keypoints

import occpose_d2  # noqa: F401  register the model
from occpose_d2 import add_occpose_config
from occpose_d2.keypoints import NUM_KEYPOINTS

__all__ = [
    "ASSETS", "BASE_CONFIG", "get_tiny_cfg", "build_tiny_model", "make_person", "make_inputs",
]

BASE_CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "Base-OccPose.yaml")
# Third-party sample files (sources and licences in tests/assets/README.md).
ASSETS = os.path.join(os.path.dirname(__file__), "assets")


def get_tiny_cfg(meta_arch: str = "OccPoseRCNN") -> CfgNode:
    """Base-OccPose.yaml shrunk to a CPU toy: tiny conv backbone + 16-channel FPN, 7x7 F_raw,
    14x14 segmentation maps, 28x28 heatmaps, few proposals. ``meta_arch`` "GeneralizedRCNN" gives
    a stock D2 model with ``OccPoseROIHeads`` (masks + keypoints on)."""
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.merge_from_file(BASE_CONFIG)
    cfg.merge_from_list([
        "MODEL.DEVICE", "cpu",
        "MODEL.WEIGHTS", "",
        "MODEL.PIXEL_STD", [57.375, 57.12, 58.395],
        "MODEL.BACKBONE.NAME", "build_occpose_tiny_fpn_backbone",
        "MODEL.OCCPOSE_TINY.STEM_CHANNELS", 8,
        "MODEL.OCCPOSE_TINY.STAGE_CHANNELS", [8, 16, 16, 16],
        "MODEL.OCCPOSE_TINY.CONVS_PER_STAGE", 1,
        "MODEL.OCCPOSE_TINY.NORM", "",
        "MODEL.FPN.OUT_CHANNELS", 16,
        "MODEL.ANCHOR_GENERATOR.SIZES", [[16], [32], [64], [128], [256]],
        "MODEL.RPN.BATCH_SIZE_PER_IMAGE", 32,
        "MODEL.RPN.PRE_NMS_TOPK_TRAIN", 200,
        "MODEL.RPN.POST_NMS_TOPK_TRAIN", 50,
        "MODEL.RPN.PRE_NMS_TOPK_TEST", 100,
        "MODEL.RPN.POST_NMS_TOPK_TEST", 20,
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 32,
        "MODEL.ROI_BOX_HEAD.FC_DIM", 32,
        "MODEL.OCCPOSE.POOLER_RESOLUTION", 7,
        "MODEL.OCCPOSE.MAX_TRAIN_INSTANCES", 8,
        "MODEL.OCCPOSE.COMMON_ENCODER.NUM_CONV", 2,
        "MODEL.OCCPOSE.COMMON_ENCODER.CONV_DIM", 16,
        "MODEL.OCCPOSE.SEG_HEAD.CONV_DIM", 16,
        "MODEL.OCCPOSE.DOMAIN_HEAD.CONV_DIM", 16,
        "MODEL.OCCPOSE.DOMAIN_HEAD.FC_DIM", 16,
        "MODEL.OCCPOSE.CONTEXT_DECODER.CONV_DIM", 16,
        "MODEL.OCCPOSE.POSE_HEAD.CONV_DIM", 16,
        "MODEL.OCCPOSE.POSE_HEAD.HEATMAP_SIZE", 28,
        "MODEL.OCCPOSE.POSE_HEAD.HEATMAP_SIGMA", 1.5,
        "TEST.DETECTIONS_PER_IMAGE", 10,
    ])
    if meta_arch != "OccPoseRCNN":
        cfg.MODEL.META_ARCHITECTURE = meta_arch
        cfg.MODEL.ROI_HEADS.NAME = "OccPoseROIHeads"
    return cfg


def build_tiny_model(cfg: Optional[CfgNode] = None, seed: int = 0) -> torch.nn.Module:
    """``build_model`` of ``cfg`` (default :func:`get_tiny_cfg`) with ``torch.manual_seed``."""
    torch.manual_seed(seed)
    return build_model(cfg if cfg is not None else get_tiny_cfg())


def make_person(box: Sequence[float], image_size, fully_visible: bool = True):
    """A person filling the ellipse inscribed in ``box`` (XYXY pixels): its ``H x W`` bool mask
    and ``13 x 3`` keypoints inside the ellipse (all v = 2, or the last 4 v = 1 if not
    ``fully_visible``)."""
    h, w = image_size
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    t = np.linspace(0.1, 0.9, NUM_KEYPOINTS)
    kps = np.stack([cx + 0.4 * rx * np.cos(7 * t), y0 + t * (y1 - y0), np.full_like(t, 2)], 1)
    if not fully_visible:
        kps[-4:, 2] = 1
    return mask, kps.astype(np.float32)


def make_inputs(
    domains: Sequence[str] = ("pe", "pd"),
    size=(96, 80),
    boxes: Sequence[Sequence[float]] = ((10, 8, 40, 80), (45, 20, 75, 90)),
    fully_visible: Sequence[bool] = (True, False),
    seed: int = 0,
) -> List[dict]:
    """One mapped dict per domain in ``domains`` (as the project's mapper gives them): a random
    uint8 ``3 x H x W`` image with ``boxes`` drawn brighter, Instances with gt_boxes,
    gt_classes, gt_masks (BitMasks), and on "pe" gt_keypoints + gt_fully_visible, on "pd"
    gt_vis_boxes. ``boxes=()`` gives images without persons."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs = []
    for i, domain in enumerate(domains):
        image = torch.randint(0, 100, (3, h, w), generator=g, dtype=torch.uint8)
        persons = [make_person(b, size, fv) for b, fv in zip(boxes, fully_visible)]
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        inst.gt_classes = torch.zeros(len(boxes), dtype=torch.int64)
        masks = torch.from_numpy(np.stack([m for m, _ in persons])) if persons else \
            torch.zeros((0, h, w), dtype=torch.bool)
        inst.gt_masks = BitMasks(masks)
        for m in masks:
            image[:, m] = image[:, m] + 120 + 30 * (domain == "pd")
        if domain == "pe":
            kps = np.stack([k for _, k in persons]) if persons else np.zeros((0, 13, 3))
            inst.gt_keypoints = Keypoints(torch.as_tensor(kps, dtype=torch.float32))
            inst.gt_fully_visible = torch.tensor(list(fully_visible[: len(boxes)]),
                                                 dtype=torch.bool)
        else:
            inst.gt_vis_boxes = inst.gt_boxes.clone()
        inputs.append({"image": image, "height": h, "width": w, "image_id": i,
                       "file_name": f"synthetic_{domain}_{i}.png", "domain": domain,
                       "instances": inst})
    return inputs
