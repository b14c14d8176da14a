"""CityPersons MR^-2 (paper Table 4) as a D2 ``DatasetEvaluator``.

Ground truth comes from the dataset dicts (evaluator types "citypersons" and "synth_pd"): the
full box ``bbox``, ``vis_ratio`` (or ``vis_bbox`` area / box area; 1 when neither is given),
``cp_class`` (only 1 = pedestrian counts; absent means 1) and ``iscrowd`` (ignore region).
Detections are the model's ``pred_boxes`` / ``scores`` in original image coordinates; every
predicted class counts (the model has the single class "person"). FPPI divides by the number of
images of the dataset. Protocol details: :mod:`occpose_d2.evaluation.miss_rate`.

The same scoring serves files (``python -m occpose_d2.evaluation.citypersons``):
:func:`load_citypersons_gt` turns an annotation file (the official ``.mat`` or ``val_gt.json``,
read by :mod:`occpose_d2.data.datasets.citypersons_annotations`) into ground truth, and
:func:`load_detections_json` reads COCO-style results (``{"image_id", "category_id", "bbox":
[x, y, w, h], "score"}``; like the official script, only ``category_id`` 1 counts).
"""

import itertools
import json
import logging
import math
import os
from collections import OrderedDict
from numbers import Real
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import BoxMode
from detectron2.utils import comm

from ..data.datasets.citypersons_annotations import (
    PEDESTRIAN,
    image_ids,
    read_citypersons_annotations,
    visible_ratios,
)
from ..data.datasets.common import read_json, xywh_box
from .miss_rate import MR_SETUPS, MRDetections, MRGroundTruth, evaluate_miss_rate

__all__ = [
    "CityPersonsEvaluator",
    "mr_ground_truth_from_dicts",
    "load_citypersons_gt",
    "load_detections_json",
    "detections_from_list",
    "format_mr_table",
]

logger = logging.getLogger(__name__)


