"""Log-average miss rate (MR^-2) of the official CityPersons protocol, vectorised with numpy.

This is an independent implementation of what the official CityPersons script
(``evaluation/eval_script/eval_MR_multisetup.py`` + its ``coco.py``) computes, so that its
numbers are reproduced to 0.01 MR points (checked against ``reference_eval`` in the tests):

* A ground-truth box is *ignored* when it is an ignore region / non-pedestrian (``ignore``) or
  when its height or visibility falls outside the setup's closed ranges.
* Detections of an image are sorted by score (stable mergesort), cut to ``max_dets`` and kept
  only when ``h_min / 1.25 <= h < h_max * 1.25`` (``EXP_FILTER``).
* Matching is greedy in score order at IoU >= 0.5: a detection takes the unmatched,
  non-ignored box of highest IoU (the last one on ties); otherwise, when some ignored box covers
  it (intersection / detection area >= 0.5), it is dropped (neither TP nor FP); otherwise it is
  a false positive. Ignored boxes absorb any number of detections.
* All kept detections of all images are sorted by score (stable); the miss rate is read at the
  9 FPPI points ``FPPI_POINTS`` (recall at the last detection with FPPI <= point, FPPI = FP /
  number of images) and averaged in log space: ``exp(mean(log(1 - recall)))``.
* Quirks kept on purpose (they change numbers): when no detection has FPPI <= a point, the
  official code reads index -1, i.e. the *final* recall (only possible with fewer than 100
  images); a setup with detections filtered out entirely has recall 0 (MR 100%); a setup without
  any non-ignored box gives NaN (the official code prints -100%).
"""

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

__all__ = [
    "MRSetup",
    "MR_SETUPS",
    "FPPI_POINTS",
    "EXP_FILTER",
    "MRGroundTruth",
    "MRDetections",
    "evaluate_miss_rate",
]

# FPPI points of the official script (log-spaced in [1e-2, 1e0], as printed there).
FPPI_POINTS = np.array([0.0100, 0.0178, 0.0316, 0.0562, 0.1000, 0.1778, 0.3162, 0.5623, 1.0000])
# Detections must have height in [h_min / EXP_FILTER, h_max * EXP_FILTER).
EXP_FILTER = 1.25
IOU_THRESHOLD = 0.5
MAX_DETS = 1000
_H_INF = 1e5**2


@dataclass(frozen=True)
class MRSetup:
    """One evaluation subset: closed ranges of full-box height (px) and visible fraction."""

    key: str
    official_name: str
    height_range: Tuple[float, float]
    vis_range: Tuple[float, float]


# The paper's subsets R, HO, R+HO (Table 4) and two more official setups.
MR_SETUPS: Tuple[MRSetup, ...] = (
    MRSetup("R", "Reasonable", (50, _H_INF), (0.65, _H_INF)),
    MRSetup("HO", "Reasonable_occ=heavy", (50, _H_INF), (0.2, 0.65)),
    MRSetup("R+HO", "All-50 (unofficial; h>=50, vis>=0.2)", (50, _H_INF), (0.2, _H_INF)),
    MRSetup("R_small", "Reasonable_small", (50, 75), (0.65, _H_INF)),
    MRSetup("All", "All", (20, _H_INF), (0.2, _H_INF)),
)


@dataclass
class MRGroundTruth:
    """Ground truth of a whole split, one row per annotation.

    Attributes:
        image_ids: (I,) int, every image of the split (FPPI divides by I).
        ann_image_ids: (N,) int, image of each annotation.
        boxes: (N, 4) float64, full-body boxes ``[x, y, w, h]`` in pixels.
        vis_ratio: (N,) float64, visible area / full-box area.
        ignore: (N,) bool, ignore regions and non-pedestrian classes (ignored in every setup).
    """

    image_ids: np.ndarray
    ann_image_ids: np.ndarray
    boxes: np.ndarray
    vis_ratio: np.ndarray
    ignore: np.ndarray


@dataclass
class MRDetections:
    """Detections: ``image_ids`` (M,) int, ``boxes`` (M, 4) ``[x, y, w, h]`` px, ``scores`` (M,)."""

    image_ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


