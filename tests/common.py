"""Helpers for tests: a tiny CPU config + model and hand-built inputs with known persons.

Usable by every test folder: ``from common import get_tiny_cfg, build_tiny_model, make_inputs``
(``tests/`` is on ``sys.path`` because pytest inserts the folder of ``tests/conftest.py``).
"""

import importlib.util
import os
from types import ModuleType
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model

import occpose_d2  # noqa: F401  register the model
from occpose_d2 import add_occpose_config
from occpose_d2.data import OccPoseDatasetMapper
from occpose_d2.data.synthetic.instances import person_instances

__all__ = [
    "ASSETS", "BASE_CONFIG", "REPO", "synthetic_mapper_cfg", "pasted_pairs", "get_tiny_cfg",
    "build_tiny_model", "make_inputs", "load_project_script",
]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "Base-OccPose.yaml")
# Third-party sample files (sources and licences in tests/assets/README.md).
ASSETS = os.path.join(os.path.dirname(__file__), "assets")


def synthetic_mapper_cfg(overrides: Sequence = ()) -> CfgNode:
    """``configs/Base-OccPose.yaml`` training on the synthetic sets (source ``synth_pe_train``,
    target ``synth_pd_train``, 192 px), then ``overrides`` (D2's ``KEY VALUE`` list)."""
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.merge_from_file(BASE_CONFIG)
    cfg.DATASETS.TRAIN = ("synth_pe_train",)
    cfg.DATASETS.TRAIN_TARGET = ("synth_pd_train",)
    cfg.INPUT.MIN_SIZE_TRAIN = (192,)
    cfg.merge_from_list(list(overrides))
    return cfg


def pasted_pairs(overrides: Sequence, plain_overrides: Sequence, n: int) -> Iterator[tuple]:
    """(switch on, switch off) mapper outputs of the first ``n`` target training images that
    got pasted persons, each pair mapped from the same random state, without augmentations."""
    on = OccPoseDatasetMapper(synthetic_mapper_cfg(overrides), is_train=True)
    plain = OccPoseDatasetMapper(synthetic_mapper_cfg(plain_overrides), is_train=True)
    on.augmentations.augs, plain.augmentations.augs = [], []
    for d in DatasetCatalog.get("synth_pd_train")[:n]:
        np.random.seed(0)
        a = on(dict(d))
        np.random.seed(0)
        b = plain(dict(d))
        if b["instances"].has("gt_pasted"):
            yield a, b


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


def make_inputs(
    domains: Sequence[str] = ("pe", "pd"),
    size=(96, 80),
    boxes: Sequence[Sequence[float]] = ((10, 8, 40, 80), (45, 20, 75, 90)),
    fully_visible: Sequence[bool] = (True, False),
    seed: int = 0,
) -> List[dict]:
    """One mapped dict per domain in ``domains`` (as the project's mapper gives them): a random
    uint8 ``3 x H x W`` image with the persons of ``boxes`` drawn brighter and their
    :func:`~occpose_d2.data.synthetic.instances.person_instances`. ``boxes=()`` gives images
    without persons."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs = []
    for i, domain in enumerate(domains):
        image = torch.randint(0, 100, (3, h, w), generator=g, dtype=torch.uint8)
        inst = person_instances(boxes, size, domain, fully_visible[: len(boxes)])
        for m in inst.gt_masks.tensor:
            image[:, m] = image[:, m] + 120 + 30 * (domain == "pd")
        inputs.append({"image": image, "height": h, "width": w, "image_id": i,
                       "file_name": f"synthetic_{domain}_{i}.png", "domain": domain,
                       "instances": inst})
    return inputs


def load_project_script(name: str) -> ModuleType:
    """``projects/OccPose/{name}.py`` imported as a module (the scripts are not a package)."""
    path = os.path.join(REPO, "projects", "OccPose", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"occpose_{name}_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
