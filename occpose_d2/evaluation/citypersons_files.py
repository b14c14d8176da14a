"""CityPersons files for the miss-rate evaluation: ground truth (the official ``.mat`` or its
COCO-style ``val_gt.json``), COCO-style detection results, and the MR text table.

With the ``.mat``, image ids are the 1-based positions in the file (as in ``val_gt.json``).
Detections are JSON lists of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``;
like the official script, only ``category_id`` 1 counts.
"""

import json
import os
from typing import Any, Dict, Sequence

import numpy as np

from .miss_rate import MR_SETUPS, MRDetections, MRGroundTruth

__all__ = [
    "load_citypersons_gt",
    "load_detections_json",
    "detections_from_list",
    "format_mr_table",
    "PEDESTRIAN",
]

PEDESTRIAN = 1  # CityPersons class label that counts; every other class is an ignore region


def _gt_from_rows(image_ids, ann_image_ids, boxes, vis_ratio, ignore) -> MRGroundTruth:
    return MRGroundTruth(
        image_ids=np.asarray(image_ids, dtype=np.int64),
        ann_image_ids=np.asarray(ann_image_ids, dtype=np.int64),
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        vis_ratio=np.asarray(vis_ratio, dtype=np.float64),
        ignore=np.asarray(ignore, dtype=bool),
    )


def _load_mat(path: str) -> MRGroundTruth:
    import scipy.io as sio

    mat = sio.loadmat(path)
    keys = [k for k in mat if k.startswith("anno_") and k.endswith("_aligned")]
    if len(keys) != 1:
        raise ValueError(f"{path}: expected one 'anno_*_aligned' cell array, found keys {keys}")
    cells = mat[keys[0]]
    ann_img, rows = [], []
    for i in range(cells.shape[1]):
        bbs = np.asarray(cells[0, i][0, 0]["bbs"], dtype=np.float64).reshape(-1, 10)
        ann_img.extend([i + 1] * len(bbs))
        rows.append(bbs)
    bbs = np.concatenate(rows) if rows else np.zeros((0, 10))
    area = bbs[:, 3] * bbs[:, 4]
    if (area <= 0).any():
        bad = int(np.flatnonzero(area <= 0)[0])
        raise ValueError(f"{path}: annotation row {bad} has an empty full box {bbs[bad].tolist()}")
    # val_gt.json stores vis_ratio rounded to 12 decimals; do the same (no boundary case moves).
    vis = np.round(bbs[:, 8] * bbs[:, 9] / area, 12)
    return _gt_from_rows(
        np.arange(1, cells.shape[1] + 1), ann_img, bbs[:, 1:5], vis, bbs[:, 0] != PEDESTRIAN
    )


def _load_json(path: str) -> MRGroundTruth:
    with open(path) as f:
        data = json.load(f)
    for key in ("images", "annotations"):
        if key not in data:
            raise ValueError(f"{path}: not a CityPersons COCO-style file (no '{key}')")
    anns = [a for a in data["annotations"] if a.get("category_id", PEDESTRIAN) == PEDESTRIAN]
    for a in anns:
        missing = [k for k in ("bbox", "vis_ratio", "image_id") if k not in a]
        if missing:
            raise ValueError(f"{path}: annotation {a.get('id')} lacks {missing}")
    return _gt_from_rows(
        [im["id"] for im in data["images"]],
        [a["image_id"] for a in anns],
        [a["bbox"] for a in anns],
        [a["vis_ratio"] for a in anns],
        [bool(a.get("ignore", 0)) or bool(a.get("iscrowd", 0)) for a in anns],
    )


def load_citypersons_gt(path: str) -> MRGroundTruth:
    """Load CityPersons ground truth from the official ``.mat`` or ``val_gt.json``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CityPersons ground truth not found: {path}")
    return _load_mat(path) if path.endswith(".mat") else _load_json(path)


def detections_from_list(results: Sequence[Dict[str, Any]], source: str = "<list>") -> MRDetections:
    """Detections from COCO-style result records; only ``category_id`` 1 is kept."""
    keep = []
    for i, r in enumerate(results):
        missing = [k for k in ("image_id", "bbox", "score") if k not in r]
        if missing or len(r["bbox"]) != 4:
            raise ValueError(f"{source}: record {i} lacks {missing or ['a 4-number bbox']}: {r}")
        if r.get("category_id", PEDESTRIAN) == PEDESTRIAN:
            keep.append(r)
    return MRDetections(
        image_ids=np.array([r["image_id"] for r in keep], dtype=np.int64),
        boxes=np.array([r["bbox"] for r in keep], dtype=np.float64).reshape(-1, 4),
        scores=np.array([r["score"] for r in keep], dtype=np.float64),
    )


def load_detections_json(path: str) -> MRDetections:
    """Load a JSON list of ``{"image_id", "category_id", "bbox", "score"}``."""
    with open(path) as f:
        results = json.load(f)
    if not isinstance(results, list):
        raise ValueError(f"{path}: expected a JSON list of detections, got {type(results)}")
    return detections_from_list(results, path)


def format_mr_table(results: Dict[str, Dict[str, float]]) -> str:
    """Text table: one line per setup with MR (%), official name and non-ignored box count."""
    lines = [f"{'subset':<8} {'MR(%)':>7}  {'#gt':>5}  official setup"]
    for s in MR_SETUPS:
        if s.key in results:
            r = results[s.key]
            lines.append(f"{s.key:<8} {r['MR']:7.2f}  {r['num_gt']:5d}  {s.official_name}")
    return "\n".join(lines)