def _overlaps(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """(D, G) IoU, or intersection / detection area for ``crowd`` (ignored) columns."""
    dx2, dy2 = dt[:, 0] + dt[:, 2], dt[:, 1] + dt[:, 3]
    gx2, gy2 = gt[:, 0] + gt[:, 2], gt[:, 1] + gt[:, 3]
    iw = np.minimum(dx2[:, None], gx2[None]) - np.maximum(dt[:, None, 0], gt[None, :, 0])
    ih = np.minimum(dy2[:, None], gy2[None]) - np.maximum(dt[:, None, 1], gt[None, :, 1])
    inter = iw * ih
    darea = (dt[:, 2] * dt[:, 3])[:, None]
    garea = (gt[:, 2] * gt[:, 3])[None]
    union = np.where(crowd[None], darea, darea + garea - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = inter / union
    return np.where((iw > 0) & (ih > 0), out, 0.0)


def _match_image(
    dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_ignore: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy matching of score-sorted detections of one image.

    Args:
        dt_boxes: (D, 4) detections sorted by decreasing score.
        gt_boxes: (G, 4) boxes, non-ignored first (stable order).
        gt_ignore: (G,) bool.

    Returns:
        ``(tp, ignored)``: two (D,) bool arrays; a detection that is neither is a false positive.
    """
    num_dt = len(dt_boxes)
    tp = np.zeros(num_dt, dtype=bool)
    ignored = np.zeros(num_dt, dtype=bool)
    if num_dt == 0 or len(gt_boxes) == 0:
        return tp, ignored
    ious = _overlaps(dt_boxes, gt_boxes, gt_ignore)
    hits = ious >= IOU_THRESHOLD
    # Detections that hit no non-ignored box cannot take part in the greedy assignment.
    ignored[:] = (hits & gt_ignore[None]).any(axis=1)
    free = ~gt_ignore
    rev = np.arange(len(gt_boxes))[::-1]
    for d in np.flatnonzero((hits & free[None]).any(axis=1)):
        cand = hits[d] & free
        if not cand.any():
            continue
        vals = np.where(cand, ious[d], -1.0)[::-1]
        j = rev[np.argmax(vals)]  # last index of the maximum, like the official '<' test
        free[j] = False
        tp[d] = True
    ignored &= ~tp
    return tp, ignored


def _split_by_image(ids: np.ndarray, image_ids: np.ndarray) -> List[np.ndarray]:
    """Indices of ``ids`` per entry of ``image_ids``, each in original (stable) order."""
    order = np.argsort(ids, kind="mergesort")
    sorted_ids = ids[order]
    starts = np.searchsorted(sorted_ids, image_ids, side="left")
    ends = np.searchsorted(sorted_ids, image_ids, side="right")
    return [order[s:e] for s, e in zip(starts, ends)]


def _recall_at_fppi(tp: np.ndarray, fp: np.ndarray, num_pos: int, num_images: int) -> np.ndarray:
    """(9,) recall at ``FPPI_POINTS`` from score-ordered TP/FP flags (ignored ones removed)."""
    if len(tp) == 0:
        return np.zeros(len(FPPI_POINTS))
    recall = np.cumsum(tp) / num_pos
    fppi = np.cumsum(fp) / num_images
    idx = np.searchsorted(fppi, FPPI_POINTS, side="right") - 1
    return recall[idx]  # idx -1 reads the final recall, as the official code does


def evaluate_miss_rate(
    gt: MRGroundTruth,
    dt: MRDetections,
    setups: Sequence[MRSetup] = MR_SETUPS,
    max_dets: int = MAX_DETS,
) -> Dict[str, Dict[str, float]]:
    """Log-average miss rate per setup.

    Args:
        gt: ground truth of the split (its ``image_ids`` define the images and FPPI's divisor).
        dt: detections; those on images outside ``gt.image_ids`` are not counted.
        setups: subsets to evaluate.
        max_dets: detections kept per image (highest scores).

    Returns:
        ``{setup.key: {"MR": percent, "num_gt": non-ignored boxes, "recall": final recall %}}``;
        MR is NaN for a setup without non-ignored boxes.
    """
    image_ids = np.unique(np.asarray(gt.image_ids, dtype=np.int64))
    gt_per_img = _split_by_image(np.asarray(gt.ann_image_ids, dtype=np.int64), image_ids)
    dt_per_img = _split_by_image(np.asarray(dt.image_ids, dtype=np.int64), image_ids)
    gt_boxes = np.asarray(gt.boxes, dtype=np.float64).reshape(-1, 4)
    dt_boxes = np.asarray(dt.boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(dt.scores, dtype=np.float64)
    # Per image: detections by decreasing score (stable), top max_dets.
    dt_sorted = [d[np.argsort(-scores[d], kind="mergesort")][:max_dets] for d in dt_per_img]

    results: Dict[str, Dict[str, float]] = {}
    for setup in setups:
        (h0, h1), (v0, v1) = setup.height_range, setup.vis_range
        h, vis = gt_boxes[:, 3], np.asarray(gt.vis_ratio, dtype=np.float64)
        ign = np.asarray(gt.ignore, dtype=bool) | (h < h0) | (h > h1) | (vis < v0) | (vis > v1)
        all_scores, all_tp, all_ig = [], [], []
        for g, d in zip(gt_per_img, dt_sorted):
            g = g[np.argsort(ign[g], kind="mergesort")]  # non-ignored first
            dh = dt_boxes[d, 3]
            d = d[(dh >= h0 / EXP_FILTER) & (dh < h1 * EXP_FILTER)]
            tp, dig = _match_image(dt_boxes[d], gt_boxes[g], ign[g])
            all_scores.append(scores[d])
            all_tp.append(tp)
            all_ig.append(dig)
        num_pos = int((~ign).sum())
        if num_pos == 0:
            results[setup.key] = {"MR": float("nan"), "num_gt": 0, "recall": float("nan")}
            continue
        s = np.concatenate(all_scores)
        order = np.argsort(-s, kind="mergesort")
        tp, dig = np.concatenate(all_tp)[order], np.concatenate(all_ig)[order]
        keep = ~dig
        recall = _recall_at_fppi(tp[keep], ~tp[keep], num_pos, len(image_ids))
        with np.errstate(divide="ignore"):
            mr = float(np.exp(np.mean(np.log(1.0 - recall))))
        results[setup.key] = {
            "MR": 100.0 * mr,
            "num_gt": num_pos,
            "recall": 100.0 * float(tp.sum()) / num_pos,
        }
    return results
