#!/usr/bin/env python
"""How good would a trained model's poses be as pseudo-labels on the target domain?

Runs a trained model on the ground-truth boxes of a keypoint-annotated set (default
``synth_pd_val_kp``, the held-out target file) as the self-training teacher would label them:
pseudo-keypoints at the arg-max cell of the plain heatmaps ("plain teacher") or of the mean of
the plain and the mirrored pass ("flip teacher", ``SELF_TRAINING.FLIP_TEACHER``), with the
teacher's confidence (:func:`heatmap_pseudo_labels`). Every ground-truth joint, visible or
occluded, is *correct* when its keypoint similarity with the pseudo-keypoint (COCO's per-joint
OKS term with the 13 sigmas) is at least 0.5, and *swapped* when it is not but would be for its
left / right partner.

Printed per teacher: the share of correct and swapped joints by confidence (the units of
``SELF_TRAINING.THRESHOLD``) and by ground-truth visibility; for the flip teacher also for the
joints kept by ``SELF_TRAINING.FLIP_AGREEMENT`` (plain and mirrored peaks within N cells). These
are the numbers that say which joints self-training may trust.

Example::

    python scripts/pseudo_label_quality.py --config RUN/config.yaml --weights RUN/model_final.pth
"""

import argparse
import json
from typing import Dict, List

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.structures import BoxMode
from tabulate import tabulate

from occpose_d2 import OccPosePredictor, get_occpose_cfg
from occpose_d2.evaluation.coco_gt import annotation_area
from occpose_d2.keypoints import KEYPOINT_OKS_SIGMAS, flip_indices
from occpose_d2.modeling.pose_head import unmirror_heatmaps
from occpose_d2.modeling.self_training import heatmap_pseudo_labels, peak_agreement

# Confidence bins of the decoded joint score.
CONF_BINS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.01)
# SELF_TRAINING.FLIP_AGREEMENT values tabulated (heatmap cells).
AGREEMENT_CELLS = (1.0, 2.0, 4.0)
# A joint is correct from this keypoint similarity on (the OKS term of one joint).
KS_CORRECT = 0.5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="a run's config.yaml")
    parser.add_argument("--weights", required=True, help="its model_final.pth")
    parser.add_argument("--dataset", default="synth_pd_val_kp")
    parser.add_argument("--json", default=None, help="also write the tables as JSON here")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE")
    return parser.parse_args(argv)


def keypoint_similarity(pred: np.ndarray, gt: np.ndarray, area: float) -> np.ndarray:
    """``(K,)`` COCO keypoint similarity exp(-d^2 / (2 area (2 sigma)^2)) of ``K x 2`` pixel
    predictions against ``K x 2`` ground truth for a person of ``area`` px^2."""
    var = (2 * np.asarray(KEYPOINT_OKS_SIGMAS)) ** 2
    d2 = ((pred - gt) ** 2).sum(-1)
    return np.exp(-d2 / (2 * max(area, 1.0) * var))


def teacher_heatmaps(predictor: OccPosePredictor, image: np.ndarray, boxes: np.ndarray
                     ) -> Dict[str, torch.Tensor]:
    """``{"plain", "mirrored", "flip"}`` -> ``N x K x S x S`` heatmaps over the ``N x 4`` XYXY
    ``boxes``: the plain pass; the pass on the mirrored image, its heatmaps read back
    (:func:`unmirror_heatmaps`); and their mean, the flip teacher of training
    (:meth:`PoseSelfTraining.flip_teacher_heatmaps`: two passes, each with its own mask)."""
    width = image.shape[1]
    mirrored_boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0],
                               boxes[:, 3]], 1)
    plain = predictor(image, boxes=boxes)["instances"].pred_keypoint_heatmaps
    mirrored = predictor(image[:, ::-1].copy(), boxes=mirrored_boxes)["instances"]
    mirrored = unmirror_heatmaps(mirrored.pred_keypoint_heatmaps, torch.tensor(flip_indices()))
    return {"plain": plain, "mirrored": mirrored, "flip": (plain + mirrored) / 2}


