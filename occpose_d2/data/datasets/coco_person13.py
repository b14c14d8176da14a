"""COCO person-keypoint annotations converted to the 13-joint skeleton ("pe" domain).

Every annotation keeps its full box and its mask (polygons or RLE); ``keypoints`` becomes 13
joints (``head`` = mean of the labeled face points, see :mod:`occpose_d2.keypoints`) and
``fully_visible`` is added.
Crowd annotations stay as ``iscrowd = 1`` ignore regions (D2's mapper drops them from training,
COCO evaluation ignores them).
"""

import logging
from typing import Dict, List

import numpy as np
from detectron2.data.datasets import load_coco_json

from ...domains import DOMAIN_SOURCE
from ...keypoints import NUM_KEYPOINTS, convert_coco_annotation
from .common import clip_boxes_to_images

__all__ = ["load_coco_person13_json"]

logger = logging.getLogger(__name__)


def _check_annotation(ann: Dict, where: str) -> None:
    box = ann.get("bbox")
    if box is None or len(box) != 4 or not np.all(np.isfinite(box)) or min(box[2:]) < 0:
        raise ValueError(f"{where}: bad 'bbox' {box!r} (expected [x, y, w, h] with w, h >= 0)")
    kps = ann.get("keypoints")
    if kps is not None and len(kps) not in (0, 51, 3 * NUM_KEYPOINTS):
        raise ValueError(f"{where}: 'keypoints' has {len(kps)} numbers (expected 51 for COCO-17)")


def load_coco_person13_json(json_file: str, image_root: str) -> List[Dict]:
    """Load a COCO person-keypoints JSON as D2 dicts with 13 keypoints.

    Args:
        json_file: COCO-format annotations (``person_keypoints_*.json``; 17 keypoints).
        image_root: folder of the images named in ``file_name``.

    Returns:
        D2 dataset dicts (contract in ``occpose_d2/data/__init__.py``): ``domain = "pe"``,
        annotations with ``category_id = 0``, ``keypoints`` (39 floats, D2's continuous pixel
        coordinates), ``fully_visible``. Non-person categories are dropped.

    Raises:
        ValueError: naming the file, image and annotation index of a malformed record.
    """
    dicts = load_coco_json(json_file, image_root, dataset_name=None)
    num_anns = num_full = 0
    for d in dicts:
        d["domain"] = DOMAIN_SOURCE
        anns = []
        for i, ann in enumerate(d.get("annotations", [])):
            if ann.get("category_id", 1) != 1:  # COCO's person id
                continue
            where = f"{json_file}: image '{d['file_name']}' annotation #{i}"
            _check_annotation(ann, where)
            kps = ann.get("keypoints")
            if kps is not None and len(kps) == 51:
                ann = convert_coco_annotation(ann)
            else:
                ann = dict(ann, fully_visible=False)
            ann["category_id"] = 0
            anns.append(ann)
            num_anns += 1
            num_full += int(ann["fully_visible"])
        d["annotations"] = anns
    clip_boxes_to_images(dicts, json_file, json_file)
    logger.info(f"{json_file}: {len(dicts)} images, {num_anns} persons, {num_full} fully visible")
    return dicts
