"""Which boxes train the instance heads: ground-truth persons and/or foreground proposals."""

from typing import List, Optional

import torch
from detectron2.structures import Boxes, Instances, pairwise_iou

__all__ = ["TRAIN_BOX_MODES", "jitter_boxes", "select_training_instances"]

TRAIN_BOX_MODES = ("gt", "proposals", "gt+proposals")


def jitter_boxes(boxes: Boxes, jitter: float, image_size) -> Boxes:
    """Move each XYXY coordinate by U(-jitter, jitter) x the box's width (x) or height (y),
    clip to ``image_size`` (h, w) and keep every box at least 1 pixel wide and high."""
    b = boxes.tensor
    if jitter == 0 or len(b) == 0:
        return Boxes(b.clone())
    wh = (b[:, 2:] - b[:, :2]).repeat(1, 2)
    b = b + (torch.rand(b.shape, device=b.device) * 2 - 1) * jitter * wh
    out = Boxes(b)
    out.clip(image_size)
    t = out.tensor
    t[:, 2:] = torch.maximum(t[:, 2:], t[:, :2] + 1)
    return out


def select_training_instances(
    targets: List[Instances],
    proposals: Optional[List[Instances]],
    *,
    train_boxes: str,
    box_jitter: float,
    max_instances: int,
    num_classes: int,
) -> List[Instances]:
    """Person instances that feed the instance heads in one training step.

    Args:
        targets: per image, ground truth with ``gt_boxes``, ``gt_masks`` and optional
            ``gt_keypoints`` / ``gt_fully_visible`` (image_size = network input size).
        proposals: per image, proposals sampled by the detector's ROI heads (``proposal_boxes``,
            ``gt_classes``); needed unless ``train_boxes == "gt"``.
        train_boxes: "gt" (jittered ground-truth boxes), "proposals" (proposals labeled
            foreground, i.e. IoU >= ROI_HEADS.IOU_THRESHOLDS with a person) or "gt+proposals".
        box_jitter: jitter of ground-truth boxes, as a fraction of their size.
        max_instances: at most this many instances per image (a random subset beyond it).
        num_classes: ROI_HEADS.NUM_CLASSES (labels >= it are background).

    Returns:
        per image, Instances whose ``proposal_boxes`` are the chosen boxes and whose ``gt_*``
        fields are those of the matched ground-truth person.
    """
    if train_boxes not in TRAIN_BOX_MODES:
        raise ValueError(f"train_boxes must be one of {TRAIN_BOX_MODES}, got {train_boxes!r}")
    results = []
    for i, target in enumerate(targets):
        device = target.gt_boxes.device
        boxes, index = [], []
        if "gt" in train_boxes.split("+"):
            boxes.append(jitter_boxes(target.gt_boxes, box_jitter, target.image_size).tensor)
            index.append(torch.arange(len(target), device=device))
        if "proposals" in train_boxes.split("+") and len(target) > 0:
            p = proposals[i]
            p = p[(p.gt_classes >= 0) & (p.gt_classes < num_classes)]
            if len(p) > 0:
                boxes.append(p.proposal_boxes.tensor.detach())
                index.append(pairwise_iou(p.proposal_boxes, target.gt_boxes).argmax(dim=1))
        boxes_i = torch.cat(boxes) if boxes else torch.zeros((0, 4), device=device)
        index_i = torch.cat(index) if index else torch.zeros(0, dtype=torch.long, device=device)
        if len(index_i) > max_instances:
            keep = torch.randperm(len(index_i), device=device)[:max_instances]
            boxes_i, index_i = boxes_i[keep], index_i[keep]
        chosen = target[index_i]
        chosen.proposal_boxes = Boxes(boxes_i)
        results.append(chosen)
    return results
