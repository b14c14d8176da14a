"""Occlusion AP (paper Table 2): pose of fully visible persons under test-time masking.

For every image, the fully visible persons (``fully_visible`` annotations of the dataset dicts)
are given to the model as boxes, and the pose is predicted with a fraction ``p`` of the
segmentation map removed (``model.inference(..., mask_ratio=p, mask_seed=seed)``), for each
``p`` of ``TEST.OCCLUSION_RATIOS`` (all ``p`` in one ``model.inference_at_ratios`` call, one
backbone pass per image, where the model has that method, as ``OccPoseRCNN`` does). One OKS AP
(COCO keypoint AP, official Python API, 13 sigmas) per ``p`` is computed against those persons
only.

Scores: the given boxes all have score 1, so ranking by box score would make AP depend on the
order of ties. Each pose is scored by the mean of its predicted joint scores instead (the usual
choice of top-down pose evaluation with ground-truth boxes).
"""

import itertools
import logging
from collections import OrderedDict
from typing import Any, Dict, List, Sequence

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import Boxes, BoxMode, Instances
from detectron2.utils import comm
from tabulate import tabulate

from ..keypoints import KEYPOINT_OKS_SIGMAS
from .coco_gt import annotation_area, keypoint_oks_ap

__all__ = ["OcclusionEvaluator", "ratio_label"]

logger = logging.getLogger(__name__)


def ratio_label(p: float) -> str:
    """Column name of a masking ratio: 0.2 -> ``"AP@20%"``."""
    return f"AP@{round(100 * p):d}%"


class OcclusionEvaluator(DatasetEvaluator):
    """OKS AP of fully visible persons per test-time masking ratio; results ``occlusion_ap``."""

    def __init__(
        self,
        dataset_name: str,
        model: torch.nn.Module,
        *,
        ratios: Sequence[float] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
        seed: int = 0,
        kpt_oks_sigmas: Sequence[float] = (),
        distributed: bool = True,
    ):
        """
        Args:
            dataset_name: registered dataset whose dicts carry ``keypoints`` and
                ``fully_visible``.
            model: exposes ``inference(batched_inputs, detected_instances, mask_ratio,
                mask_seed)`` (``OccPoseRCNN``) and optionally a ``device``.
            ratios: masking ratios p in [0, 1] (``TEST.OCCLUSION_RATIOS``).
            seed: masking seed (``TEST.OCCLUSION_SEED``).
            kpt_oks_sigmas: 13 OKS sigmas; empty -> :data:`KEYPOINT_OKS_SIGMAS`.
            distributed: gather the records of all ranks before evaluating.
        """
        self._model = model
        self._ratios = [float(p) for p in ratios]
        self._seed = int(seed)
        self._sigmas = tuple(kpt_oks_sigmas) or KEYPOINT_OKS_SIGMAS
        self._distributed = distributed
        self._gt = self._index_fully_visible(dataset_name)

    @staticmethod
    def _index_fully_visible(dataset_name: str) -> Dict[Any, Dict[str, Any]]:
        """image_id -> {"height", "width", "anns": fully visible person annotations}."""
        index = {}
        for d in DatasetCatalog.get(dataset_name):
            anns = [
                a for a in d.get("annotations", [])
                if a.get("fully_visible") and not a.get("iscrowd", 0) and a.get("keypoints")
            ]
            if anns:
                index[d["image_id"]] = {"height": d["height"], "width": d["width"], "anns": anns}
        if not index:
            logger.warning(f"{dataset_name}: no fully visible person; occlusion AP will be NaN")
        return index

    def reset(self):
        self._gt_records: List[dict] = []
        self._dt_records: Dict[float, List[dict]] = {p: [] for p in self._ratios}

    def _device(self) -> torch.device:
        dev = getattr(self._model, "device", None)
        if dev is None:
            dev = next(iter(self._model.parameters()), torch.zeros(0)).device
        return torch.device(dev)

    def process(self, inputs, outputs):
        for inp in inputs:
            gt = self._gt.get(inp["image_id"])
            if gt is None:
                continue
            anns = gt["anns"]
            boxes = [BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
                     for a in anns]
            for a, box in zip(anns, boxes):
                kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3).copy()
                kp[:, :2] -= 0.5  # dataset dicts hold pixel-centre coordinates (D2 convention)
                x0, y0, x1, y1 = box
                self._gt_records.append({
                    "image_id": inp["image_id"], "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "keypoints": kp.reshape(-1).tolist(), "area": annotation_area(a),
                    "num_keypoints": int((kp[:, 2] > 0).sum()), "iscrowd": 0,
                })
            height, width = inp.get("height", gt["height"]), inp.get("width", gt["width"])
            given = Instances((height, width))
            dev = self._device()
            given.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32, device=dev))
            given.scores = torch.ones(len(boxes), device=dev)
            given.pred_classes = torch.zeros(len(boxes), dtype=torch.int64, device=dev)
            with torch.no_grad():
                outs = self._infer_at_ratios(inp, given)
            for p, out in zip(self._ratios, outs):
                kps = out.pred_keypoints.detach().to("cpu", torch.float64).numpy().copy()
                if kps.shape[0] != len(boxes):
                    raise RuntimeError(
                        f"model returned {kps.shape[0]} poses for {len(boxes)} given boxes "
                        f"(image {inp['image_id']})"
                    )
                kps[:, :, :2] -= 0.5  # as D2's instances_to_coco_json
                for k in kps:
                    self._dt_records[p].append({
                        "image_id": inp["image_id"], "category_id": 1,
                        "keypoints": k.reshape(-1).tolist(), "score": float(k[:, 2].mean()),
                    })

    def _infer_at_ratios(self, inp: dict, given: Instances) -> List[Instances]:
        """The model's poses for the given boxes at every ratio: one call of its
        ``inference_at_ratios`` (one backbone pass) when it has one, else one ``inference``
        call per ratio."""
        batched = getattr(self._model, "inference_at_ratios", None)
        if batched is not None:
            outs = batched([inp], detected_instances=[given], mask_ratios=self._ratios,
                           mask_seed=self._seed)
            return [o[0]["instances"] for o in outs]
        return [self._model.inference([inp], detected_instances=[given], mask_ratio=p,
                                      mask_seed=self._seed)[0]["instances"]
                for p in self._ratios]

    def _gather(self):
        if not self._distributed:
            return self._gt_records, self._dt_records
        comm.synchronize()
        gts = comm.gather(self._gt_records, dst=0)
        dts = comm.gather(self._dt_records, dst=0)
        if not comm.is_main_process():
            return None, None
        merged = {p: list(itertools.chain(*[d[p] for d in dts])) for p in self._ratios}
        return list(itertools.chain(*gts)), merged

    def evaluate(self):
        gt_records, dt_records = self._gather()
        if gt_records is None:
            return {}
        results = OrderedDict(
            (ratio_label(p), keypoint_oks_ap(gt_records, dt_records[p], self._sigmas))
            for p in self._ratios
        )
        logger.info(
            f"Occlusion AP ({len(gt_records)} fully visible persons, seed {self._seed}):\n"
            + tabulate([list(results.values())], headers=list(results), tablefmt="pipe",
                       floatfmt=".2f")
        )
        return OrderedDict(occlusion_ap=results)

    @property
    def num_persons(self) -> int:
        """Fully visible persons known from the dataset dicts."""
        return sum(len(g["anns"]) for g in self._gt.values())