def load_citypersons_gt(path: str) -> MRGroundTruth:
    """MR ground truth of a CityPersons annotation file (the official ``.mat`` or
    ``val_gt.json``): full boxes, visibility (the JSON's ``vis_ratio``; for the ``.mat`` the
    box-area ratio rounded to 12 decimals as ``val_gt.json`` stores it, so no boundary case
    moves), and every class but pedestrian as an ignore region."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CityPersons ground truth not found: {path}")
    records = read_citypersons_annotations(path)
    ids = image_ids(records)
    for rec in records:
        empty = np.flatnonzero(rec.boxes[:, 3] * rec.boxes[:, 4] <= 0)
        if len(empty):
            raise ValueError(f"{path}: image {rec.im_name} has an empty full box "
                             f"{rec.boxes[empty[0]].tolist()}")
    rows = np.concatenate([r.boxes for r in records]) if records else np.zeros((0, 10))
    vis = [r.vis_ratio if r.vis_ratio is not None else np.round(visible_ratios(r.boxes), 12)
           for r in records]
    return MRGroundTruth(
        image_ids=np.asarray(ids, dtype=np.int64),
        ann_image_ids=np.repeat(np.asarray(ids, dtype=np.int64), [len(r.boxes) for r in records]),
        boxes=rows[:, 1:5].astype(np.float64),
        vis_ratio=np.concatenate(vis) if vis else np.zeros(0),
        ignore=rows[:, 0] != PEDESTRIAN,
    )


def detections_from_list(results: Sequence[Dict[str, Any]], source: str = "<list>") -> MRDetections:
    """Detections from COCO-style result records; only ``category_id`` 1 is kept.

    Raises:
        ValueError: naming ``source`` and the record: a field is missing, ``bbox`` is not four
            finite numbers with w, h >= 0, or ``score`` is not a finite number.
    """
    keep = []
    for i, r in enumerate(results):
        where = f"{source}: record {i}"
        missing = [k for k in ("image_id", "bbox", "score") if k not in r]
        if missing:
            raise ValueError(f"{where} lacks {missing}: {r}")
        xywh_box(r["bbox"], where)
        score = r["score"]
        if not isinstance(score, Real) or isinstance(score, bool) or not math.isfinite(score):
            raise ValueError(f"{where}: 'score' must be a finite number, got {score!r}")
        if r.get("category_id", PEDESTRIAN) == PEDESTRIAN:
            keep.append(r)
    return MRDetections(
        image_ids=np.array([r["image_id"] for r in keep], dtype=np.int64),
        boxes=np.array([r["bbox"] for r in keep], dtype=np.float64).reshape(-1, 4),
        scores=np.array([r["score"] for r in keep], dtype=np.float64),
    )


def load_detections_json(path: str) -> MRDetections:
    """Load a JSON list of ``{"image_id", "category_id", "bbox", "score"}``."""
    results = read_json(path)
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


def _vis_ratio(ann: Dict[str, Any], w: float, h: float) -> float:
    if "vis_ratio" in ann:
        return float(ann["vis_ratio"])
    if "vis_bbox" in ann:
        vb = ann["vis_bbox"]
        return float(vb[2] * vb[3]) / float(w * h)
    return 1.0


def mr_ground_truth_from_dicts(dataset_dicts: List[Dict[str, Any]], name: str) -> MRGroundTruth:
    """Build :class:`MRGroundTruth` from D2 dataset dicts (boxes converted to XYWH_ABS)."""
    img_ids, ann_img, boxes, vis, ignore = [], [], [], [], []
    for d in dataset_dicts:
        img_ids.append(d["image_id"])
        for k, a in enumerate(d.get("annotations", [])):
            x, y, w, h = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYWH_ABS)
            if w <= 0 or h <= 0:
                raise ValueError(f"{name}: image {d['image_id']} annotation {k} has an empty box")
            ann_img.append(d["image_id"])
            boxes.append([x, y, w, h])
            vis.append(_vis_ratio(a, w, h))
            ignore.append(bool(a.get("iscrowd", 0)) or a.get("cp_class", PEDESTRIAN) != PEDESTRIAN)
    try:
        ids = np.asarray(img_ids, dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: MR evaluation needs integer image ids ({e})") from e
    return MRGroundTruth(ids, np.asarray(ann_img, dtype=np.int64),
                         np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                         np.asarray(vis, dtype=np.float64), np.asarray(ignore, dtype=bool))


class CityPersonsEvaluator(DatasetEvaluator):
    """Log-average miss rate on R, HO, R+HO (and Reasonable_small, All); results ``"MR"``.

    Writes the detections as ``citypersons_results.json`` (official format, category 1) to
    ``output_dir``, so ``python -m occpose_d2.evaluation.citypersons`` can re-score them.
    """

    def __init__(
        self, dataset_name: str, distributed: bool = True, output_dir: Optional[str] = None
    ):
        self._name = dataset_name
        self._distributed = distributed
        self._output_dir = output_dir
        self._gt = mr_ground_truth_from_dicts(DatasetCatalog.get(dataset_name), dataset_name)

    def reset(self):
        self._records: List[dict] = []

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            inst = out.get("instances")
            if inst is None or len(inst) == 0:
                continue
            b = inst.pred_boxes.tensor.detach().to("cpu", torch.float64).numpy()
            b[:, 2:] -= b[:, :2]
            scores = inst.scores.detach().cpu().tolist()
            self._records.extend(
                {"image_id": inp["image_id"], "category_id": PEDESTRIAN, "bbox": box, "score": s}
                for box, s in zip(b.tolist(), scores)
            )

    def evaluate(self):
        records = self._records
        if self._distributed:
            comm.synchronize()
            records = list(itertools.chain(*comm.gather(records, dst=0)))
            if not comm.is_main_process():
                return {}
        if self._output_dir:
            os.makedirs(self._output_dir, exist_ok=True)
            with open(os.path.join(self._output_dir, "citypersons_results.json"), "w") as f:
                json.dump(records, f)
        res = evaluate_miss_rate(self._gt, detections_from_list(records, self._name))
        logger.info(f"CityPersons MR^-2 on {self._name}:\n" + format_mr_table(res))
        return OrderedDict(MR=OrderedDict((k, v["MR"]) for k, v in res.items()))
