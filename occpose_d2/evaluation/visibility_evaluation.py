"""Where keypoint AP is lost: by visibility bucket, for persons overlapped by another person, and
with ground-truth boxes (pose quality alone, detection taken out).

For keypoint datasets whose annotations carry ``vis_ratio`` (visible / silhouette pixels, e.g.
the synthetic target's ``synth_pd_val_kp``), results under the task ``visibility_ap``:

* ``AP``: 13-kp OKS AP of the model's detections (the ``keypoints`` task's AP, same ground truth
  and scoring);
* ``AP_gt_boxes``: every person given to the model as a box (``model.inference(...,
  detected_instances=..., mask_ratio=0)``), each pose scored by the mean of its joint scores (as
  :class:`~.occlusion_evaluation.OcclusionEvaluator`);
* ``AP_oracle_ranking``: the model's detections with each pose's score replaced by its best
  OKS with a person of its image: what a perfect ranking of the same poses would give, so
  ``AP_oracle_ranking - AP`` is the AP lost to the ranking (scores), and ``AP_gt_boxes -
  AP_oracle_ranking`` roughly what is lost to the boxes (misses, loose boxes);
* ``AP_matched_boxes``: each person given the model's own detected box that overlaps it most
  (box IoU >= :data:`MATCH_IOU`; a person without one gets no pose, a miss), scored as with
  ground-truth boxes, so ``AP_gt_boxes - AP_matched_boxes`` is what the geometry of the detected
  boxes (and the misses) costs the poses, with ranking and duplicates taken out;
* ``AP_gt_boxes_gt_masks`` (when every person has a ``segmentation``): as ``AP_gt_boxes`` with
  the true visible masks in the pose path instead of the predicted ones (``gt_masks`` on the
  given boxes, see ``OccPoseRCNN.inference``), so ``AP_gt_boxes_gt_masks - AP_gt_boxes`` is what
  the predicted masks cost the poses;
* ``AP_<subset>``, ``AP_matched_boxes_<subset>`` and ``AP_gt_boxes_<subset>`` for each subset
  of :data:`VISIBILITY_SUBSETS` (``person_occluded`` only when the annotations carry
  ``occluded_by_person``).

A subset's AP turns the persons outside it into ignore regions (``iscrowd``): detections matching
them are neither true nor false positives, but a detection of a person outside the subset whose
pose matches no one is a false positive of every subset. With ground-truth (and matched) boxes
the poses of persons outside the subset are left out. A subset without persons gives NaN.
"""

import itertools
import logging
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.data import detection_utils as utils
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import Boxes, BoxMode, Instances, pairwise_iou
from detectron2.utils import comm
from tabulate import tabulate

from ..keypoints import KEYPOINT_OKS_SIGMAS
from .coco_gt import annotation_area, best_oks, keypoint_oks_ap

__all__ = ["VisibilityEvaluator", "VISIBILITY_SUBSETS", "MATCH_IOU", "has_visibility"]

logger = logging.getLogger(__name__)

# (metric suffix, table label, annotation field it needs, predicate on the annotation).
VISIBILITY_SUBSETS: Tuple[Tuple[str, str, str, Callable[[Dict[str, Any]], bool]], ...] = (
    ("vis_ge_09", "visible >= 0.9", "vis_ratio", lambda a: a["vis_ratio"] >= 0.9),
    ("vis_065_09", "visible 0.65-0.9", "vis_ratio", lambda a: 0.65 <= a["vis_ratio"] < 0.9),
    ("vis_lt_065", "visible < 0.65", "vis_ratio", lambda a: a["vis_ratio"] < 0.65),
    ("person_occluded", "occluded by a person", "occluded_by_person",
     lambda a: bool(a["occluded_by_person"])),
)

# Least box IoU between a person and the detected box it is given for ``AP_matched_boxes``.
MATCH_IOU = 0.5


def _given_instances(image_size: Tuple[int, int], boxes: torch.Tensor) -> Instances:
    """``R x 4`` XYXY boxes (original image pixels) as the ``detected_instances`` of one input
    of ``OccPoseRCNN.inference``: score 1, class 0."""
    given = Instances(image_size)
    given.pred_boxes = Boxes(boxes)
    given.scores = torch.ones(len(boxes), device=boxes.device)
    given.pred_classes = torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device)
    return given


def _matched_boxes(output: Dict[str, Any], persons: torch.Tensor) -> Tuple[torch.Tensor, List[int]]:
    """For the ``P x 4`` XYXY boxes of an image's persons, the detected box of ``output``
    (``instances.pred_boxes``, same frame) that overlaps each most, where that IoU is >=
    :data:`MATCH_IOU`: ``M x 4`` boxes (on the persons' device) and the M persons' indices."""
    inst = output.get("instances")
    if inst is None or not inst.has("pred_boxes") or len(inst) == 0:
        return persons.new_zeros((0, 4)), []
    detected = inst.pred_boxes.tensor.detach().to(persons.device, torch.float32)
    best_iou, best = pairwise_iou(Boxes(persons), Boxes(detected)).max(dim=1)
    keep = (best_iou >= MATCH_IOU).nonzero().flatten()
    return detected[best[keep]], keep.tolist()


