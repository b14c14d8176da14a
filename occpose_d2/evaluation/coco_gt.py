"""COCO-format ground truth with 13 joints: conversion of 17/14-joint JSONs, crowd index, areas.

D2's ``COCOEvaluator`` reads ``metadata.json_file`` as is; for COCO's own 17-joint file (or
CrowdPose's 14) that would not match 13-joint predictions, so :func:`keypoint_json_to_13`
converts it once (cached next to the outputs, like D2 caches ``*_coco_format.json``).
"""

import contextlib
import copy
import io
import json
import logging
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pycocotools.mask as mask_util
from detectron2.evaluation.coco_evaluation import _evaluate_predictions_on_coco
from detectron2.structures import BoxMode, PolygonMasks
from detectron2.utils.file_io import PathManager
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..keypoints import (
    KEYPOINT_CONNECTION_RULES,
    KEYPOINT_NAMES,
    NUM_KEYPOINTS,
    to_13_keypoints,
)

__all__ = [
    "keypoint_json_to_13",
    "load_coco_api_13",
    "crowd_index",
    "annotation_area",
    "coco_api_from_dict",
    "keypoint_oks_ap",
    "best_oks",
]

logger = logging.getLogger(__name__)


def _num_joints(data: Dict[str, Any]) -> Optional[int]:
    for ann in data.get("annotations", []):
        if ann.get("keypoints"):
            return len(ann["keypoints"]) // 3
    return None


def crowd_index(anns: List[Dict[str, Any]]) -> float:
    """CrowdPose's crowd index of one image (Li et al., CVPR 2019, Eq. 1).

    ``CI = mean_i N_b(i) / N_a(i)`` over persons ``i`` with labeled joints, where ``N_a(i)`` is
    the number of person ``i``'s labeled joints and ``N_b(i)`` the number of *other* persons'
    labeled joints inside ``i``'s box. Returns 0 for an image without such persons.
    """
    people = [a for a in anns if a.get("keypoints") and not a.get("iscrowd", 0)]
    kps = [np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3) for a in people]
    ratios = []
    for i, a in enumerate(people):
        n_a = int((kps[i][:, 2] > 0).sum())
        if n_a == 0:
            continue
        x, y, w, h = a["bbox"]
        n_b = 0
        for j, k in enumerate(kps):
            if j != i:
                lab = k[k[:, 2] > 0]
                inside = (lab[:, 0] >= x) & (lab[:, 0] <= x + w)
                n_b += int((inside & (lab[:, 1] >= y) & (lab[:, 1] <= y + h)).sum())
        ratios.append(n_b / n_a)
    return float(np.mean(ratios)) if ratios else 0.0


def keypoint_json_to_13(data: Dict[str, Any], source: str = "") -> Dict[str, Any]:
    """Return a copy of a COCO keypoint dict with 13 joints per annotation.

    17-joint (COCO, OCHuman) and 14-joint (CrowdPose) annotations are mapped as the loaders do;
    ``num_keypoints`` is recounted on the 13 joints; annotations without keypoints get 13
    unlabeled joints (COCOeval reads ``keypoints`` of every ground truth); a missing ``area``
    (CrowdPose) becomes the box area. Images keep their
    ``crowdIndex``; when a 14-joint (CrowdPose) file lacks it, it is computed (:func:`crowd_index`).
    """
    out = copy.copy(data)
    n = _num_joints(data)
    anns = []
    for ann in data.get("annotations", []):
        a = dict(ann)
        if a.get("keypoints"):
            kp = to_13_keypoints(a["keypoints"], f"{source} annotation {a.get('id')}")
            a["keypoints"] = [float(v) for v in kp.reshape(-1)]
        else:
            a["keypoints"] = [0.0] * (3 * NUM_KEYPOINTS)
        a["num_keypoints"] = int((np.asarray(a["keypoints"][2::3]) > 0).sum())
        if "area" not in a:  # CrowdPose has no masks and no area: OKS scale from the box
            a["area"] = float(a["bbox"][2] * a["bbox"][3])
        anns.append(a)
    out["annotations"] = anns
    out["categories"] = [
        dict(c, keypoints=list(KEYPOINT_NAMES),
             skeleton=[[KEYPOINT_NAMES.index(x) + 1, KEYPOINT_NAMES.index(y) + 1]
                       for x, y, _ in KEYPOINT_CONNECTION_RULES])
        for c in data.get("categories", [])
    ]
    if n == 14 and any("crowdIndex" not in im for im in data.get("images", [])):
        by_img: Dict[Any, list] = {}
        for a in data.get("annotations", []):
            by_img.setdefault(a["image_id"], []).append(a)
        out["images"] = [
            dict(im, crowdIndex=im.get("crowdIndex", crowd_index(by_img.get(im["id"], []))))
            for im in data["images"]
        ]
    return out


def coco_api_from_dict(data: Dict[str, Any]) -> COCO:
    """A pycocotools ``COCO`` built from an in-memory dict (quietly)."""
    api = COCO()
    api.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    return api


