"""Ellipse persons as training ``Instances``: model inputs without images on disk.

The tests and ``scripts/benchmark.py`` feed the model mapped dicts built here, with the fields the
mapper gives (``occpose_d2/data/dataset_mapper.py``): ``gt_boxes``, ``gt_classes``, ``gt_masks``,
and ``gt_keypoints`` + ``gt_fully_visible`` (source) or ``gt_vis_boxes`` (target).
"""

from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.structures import BitMasks, Boxes, Instances, Keypoints

from ...domains import DOMAIN_SOURCE
from ...keypoints import NUM_KEYPOINTS

__all__ = ["ellipse_person", "person_instances"]


def ellipse_person(box: Sequence[float], image_size: Tuple[int, int], fully_visible: bool = True
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """A person filling the ellipse inscribed in ``box`` (XYXY pixels).

    Returns:
        its ``H x W`` bool mask and ``13 x 3`` float32 keypoints on a curve inside the ellipse
        (all v = 2, or the last 4 v = 1 when not ``fully_visible``).
    """
    h, w = image_size
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    t = np.linspace(0.1, 0.9, NUM_KEYPOINTS)
    kps = np.stack([cx + 0.4 * rx * np.cos(7 * t), y0 + t * (y1 - y0), np.full_like(t, 2)], 1)
    if not fully_visible:
        kps[-4:, 2] = 1
    return mask, kps.astype(np.float32)


def person_instances(
    boxes: Sequence[Sequence[float]],
    image_size: Tuple[int, int],
    domain: str,
    fully_visible: Optional[Sequence[bool]] = None,
    with_keypoints: Optional[bool] = None,
) -> Instances:
    """Training ``Instances`` of :func:`ellipse_person` persons in ``boxes`` (XYXY pixels).

    Args:
        boxes: N boxes inside the ``(H, W)`` image; ``()`` gives an image without persons.
        domain: "pe" (``gt_fully_visible``) or "pd" (``gt_vis_boxes`` = the boxes).
        fully_visible: per box (default all True); partly visible persons get 4 occluded joints.
        with_keypoints: add ``gt_keypoints`` (default: for the source domain only).
    """
    h, w = image_size
    fully_visible = [True] * len(boxes) if fully_visible is None else list(fully_visible)
    if with_keypoints is None:
        with_keypoints = domain == DOMAIN_SOURCE
    persons = [ellipse_person(b, image_size, fv) for b, fv in zip(boxes, fully_visible)]
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.zeros(len(boxes), dtype=torch.int64)
    masks = (torch.from_numpy(np.stack([m for m, _ in persons])) if persons
             else torch.zeros((0, h, w), dtype=torch.bool))
    inst.gt_masks = BitMasks(masks)
    if with_keypoints:
        kps = np.stack([k for _, k in persons]) if persons else np.zeros((0, NUM_KEYPOINTS, 3))
        inst.gt_keypoints = Keypoints(torch.as_tensor(kps, dtype=torch.float32))
    if domain == DOMAIN_SOURCE:
        inst.gt_fully_visible = torch.tensor(fully_visible[: len(boxes)], dtype=torch.bool)
    else:
        inst.gt_vis_boxes = inst.gt_boxes.clone()
    return inst