def _persons(d: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [a for a in d.get("annotations", []) if a.get("keypoints")]


def has_visibility(dicts: Sequence[Dict[str, Any]]) -> bool:
    """Whether every person with keypoints in these dataset dicts carries ``vis_ratio``
    (and there is at least one)."""
    persons = [a for d in dicts for a in _persons(d)]
    return bool(persons) and all("vis_ratio" in a for a in persons)


class VisibilityEvaluator(DatasetEvaluator):
    """Keypoint AP by visibility subset, with detected and ground-truth boxes (module doc)."""

    def __init__(
        self,
        dataset_name: str,
        model: torch.nn.Module,
        *,
        kpt_oks_sigmas: Sequence[float] = (),
        distributed: bool = True,
    ):
        """
        Args:
            dataset_name: registered dataset whose dicts carry ``keypoints`` and ``vis_ratio``
                (and optionally ``occluded_by_person``) on every person.
            model: exposes ``inference(batched_inputs, detected_instances, mask_ratio,
                mask_seed)`` (``OccPoseRCNN``) and optionally a ``device``.
            kpt_oks_sigmas: 13 OKS sigmas; empty -> :data:`KEYPOINT_OKS_SIGMAS`.
            distributed: gather the records of all ranks before evaluating.

        Raises:
            ValueError: a person of the dataset lacks ``vis_ratio`` (names dataset and image).
        """
        self._model = model
        self._sigmas = tuple(kpt_oks_sigmas) or KEYPOINT_OKS_SIGMAS
        self._distributed = distributed
        self._gt: Dict[Any, Dict[str, Any]] = {}
        fields = set()
        for d in DatasetCatalog.get(dataset_name):
            persons = _persons(d)
            for a in persons:
                if "vis_ratio" not in a:
                    raise ValueError(f"{dataset_name}: image '{d.get('file_name')}' has a person "
                                     "without 'vis_ratio'; the visibility AP needs it")
                fields.update(a)
            self._gt[d["image_id"]] = {"height": d["height"], "width": d["width"],
                                       "anns": persons}
        self._subsets = [s for s in VISIBILITY_SUBSETS if s[2] in fields]
        self._with_masks = all("segmentation" in a for g in self._gt.values() for a in g["anns"])

    def reset(self):
        self._gt_records: List[dict] = []
        self._dt_records: List[dict] = []
        self._gt_box_records: List[dict] = []
        self._gt_mask_records: List[dict] = []
        self._matched_records: List[dict] = []

    def _device(self) -> torch.device:
        dev = getattr(self._model, "device", None)
        if dev is None:
            dev = next(iter(self._model.parameters()), torch.zeros(0)).device
        return torch.device(dev)

    def _record_detections(self, image_id, output: Dict[str, Any]) -> None:
        inst = output.get("instances")
        if inst is None or not inst.has("pred_keypoints"):
            return
        kps = inst.pred_keypoints.detach().to("cpu", torch.float64).numpy().copy()
        kps[:, :, :2] -= 0.5  # as D2's instances_to_coco_json
        for k, s in zip(kps, inst.scores.detach().cpu().tolist()):
            self._dt_records.append({"image_id": image_id, "category_id": 1,
                                     "keypoints": k.reshape(-1).tolist(), "score": float(s)})

    def _record_ground_truth(self, image_id, anns: List[Dict[str, Any]]) -> List[List[float]]:
        """COCO records of the image's persons; returns the XYXY boxes of the non-crowd ones."""
        boxes = []
        for a in anns:
            kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(-1, 3).copy()
            kp[:, :2] -= 0.5  # dataset dicts hold pixel-centre coordinates (D2 convention)
            x0, y0, x1, y1 = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
            self._gt_records.append({
                "image_id": image_id, "bbox": [x0, y0, x1 - x0, y1 - y0],
                "keypoints": kp.reshape(-1).tolist(), "area": annotation_area(a),
                "num_keypoints": int((kp[:, 2] > 0).sum()), "iscrowd": int(a.get("iscrowd", 0)),
                "subsets": [name for name, _, _, keep in self._subsets if keep(a)],
            })
            if not a.get("iscrowd", 0):
                boxes.append([x0, y0, x1, y1])
        return boxes

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            gt = self._gt.get(inp["image_id"])
            if gt is None:
                continue
            self._record_detections(inp["image_id"], out)
            first = len(self._gt_records)
            boxes = self._record_ground_truth(inp["image_id"], gt["anns"])
            if not boxes:
                continue
            given_subsets = [r["subsets"] for r in self._gt_records[first:] if not r["iscrowd"]]
            size = (inp.get("height", gt["height"]), inp.get("width", gt["width"]))
            gt_boxes = torch.tensor(boxes, dtype=torch.float32, device=self._device())
            matched, persons_matched = _matched_boxes(out, gt_boxes)
            # the true and the matched boxes in one call (each box's pose is its own)
            records = self._given_box_poses(
                inp, _given_instances(size, torch.cat([gt_boxes, matched])),
                given_subsets + [given_subsets[i] for i in persons_matched])
            self._gt_box_records += records[:len(boxes)]
            self._matched_records += records[len(boxes):]
            if self._with_masks:
                # D2's conversion of polygons / RLE to BitMasks (keypoints left out: it would
                # read them as transformed ones)
                persons = [{k: v for k, v in a.items() if k != "keypoints"}
                           for a in gt["anns"] if not a.get("iscrowd", 0)]
                given = _given_instances(size, gt_boxes)
                given.gt_masks = utils.annotations_to_instances(
                    persons, size, mask_format="bitmask").gt_masks
                self._gt_mask_records += self._given_box_poses(inp, given, given_subsets)

    def _given_box_poses(self, inp, given: Instances, subsets: List[List[str]]) -> List[dict]:
        """COCO records of the poses the model predicts for the ``given`` boxes of one input
        (each scored by its mean joint score, tagged with its person's ``subsets``)."""
        with torch.no_grad():
            pred = self._model.inference(
                [inp], detected_instances=[given], mask_ratio=0.0, mask_seed=0
            )[0]["instances"]
        kps = pred.pred_keypoints.detach().to("cpu", torch.float64).numpy().copy()
        if kps.shape[0] != len(given):
            raise RuntimeError(f"model returned {kps.shape[0]} poses for {len(given)} given "
                               f"boxes (image {inp['image_id']})")
        kps[:, :, :2] -= 0.5
        return [{"image_id": inp["image_id"], "category_id": 1,
                 "keypoints": k.reshape(-1).tolist(), "score": float(k[:, 2].mean()),
                 "subsets": subs} for k, subs in zip(kps, subsets)]

    def _gather(self):
        records = (self._gt_records, self._dt_records, self._gt_box_records,
                   self._gt_mask_records, self._matched_records)
        if not self._distributed:
            return records
        comm.synchronize()
        gathered = [comm.gather(r, dst=0) for r in records]
        if not comm.is_main_process():
            return None
        return tuple(list(itertools.chain(*g)) for g in gathered)

    def _ap(self, gts: List[dict], dts: List[dict], subset: str = "") -> float:
        if subset:
            gts = [r if subset in r["subsets"] else dict(r, iscrowd=1) for r in gts]
        return keypoint_oks_ap(gts, dts, self._sigmas)

    def evaluate(self):
        gathered = self._gather()
        if gathered is None:
            return {}
        gts, dts, gt_box, gt_mask, matched = gathered
        results = OrderedDict(AP=self._ap(gts, dts), AP_gt_boxes=self._ap(gts, gt_box))
        if self._with_masks:
            results["AP_gt_boxes_gt_masks"] = self._ap(gts, gt_mask)
        results["AP_matched_boxes"] = self._ap(gts, matched)
        oracle = [dict(r, score=o) for r, o in zip(dts, best_oks(gts, dts, self._sigmas))]
        results["AP_oracle_ranking"] = self._ap(gts, oracle)
        persons = [r for r in gts if not r["iscrowd"]]
        rows = [["all", len(persons), 100.0, results["AP"], results["AP_matched_boxes"],
                 results["AP_gt_boxes"]]]
        for name, label, _, _ in self._subsets:
            results[f"AP_{name}"] = self._ap(gts, dts, name)
            for key, records in ((f"AP_matched_boxes_{name}", matched),
                                 (f"AP_gt_boxes_{name}", gt_box)):
                results[key] = self._ap(gts, [r for r in records if name in r["subsets"]], name)
            count = sum(name in r["subsets"] for r in persons)
            rows.append([label, count, 100.0 * count / max(len(persons), 1),
                         results[f"AP_{name}"], results[f"AP_matched_boxes_{name}"],
                         results[f"AP_gt_boxes_{name}"]])
        logger.info(
            "Keypoint AP by visibility (13-kp OKS; persons outside a row are ignore regions):\n"
            + tabulate(rows, headers=["persons", "count", "share %", "detected boxes",
                                      "each person's detected box", "ground-truth boxes"],
                       tablefmt="pipe", floatfmt=".2f")
            + "\nEach person's detected box: the detection that overlaps it most (IoU >= "
            f"{MATCH_IOU}), its pose scored as with ground-truth boxes (box geometry kept, "
            "ranking and duplicates taken out)"
            + f"\nDetected boxes ranked by their true OKS (ranking taken out): AP "
            f"{results['AP_oracle_ranking']:.2f}"
            + (f"\nGround-truth boxes with the true visible masks in the pose path: AP "
               f"{results['AP_gt_boxes_gt_masks']:.2f}" if self._with_masks else "")
        )
        return OrderedDict(visibility_ap=results)
