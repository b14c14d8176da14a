"""Copy-paste occluders (beyond the paper; ``INPUT.OCCLUDERS``): in training, a patch cut from a
random target-domain image is pasted over part of a fully visible source ("pe") person, and the
labels follow the pixels.

Why: natural occlusion is what the target domain has and the source lacks. Mask-and-Predict hides
*features* of fully visible persons; this hides *pixels*, with the target's own textures (cars,
facades, other pedestrians), while the source person's joints stay exactly labeled.

What changes for every person under a pasted patch (not only the one it was aimed at):

- ``gt_keypoints``: a visible joint (v = 2) whose pixel is covered becomes occluded-but-labeled
  (v = 1), as the synthetic source and COCO label hidden joints;
- ``gt_masks`` (``BitMasks``, the visible mask): the patch is cut out;
- ``gt_boxes``: unchanged (full-body, amodal boxes);
- ``gt_fully_visible``: unchanged. It says that all the person's joints are labeled from a full
  view, which a pasted patch does not change: such persons still give the paper's pose loss
  (``POSE_HEAD.SUPERVISE fully_visible``) and Mask-and-Predict on top;
- ``gt_vis_boxes`` (target images): the bounding box of what is left of the mask.

The same patches also serve the source persons pasted into target images
(``INPUT.PERSON_PASTE.OCCLUDER_PROB``, :mod:`.person_paste`): there they are aimed at the pasted
persons, which otherwise are occluded only by the target's annotated persons and the image
border, so that labeled persons also stand behind the target's cars, poles and bushes.

Patch shapes, relative to the person's full-body box (w x h px): ``bottom`` (a car or a wall:
the lowest 25-55% of the box, 1-2 box widths wide), ``side`` (a person or a pole beside it: 25-60%
of the width from one side, 60-100% of the height), ``band`` (a vertical strip 15-35% of the
width) and ``blob`` (an ellipse, a bush or a bag: radii 20-45% of w and 15-35% of h). A paste
that would leave less than ``min_visible`` of the aimed person's visible mask is drawn again (3
tries) and otherwise skipped.
"""

from typing import Callable, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from detectron2.data import detection_utils as utils
from detectron2.structures import BitMasks, Instances

from ..keypoints import occlude_covered_joints

__all__ = ["OCCLUDER_SHAPES", "PatchSampler", "occluder_mask", "paste_occluders"]

OCCLUDER_SHAPES = ("bottom", "side", "band", "blob")
_TRIES = 3


def occluder_mask(box: Sequence[float], image_hw: Tuple[int, int], rng,
                  shape: Optional[str] = None) -> np.ndarray:
    """A random occluder region over one person.

    Args:
        box: the person's full-body box XYXY (px).
        image_hw: (H, W) of the image.
        rng: ``np.random`` or a ``np.random.RandomState`` (``uniform``, ``randint``).
        shape: one of :data:`OCCLUDER_SHAPES`; None draws one uniformly.

    Returns:
        bool (H, W), True where the patch goes (may be empty for a box outside the image).
    """
    h_img, w_img = image_hw
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    if shape is None:
        shape = OCCLUDER_SHAPES[rng.randint(len(OCCLUDER_SHAPES))]
    region = np.zeros((h_img, w_img), np.uint8)
    if shape == "bottom":
        top = y1 - h * rng.uniform(0.25, 0.55)
        half = w * rng.uniform(0.5, 1.0)
        cx = (x0 + x1) / 2 + w * rng.uniform(-0.3, 0.3)
        rect = (cx - half, top, cx + half, y1 + 2)
    elif shape == "side":
        width = w * rng.uniform(0.25, 0.6)
        top = y0 + h * rng.uniform(0.0, 0.4)
        rect = (x0 - 2, top, x0 + width, y1 + 2) if rng.uniform() < 0.5 else (
            x1 - width, top, x1 + 2, y1 + 2)
    elif shape == "band":
        width = w * rng.uniform(0.15, 0.35)
        left = x0 + (w - width) * rng.uniform()
        rect = (left, 0.0, left + width, y1 + 2)
    elif shape == "blob":
        center = (int(round(x0 + w * rng.uniform(0.2, 0.8))),
                  int(round(y0 + h * rng.uniform(0.3, 0.9))))
        axes = (max(1, int(round(w * rng.uniform(0.2, 0.45)))),
                max(1, int(round(h * rng.uniform(0.15, 0.35)))))
        cv2.ellipse(region, center, axes, 0.0, 0.0, 360.0, 1, -1)
        return region.astype(bool)
    else:
        raise ValueError(f"occluder shape must be one of {OCCLUDER_SHAPES}, got {shape!r}")
    xa, ya, xb, yb = (int(round(v)) for v in rect)
    region[max(ya, 0):max(yb, 0), max(xa, 0):max(xb, 0)] = 1
    return region.astype(bool)


