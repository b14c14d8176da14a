"""Drawing in the paper's Fig. 3 convention, on top of D2's ``Visualizer``.

Ground truth in red, detections in green, the predicted pose in blue. Joints that the model
flags as occluded (``pred_keypoint_visible`` False: not on the predicted visible mask) are drawn
as hollow rings, visible joints as filled dots, so a reader sees which parts of a pose were
inferred behind an occluder.
"""

from typing import Optional, Sequence

import numpy as np
from detectron2.structures import BoxMode, Instances
from detectron2.utils.visualizer import Visualizer
from matplotlib.patches import Circle

from .keypoints import KEYPOINT_CONNECTION_RULES, KEYPOINT_NAMES

__all__ = ["draw_fig3", "GT_COLOR", "DET_COLOR", "POSE_COLOR"]

GT_COLOR = (1.0, 0.0, 0.0)
DET_COLOR = (0.0, 0.8, 0.0)
POSE_COLOR = (0.1, 0.3, 1.0)
_LIMBS = [
    (KEYPOINT_NAMES.index(a), KEYPOINT_NAMES.index(b)) for a, b, _ in KEYPOINT_CONNECTION_RULES
]


def _draw_pose(vis: Visualizer, kps: np.ndarray, visible: Optional[np.ndarray], radius: float):
    for a, b in _LIMBS:
        vis.draw_line([kps[a, 0], kps[b, 0]], [kps[a, 1], kps[b, 1]], color=POSE_COLOR,
                      linewidth=1.5)
    for j, (x, y) in enumerate(kps[:, :2]):
        filled = True if visible is None else bool(visible[j])
        if filled:
            vis.draw_circle((x, y), color=POSE_COLOR, radius=radius)
        else:  # occluded joint: a hollow ring
            vis.output.ax.add_patch(
                Circle((x, y), radius=radius * 1.6, fill=False, color=POSE_COLOR,
                       linewidth=max(vis.output.scale, 1))
            )


def draw_fig3(
    image_rgb: np.ndarray,
    predictions: Optional[Instances] = None,
    gt_annotations: Optional[Sequence[dict]] = None,
    score_thresh: float = 0.5,
    scale: float = 2.0,
) -> np.ndarray:
    """Draw ground truth (red boxes), detections (green boxes) and poses (blue).

    Args:
        image_rgb: H x W x 3 uint8 RGB image.
        predictions: Instances in image coordinates with ``pred_boxes``, ``scores`` and
            optionally ``pred_keypoints`` (N x 13 x 3) and ``pred_keypoint_visible`` (N x 13).
        gt_annotations: D2 annotation dicts (``bbox``, ``bbox_mode``); crowd ones are skipped.
        score_thresh: detections below this score are not drawn.
        scale: output magnification (small synthetic images are hard to read at 1x).

    Returns:
        The drawn RGB image, uint8, about ``scale`` times the input size.
    """
    vis = Visualizer(image_rgb, scale=scale)
    radius = max(1.5, 0.006 * max(image_rgb.shape[:2]))
    for ann in gt_annotations or []:
        if ann.get("iscrowd", 0):
            continue
        box = BoxMode.convert(ann["bbox"], ann["bbox_mode"], BoxMode.XYXY_ABS)
        vis.draw_box(box, edge_color=GT_COLOR, line_style="--")
    if predictions is not None and len(predictions):
        keep = predictions.scores >= score_thresh
        preds = predictions[keep].to("cpu")
        for i in range(len(preds)):
            vis.draw_box(preds.pred_boxes.tensor[i].numpy(), edge_color=DET_COLOR)
            if preds.has("pred_keypoints"):
                visible = (preds.pred_keypoint_visible[i].numpy()
                           if preds.has("pred_keypoint_visible") else None)
                _draw_pose(vis, preds.pred_keypoints[i].numpy(), visible, radius)
    return vis.output.get_image()
