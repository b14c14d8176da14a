"""Loader of the synthetic two-domain set written by ``datasets/prepare_synthetic.py``.

Source ("pe") dicts keep ``keypoints`` and ``fully_visible``; target ("pd") dicts keep
``vis_bbox``, ``vis_ratio``, ``cp_class`` and ``occluded_by_person`` (when the file has it), and
``keypoints`` with ``fully_visible`` only for ``synth_pd_{val,train}_kp``: the measurement set
(its occlusion AP needs the fully visible persons) and the oracle's training set.
Field meanings: ``occpose_d2/data/synthetic/generate.py``.
"""

import logging
from typing import Dict, List

from detectron2.data.datasets import load_coco_json

from ...domains import DOMAIN_SOURCE, DOMAIN_TARGET
from ...keypoints import NUM_KEYPOINTS
from .common import clip_boxes_to_images

__all__ = ["load_synthetic_json"]

logger = logging.getLogger(__name__)

_KEEP = {
    DOMAIN_SOURCE: ("fully_visible",),
    DOMAIN_TARGET: ("vis_bbox", "vis_ratio", "cp_class"),
}
# Kept when present (files written before the field existed lack it).
_OPTIONAL = {DOMAIN_SOURCE: (), DOMAIN_TARGET: ("occluded_by_person",)}
_EXTRA = ["fully_visible", "vis_bbox", "vis_ratio", "cp_class", "occluded_by_person"]


def load_synthetic_json(json_file: str, image_root: str, domain: str) -> List[Dict]:
    """Load one synthetic split as D2 dicts of ``domain`` ("pe" or "pd").

    Returns:
        D2 dataset dicts; annotations with ``category_id = 0``, full-body ``bbox`` (XYWH_ABS,
        px), visible-mask ``segmentation`` (RLE) and the domain's extra fields.

    Raises:
        ValueError: a record lacks a field its domain needs, or has keypoints that are not 13
            joints (names the file, image and annotation).
    """
    dicts = load_coco_json(json_file, image_root, dataset_name=None, extra_annotation_keys=_EXTRA)
    needed = ("bbox", "segmentation") + _KEEP[domain]
    for d in dicts:
        d["domain"] = domain
        for i, ann in enumerate(d["annotations"]):
            missing = [k for k in needed if k not in ann]
            if missing:
                raise ValueError(f"{json_file}: image '{d['file_name']}' annotation #{i} lacks "
                                 f"{missing}; re-create it with datasets/prepare_synthetic.py")
            kps = ann.get("keypoints")
            if kps is not None and len(kps) != 3 * NUM_KEYPOINTS:
                raise ValueError(f"{json_file}: image '{d['file_name']}' annotation #{i} has "
                                 f"{len(kps)} keypoint numbers (expected {3 * NUM_KEYPOINTS}: "
                                 f"{NUM_KEYPOINTS} joints x (x, y, v))")
            keep = (_KEEP[domain] + _OPTIONAL[domain]
                    + (("fully_visible",) if "keypoints" in ann else ()))
            for k in _EXTRA:
                if k not in keep:
                    ann.pop(k, None)
            ann["category_id"] = 0
    clip_boxes_to_images(dicts, json_file, json_file)
    return dicts