class PatchSampler:
    """Random patches of a set of images (the target domain's training images)."""

    def __init__(self, file_names: Sequence[str], image_format: str):
        """
        Args:
            file_names: images to cut patches from (non-empty).
            image_format: D2's ``INPUT.FORMAT`` of the training images (e.g. "BGR").
        """
        if not file_names:
            raise ValueError("INPUT.OCCLUDERS: no images to cut occluder patches from")
        self.file_names = list(file_names)
        self.image_format = image_format

    def __call__(self, rng, height: int, width: int) -> np.ndarray:
        """A (height, width, C) uint8 crop of a random image, upscaled first when smaller."""
        img = utils.read_image(self.file_names[rng.randint(len(self.file_names))],
                               format=self.image_format)
        scale = max(height / img.shape[0], width / img.shape[1], 1.0)
        if scale > 1.0:
            size = (int(np.ceil(img.shape[1] * scale)), int(np.ceil(img.shape[0] * scale)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        top = rng.randint(img.shape[0] - height + 1)
        left = rng.randint(img.shape[1] - width + 1)
        return np.ascontiguousarray(img[top:top + height, left:left + width])


def paste_occluders(image: np.ndarray, instances: Instances, prob: float, min_visible: float,
                    patches: Callable[..., np.ndarray], rng,
                    aims: Optional[torch.Tensor] = None) -> int:
    """Paste occluders over the aimed persons of one training image, in place.

    Args:
        image: (H, W, C) uint8, the augmented training image (changed in place).
        instances: its ``Instances`` with ``gt_boxes``, ``gt_masks`` (``BitMasks``) and
            ``gt_keypoints`` (changed in place, see the module doc; ``gt_vis_boxes``, where
            present, follows the masks).
        prob: probability that each aimed person gets a patch, in [0, 1].
        min_visible: least fraction of the aimed person's visible mask a paste may leave.
        patches: ``patches(rng, height, width)`` -> (height, width, C) uint8 image content.
        rng: ``np.random`` or a ``np.random.RandomState``.
        aims: (N,) bool, the persons patches are aimed at; default ``gt_fully_visible`` (the
            source's fully visible persons; none without that field).

    Returns:
        the number of patches pasted.
    """
    if aims is None:
        aims = instances.gt_fully_visible if instances.has("gt_fully_visible") else None
    if prob <= 0 or len(instances) == 0 or aims is None:
        return 0
    if not isinstance(instances.gt_masks, BitMasks):
        raise TypeError("INPUT.OCCLUDERS needs INPUT.MASK_FORMAT 'bitmask'")
    masks = instances.gt_masks.tensor  # (N, H, W) bool
    boxes = instances.gt_boxes.tensor.numpy()
    pasted = 0
    for i in np.nonzero(aims.numpy())[0]:
        if rng.uniform() >= prob:
            continue
        area = int(masks[i].sum())
        for _ in range(_TRIES):
            region = torch.from_numpy(occluder_mask(boxes[i], image.shape[:2], rng))
            if region.any() and int((masks[i] & ~region).sum()) >= min_visible * area:
                break
        else:
            continue
        _apply(image, instances, region, patches, rng)
        pasted += 1
    return pasted


def _apply(image: np.ndarray, instances: Instances, region: torch.Tensor,
           patches: Callable[..., np.ndarray], rng) -> None:
    """Paint ``patches`` content into ``region`` (bool (H, W)) and update every person's labels."""
    ys, xs = torch.nonzero(region, as_tuple=True)
    ya, yb, xa, xb = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    patch = patches(rng, yb - ya, xb - xa)
    inside = region[ya:yb, xa:xb].numpy()
    image[ya:yb, xa:xb][inside] = patch[inside]
    changed = (instances.gt_masks.tensor & region).flatten(1).any(dim=1)
    instances.gt_masks.tensor &= ~region
    if instances.has("gt_vis_boxes") and changed.any():
        instances.gt_vis_boxes.tensor[changed] = (
            instances.gt_masks[changed].get_bounding_boxes().tensor)
    if instances.has("gt_keypoints"):  # (N, K, 3) CPU tensor: its numpy view is changed
        occlude_covered_joints(instances.gt_keypoints.tensor.numpy(), region.numpy())