def joint_rows(records: List[dict], key: str, mask_key: str = "") -> List[list]:
    """Table rows (bin, joints, share %, correct %, swapped %) of one prediction by confidence,
    then by ground-truth visibility; ``mask_key`` restricts to the joints where it is True."""
    rows = []
    conf = np.concatenate([r[key]["score"] for r in records])
    correct = np.concatenate([r[key]["correct"] for r in records])
    swapped = np.concatenate([r[key]["swapped"] for r in records])
    visible = np.concatenate([r["visible"] for r in records])
    keep = (np.concatenate([r[mask_key] for r in records]) if mask_key
            else np.ones_like(correct))
    total = keep.sum()

    def row(label, sel):
        sel = sel & keep
        n = int(sel.sum())
        return [label, n, 100.0 * n / max(total, 1), 100.0 * correct[sel].mean() if n else 0.0,
                100.0 * swapped[sel].mean() if n else 0.0]

    for lo, hi in zip(CONF_BINS[:-1], CONF_BINS[1:]):
        rows.append(row(f"score {lo:.1f}-{min(hi, 1.0):.1f}", (conf >= lo) & (conf < hi)))
    rows.append(row("visible joints", visible))
    rows.append(row("occluded joints", ~visible))
    rows.append(row("all", np.ones_like(visible)))
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    # the flip test off: the mirrored pass is made here, as the flip teacher makes it
    predictor = OccPosePredictor(get_occpose_cfg(args.config, list(args.opts) + [
        "MODEL.WEIGHTS", args.weights, "MODEL.OCCPOSE.POSE_HEAD.FLIP_TEST", "False"]))
    records = []
    for d in DatasetCatalog.get(args.dataset):
        anns = [a for a in d["annotations"] if not a.get("iscrowd", 0) and "keypoints" in a]
        if not anns:
            continue
        image = cv2.imread(d["file_name"], cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{args.dataset}: cannot read image {d['file_name']}")
        boxes = np.array([BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
                          for a in anns], np.float32)
        heatmaps = teacher_heatmaps(predictor, image, boxes)
        boxes_t = torch.as_tensor(boxes)
        agree = {c: peak_agreement(heatmaps["plain"], heatmaps["mirrored"], c).numpy()
                 for c in AGREEMENT_CELLS}
        pseudo = {name: heatmap_pseudo_labels(heatmaps[name], boxes_t, "softmax_ce", 0.0)
                  for name in ("plain", "flip")}
        for i, ann in enumerate(anns):
            gt = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
            area = annotation_area(ann)
            rec = {"visible": gt[:, 2] == 2}
            for name, (kps, confidence) in pseudo.items():
                xy = kps[i, :, :2].numpy()
                correct = keypoint_similarity(xy, gt[:, :2], area) >= KS_CORRECT
                partner = keypoint_similarity(xy, gt[flip_indices(), :2], area) >= KS_CORRECT
                rec[name] = {"score": confidence[i].numpy(), "correct": correct,
                             "swapped": partner & ~correct}
            for c in AGREEMENT_CELLS:
                rec[f"agree_{c:g}"] = agree[c][i]
            records.append(rec)
    tables = {"plain teacher": joint_rows(records, "plain"),
              "flip teacher": joint_rows(records, "flip")}
    for c in AGREEMENT_CELLS:
        tables[f"flip teacher, plain and mirrored peaks within {c:g} cells"] = joint_rows(
            records, "flip", f"agree_{c:g}")
    headers = ["joints", "count", "share %", "correct %", "L/R swapped %"]
    print(f"{args.dataset}: {len(records)} persons, ground-truth boxes, correct = keypoint "
          f"similarity >= {KS_CORRECT}")
    for title, rows in tables.items():
        print(f"\n{title}\n" + tabulate(rows, headers=headers, tablefmt="pipe", floatfmt=".1f"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({t: [dict(zip(headers, r)) for r in rows] for t, rows in tables.items()},
                      f, indent=1)


if __name__ == "__main__":
    main()