def keypoint_oks_ap(
    gt_records: List[Dict[str, Any]], dt_records: List[Dict[str, Any]], sigmas: Sequence[float]
) -> float:
    """COCO keypoint AP (%, OKS, official Python API) of poses against persons of one category.

    Args:
        gt_records: ``image_id``, ``bbox`` (XYWH), ``keypoints`` (K x 3 flat, pixel corners),
            ``area``, ``num_keypoints``, ``iscrowd`` (1: an ignore region) per person.
        dt_records: ``image_id``, ``keypoints``, ``score`` per pose.
        sigmas: K OKS sigmas.

    Returns:
        AP in percent; NaN without a non-crowd person, 0 without a pose.
    """
    if not any(not r["iscrowd"] and r["num_keypoints"] > 0 for r in gt_records):
        return float("nan")
    if not dt_records:
        return 0.0
    images = sorted({r["image_id"] for r in gt_records}, key=str)
    coco_gt = coco_api_from_dict({
        "images": [{"id": i} for i in images],
        "annotations": [dict(r, id=i + 1, category_id=1) for i, r in enumerate(gt_records)],
        "categories": [{"id": 1, "name": "person"}],
    })
    with contextlib.redirect_stdout(io.StringIO()):
        ev = _evaluate_predictions_on_coco(coco_gt, [dict(r, category_id=1) for r in dt_records],
                                           "keypoints", kpt_oks_sigmas=sigmas,
                                           use_fast_impl=False)
    return float(ev.stats[0] * 100)


def best_oks(
    gt_records: List[Dict[str, Any]], dt_records: List[Dict[str, Any]], sigmas: Sequence[float]
) -> List[float]:
    """For each pose of ``dt_records``, its highest OKS (pycocotools' ``computeOks``) with a
    non-crowd person of its image in ``gt_records`` (records as :func:`keypoint_oks_ap`); 0 for
    a pose whose image has no such person. Every pose counts, however many an image has."""
    persons = [r for r in gt_records if not r["iscrowd"]]
    out = [0.0] * len(dt_records)
    if not persons or not dt_records:
        return out
    images = sorted({r["image_id"] for r in persons} | {r["image_id"] for r in dt_records},
                    key=str)
    coco_gt = coco_api_from_dict({
        "images": [{"id": i} for i in images],
        "annotations": [dict(r, id=i + 1, category_id=1) for i, r in enumerate(persons)],
        "categories": [{"id": 1, "name": "person"}],
    })
    # the record's position travels as its id; scores order the poses inside computeOks
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes([dict(r, category_id=1, id=i + 1)
                                   for i, r in enumerate(dt_records)])
    ev = COCOeval(coco_gt, coco_dt, "keypoints")
    ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
    ev.params.maxDets = [len(dt_records)]
    ev._prepare()
    for image in images:
        dts = sorted(ev._dts[image, 1], key=lambda d: -d["score"])
        oks = np.asarray(ev.computeOks(image, 1))
        if oks.size:
            for d, row in zip(dts, oks):
                out[d["id"] - 1] = float(row.max())
    return out


def load_coco_api_13(json_file: str, cache_file: Optional[str] = None) -> COCO:
    """Load a COCO keypoint JSON as a 13-joint ``COCO`` object.

    A file that already has 13 joints (or none) is loaded as is. Otherwise the converted dict is
    written to ``cache_file`` when given (reused if present, like D2's ``convert_to_coco_json``)
    or kept in memory.
    """
    if cache_file and PathManager.exists(cache_file):
        logger.info(f"Using cached 13-keypoint ground truth {cache_file}")
        with PathManager.open(cache_file) as f:
            return coco_api_from_dict(json.load(f))
    with PathManager.open(json_file) as f:
        data = json.load(f)
    if _num_joints(data) not in (None, NUM_KEYPOINTS):
        logger.info(f"Converting {json_file} to {NUM_KEYPOINTS} keypoints")
        data = keypoint_json_to_13(data, json_file)
        if cache_file:
            PathManager.mkdirs(os.path.dirname(cache_file) or ".")
            with PathManager.open(cache_file + ".tmp", "w") as f:
                json.dump(data, f)
            os.replace(cache_file + ".tmp", cache_file)
    return coco_api_from_dict(data)


def annotation_area(ann: Dict[str, Any]) -> float:
    """Instance area (px^2) exactly as D2's ``convert_to_coco_dict`` computes it.

    Polygons: shoelace area (``PolygonMasks``); RLE: pixel count; otherwise the box area.
    """
    seg = ann.get("segmentation")
    if isinstance(seg, list) and seg:
        return float(PolygonMasks([seg]).area()[0].item())
    if isinstance(seg, dict):
        if isinstance(seg.get("counts"), list):
            seg = mask_util.frPyObjects(seg, *seg["size"])
        return float(mask_util.area(seg))
    x0, y0, x1, y1 = BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYXY_ABS)
    return float((x1 - x0) * (y1 - y0))
