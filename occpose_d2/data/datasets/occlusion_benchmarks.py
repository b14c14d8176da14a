"""OCHuman and CrowdPose (real heavily occluded / crowded people) as 13-joint D2 datasets.

Both ship COCO-style person keypoint JSONs; they are loaded with D2's ``load_coco_json`` and
mapped to the 13 joints of :mod:`occpose_d2.keypoints`:

* OCHuman uses COCO's 17 keypoints in COCO order -> ``coco17_to_13`` (face points -> ``head``).
* CrowdPose has 14: the 12 limb joints (COCO order), ``head_top`` and ``neck``. ``head`` takes
  ``head_top`` and ``neck`` is dropped: the neck is the shoulders' midpoint (no extra body
  information, and our skeleton links the head straight to the shoulders), whereas
  ``head_top`` is CrowdPose's only head joint and the closest to our ``head`` (the mean of the
  face points); the offset (top of the skull vs. face centre) is a few head-heights' tenths and
  is documented as a limit of this benchmark.

Expected layout under ``root`` (``$DETECTRON2_DATASETS``)::

    ochuman/images/*.jpg
    ochuman/annotations/ochuman_coco_format_{val,test}_range_0.00_1.00.json
    crowdpose/images/*.jpg
    crowdpose/annotations/crowdpose_{val,test}.json

Registration is lazy: a missing file raises ``FileNotFoundError`` naming the expected layout
only when ``DatasetCatalog.get`` is called.
"""

import logging
import os
from typing import Any, Callable, Dict, List

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json

from ...domains import DOMAIN_SOURCE
from ...keypoints import coco17_to_13, is_fully_visible, keypoint_metadata

__all__ = [
    "OCCLUSION_BENCHMARKS",
    "crowdpose14_to_13",
    "to_13_keypoints",
    "register_occlusion_benchmarks",
]

logger = logging.getLogger(__name__)

# name -> (image dir, annotation json, keypoint layout), relative to the dataset root.
OCCLUSION_BENCHMARKS: Dict[str, tuple] = {
    "ochuman_val": (
        "ochuman/images", "ochuman/annotations/ochuman_coco_format_val_range_0.00_1.00.json",
        "coco17"),
    "ochuman_test": (
        "ochuman/images", "ochuman/annotations/ochuman_coco_format_test_range_0.00_1.00.json",
        "coco17"),
    "crowdpose_val": ("crowdpose/images", "crowdpose/annotations/crowdpose_val.json", "crowdpose"),
    "crowdpose_test": ("crowdpose/images", "crowdpose/annotations/crowdpose_test.json",
                       "crowdpose"),
}

_CROWDPOSE_HEAD_TOP = 12  # index of head_top among CrowdPose's 14 joints; 13 is neck (dropped)


def crowdpose14_to_13(keypoints: Any) -> np.ndarray:
    """CrowdPose's 14 joints -> our 13: ``[head_top] + 12 limb joints`` (neck dropped).

    Args:
        keypoints: (14, 3), (N, 14, 3) or a flat list of 42 numbers, ``(x, y, v)`` px.

    Returns:
        float64 array (13, 3) or (N, 13, 3).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    single = kp.ndim < 3
    kp = kp.reshape(-1, 14, 3)
    out = np.concatenate([kp[:, _CROWDPOSE_HEAD_TOP: _CROWDPOSE_HEAD_TOP + 1], kp[:, :12]], 1)
    return out[0] if single else out


_CONVERTERS: Dict[int, Callable[[Any], np.ndarray]] = {
    17: coco17_to_13,
    14: crowdpose14_to_13,
    13: lambda k: np.asarray(k, dtype=np.float64).reshape(13, 3),
}


def to_13_keypoints(keypoints: List[float], where: str = "") -> np.ndarray:
    """A flat keypoint list of 17 (COCO), 14 (CrowdPose) or 13 joints -> (13, 3) array."""
    n = len(keypoints) // 3
    if n not in _CONVERTERS or len(keypoints) % 3:
        raise ValueError(f"{where}: {len(keypoints)} keypoint numbers; expected 3 x 17, 14 or 13")
    return _CONVERTERS[n](keypoints)


def _load(name: str, root: str) -> List[Dict[str, Any]]:
    image_dir, json_rel, _ = OCCLUSION_BENCHMARKS[name]
    json_file, image_root = os.path.join(root, json_rel), os.path.join(root, image_dir)
    if not os.path.isfile(json_file):
        raise FileNotFoundError(
            f"{name}: annotation file {json_file} not found. Expected layout under {root}: "
            f"{image_dir}/*.jpg and {json_rel} (see occpose_d2/data/datasets/"
            "occlusion_benchmarks.py)."
        )
    dicts = load_coco_json(json_file, image_root, name)
    for d in dicts:
        for ann in d.get("annotations", []):
            kps = ann.get("keypoints")
            if kps:
                # load_coco_json added 0.5 to x, y; the mapping is affine per joint, so it holds.
                kp13 = to_13_keypoints(kps, f"{json_file} image {d['image_id']}")
                ann["keypoints"] = [float(v) for v in kp13.reshape(-1)]
                ann["fully_visible"] = not ann.get("iscrowd", 0) and is_fully_visible(kp13)
            else:
                ann["fully_visible"] = False
    return dicts


def register_occlusion_benchmarks(root: str) -> None:
    """Register ``ochuman_{val,test}`` and ``crowdpose_{val,test}`` under ``root`` (lazy).

    Metadata: our keypoint fields, ``thing_classes ["person"]``, ``domain "pe"``,
    ``evaluator_type "occpose_coco"``, ``json_file`` (the original JSON; the evaluator converts
    it to 13 joints) and, for CrowdPose, ``crowd_index_subsets=True`` (AP easy/medium/hard).
    Already-registered names are left alone.
    """
    for name, (image_dir, json_rel, layout) in OCCLUSION_BENCHMARKS.items():
        if name in DatasetCatalog.list():
            continue
        DatasetCatalog.register(name, lambda n=name: _load(n, root))
        MetadataCatalog.get(name).set(
            thing_classes=["person"],
            thing_dataset_id_to_contiguous_id={1: 0},
            json_file=os.path.join(root, json_rel),
            image_root=os.path.join(root, image_dir),
            evaluator_type="occpose_coco",
            domain=DOMAIN_SOURCE,
            crowd_index_subsets=layout == "crowdpose",
            **keypoint_metadata(),
        )
