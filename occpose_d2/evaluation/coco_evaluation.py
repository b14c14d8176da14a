"""COCO AP (bbox, segm, keypoints) with the 13 joints, for datasets of type "occpose_coco"."""

import contextlib
import io
import itertools
import os
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

from detectron2.evaluation import COCOEvaluator
from detectron2.evaluation.coco_evaluation import _evaluate_predictions_on_coco

from ..keypoints import KEYPOINT_OKS_SIGMAS
from .coco_gt import load_coco_api_13

__all__ = ["COCO13Evaluator", "CROWD_INDEX_SUBSETS"]

# CrowdPose's difficulty subsets by image crowd index, half-open [lo, hi) as in
# xtcocotools / mmpose (get_type_result(first=0.2, second=0.8)).
CROWD_INDEX_SUBSETS = (("easy", 0.0, 0.2), ("medium", 0.2, 0.8), ("hard", 0.8, float("inf")))


class COCO13Evaluator(COCOEvaluator):
    """D2's ``COCOEvaluator`` with the official (Python) COCO API and 13-joint OKS sigmas.

    * Ground truth: ``metadata.json_file`` when set — a 17-joint (COCO, OCHuman) or 14-joint
      (CrowdPose) file is converted to 13 joints once and cached as
      ``{output_dir}/{dataset_name}_coco13_format.json``; otherwise D2 converts the dataset
      dicts (already 13 joints) to ``{dataset_name}_coco_format.json``.
    * Predictions: D2's ``instances_to_coco_json`` subtracts 0.5 from ``pred_keypoints`` *in
      place*; this evaluator hands it a copy so other evaluators see the model's output intact.
    * With ``crowd_index_subsets`` (CrowdPose), the keypoint results add ``AP_easy``,
      ``AP_medium``, ``AP_hard`` (COCO AP on the images of each crowd-index subset).
    """

    def __init__(
        self,
        dataset_name: str,
        tasks: Optional[Sequence[str]] = None,
        distributed: bool = True,
        output_dir: Optional[str] = None,
        *,
        max_dets_per_image: Optional[int] = None,
        kpt_oks_sigmas: Sequence[float] = (),
        crowd_index_subsets: Optional[bool] = None,
    ):
        """
        Args:
            dataset_name, tasks, distributed, output_dir, max_dets_per_image: as D2's.
            kpt_oks_sigmas: 13 OKS sigmas; empty -> :data:`KEYPOINT_OKS_SIGMAS`.
            crowd_index_subsets: report CrowdPose's easy/medium/hard AP; None -> the dataset's
                metadata ``crowd_index_subsets`` (False when absent).
        """
        sigmas = tuple(kpt_oks_sigmas) or KEYPOINT_OKS_SIGMAS
        super().__init__(
            dataset_name, tasks, distributed, output_dir,
            max_dets_per_image=max_dets_per_image, use_fast_impl=False, kpt_oks_sigmas=sigmas,
        )
        cache = (
            os.path.join(output_dir, f"{dataset_name}_coco13_format.json") if output_dir else None
        )
        self._coco_api = load_coco_api_13(self._metadata.json_file, cache)
        self._do_evaluation = "annotations" in self._coco_api.dataset
        self._kpt_oks_sigmas = sigmas
        if crowd_index_subsets is None:
            crowd_index_subsets = bool(self._metadata.get("crowd_index_subsets", False))
        self._crowd_subsets = crowd_index_subsets

    def process(self, inputs, outputs):
        safe = []
        for out in outputs:
            inst = out.get("instances")
            if inst is not None and inst.has("pred_keypoints"):
                inst = inst.to(self._cpu_device)
                inst.pred_keypoints = inst.pred_keypoints.clone()
                out = dict(out, instances=inst)
            safe.append(out)
        super().process(inputs, safe)

    def _eval_predictions(self, predictions, img_ids=None):
        results = self._coco_results(predictions)  # before D2 remaps category ids in place
        super()._eval_predictions(predictions, img_ids=img_ids)
        if (
            self._crowd_subsets
            and self._do_evaluation
            and "keypoints" in self._results
            and results
            and "keypoints" in results[0]
        ):
            self._results["keypoints"].update(self._crowd_subset_ap(results))

    def _coco_results(self, predictions) -> List[dict]:
        """Copies of the COCO-format records with dataset category ids."""
        records = [dict(r) for r in itertools.chain(*[p.get("instances", []) for p in predictions])]
        mapping = self._metadata.get("thing_dataset_id_to_contiguous_id")
        if mapping:
            reverse = {v: k for k, v in mapping.items()}
            for r in records:
                r["category_id"] = reverse[r["category_id"]]
        return records

    def _crowd_subset_ap(self, results: List[dict]) -> Dict[str, float]:
        """Keypoint AP (%) per crowd-index subset; NaN for an empty subset."""
        images = self._coco_api.dataset.get("images", [])
        out = OrderedDict()
        for name, lo, hi in CROWD_INDEX_SUBSETS:
            ids = [im["id"] for im in images if lo <= float(im.get("crowdIndex", 0.0)) < hi]
            ap = float("nan")
            if ids:
                with contextlib.redirect_stdout(io.StringIO()):
                    ev = _evaluate_predictions_on_coco(
                        self._coco_api, results, "keypoints",
                        kpt_oks_sigmas=self._kpt_oks_sigmas, use_fast_impl=False, img_ids=ids,
                    )
                ap = float(ev.stats[0] * 100) if ev.stats[0] >= 0 else float("nan")
            out[f"AP_{name}"] = ap
        self._logger.info(
            "CrowdPose keypoint AP by crowd index: "
            + ", ".join(f"{k} {v:.2f}" for k, v in out.items())
        )
        return out
