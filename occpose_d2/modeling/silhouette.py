"""Silhouette coverage: a pose loss that needs only visible masks (beyond the paper;
``MODEL.OCCPOSE.SILHOUETTE``).

The target domain has no pose labels, but it has instance masks (CityPersons with the Cityscapes
instance masks; the synthetic "pd" set likewise), and those constrain a pose: a body is a union
of limbs, so every pixel of a person's *visible* mask lies near the person's skeleton. A pose
whose elbow or wrist is misplaced leaves the pixels of that arm uncovered. The constraint is
one-sided: limbs that pass over no mask pixel are not penalised (they may be occluded).

The loss, per target instance: each joint's expected position under its heatmap (the soft
arg-max of the "softmax_ce" head's cell distribution, differentiable), the skeleton's segments
between those positions (:data:`SKELETON`), and, for every cell of the visible mask, how far its
centre lies outside a tube of radius ``radius x box height`` around the nearest segment; the
loss is the mean of that excess (in box heights) over the mask's cells. Its gradient moves only
joint positions, towards the visible pixels that no limb explains.

Masks that fill their own bounding rectangle (:data:`RECTANGLE_FILL`) are not silhouettes: real
CityPersons boxes with no Cityscapes instance to match get their visible box as a rectangle mask
(``data/datasets/citypersons.py``). Those instances are left out, since a rectangle would pull
the limbs into its corners.
"""

from typing import Tuple

import torch
from torch.nn import functional as F

from ..keypoints import KEYPOINT_CONNECTION_RULES, KEYPOINT_NAMES
from .pose_head import box_cell_centres, cell_probabilities

__all__ = ["SKELETON", "RECTANGLE_FILL", "expected_joints", "segment_distances",
           "rectangular_masks", "silhouette_coverage_loss"]

# A mask whose cells fill at least this share of its bounding rectangle is a box, not a body
# (a standing person's silhouette fills about half of its box).
RECTANGLE_FILL = 0.95

# Joint index pairs of the segments that explain a silhouette: the drawing limbs of
# :data:`~occpose_d2.keypoints.KEYPOINT_CONNECTION_RULES`, plus the torso's two diagonals, so
# that the middle of the torso is near a segment too.
SKELETON: Tuple[Tuple[int, int], ...] = tuple(
    (KEYPOINT_NAMES.index(a), KEYPOINT_NAMES.index(b))
    for a, b in [(a, b) for a, b, _ in KEYPOINT_CONNECTION_RULES]
    + [("left_shoulder", "right_hip"), ("right_shoulder", "left_hip")]
)


def expected_joints(heatmaps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``R x K x S x S`` logits over ``R x 4`` XYXY boxes (pixels) -> ``R x K x 2`` (x, y) in
    pixels: each joint's mean position under its softmax cell distribution, cells at their
    centres (:func:`~.pose_head.box_cell_centres`). Differentiable in the logits."""
    probs = cell_probabilities(heatmaps)
    xs, ys = box_cell_centres(boxes, heatmaps.shape[-1])  # R x S
    x = (probs.sum(dim=2) * xs[:, None]).sum(dim=-1)  # R x K: column marginals x centres
    y = (probs.sum(dim=3) * ys[:, None]).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


def segment_distances(points: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor
                      ) -> torch.Tensor:
    """Euclidean distances ``R x P x L`` from ``R x P x 2`` points to ``R x L x 2`` segments
    (``starts`` to ``ends``; a zero-length segment is its point)."""
    seg = (ends - starts)[:, None]  # R x 1 x L x 2
    rel = points[:, :, None] - starts[:, None]  # R x P x L x 2
    length2 = (seg ** 2).sum(-1).clamp(min=1e-12)
    t = ((rel * seg).sum(-1) / length2).clamp(0, 1)
    # sqrt of a clamped square: finite gradients at distance 0
    return ((rel - t[..., None] * seg) ** 2).sum(-1).clamp(min=1e-12).sqrt()


def rectangular_masks(masks: torch.Tensor) -> torch.Tensor:
    """``R`` bool: the ``R x M x M`` mask's cells (>= 0.5) fill at least :data:`RECTANGLE_FILL`
    of their bounding rectangle (False for an empty mask)."""
    on = masks >= 0.5
    cells = torch.arange(masks.shape[-1], device=masks.device)

    def extent(any_on: torch.Tensor) -> torch.Tensor:  # R x M bool -> R cells first..last
        hit = torch.where(any_on, cells, -1)
        first = torch.where(any_on, cells, masks.shape[-1]).amin(dim=1)
        return (hit.amax(dim=1) - first + 1).clamp(min=0)

    box = extent(on.any(dim=2)) * extent(on.any(dim=1))
    return (box > 0) & (on.sum(dim=(1, 2)) >= RECTANGLE_FILL * box)


def silhouette_coverage_loss(
    joints: torch.Tensor, masks: torch.Tensor, boxes: torch.Tensor, radius: float
) -> torch.Tensor:
    """Mean excess distance of visible pixels outside the skeleton's tube (see the module doc).

    Args:
        joints: ``R x K x 2`` joint positions in pixels (e.g. :func:`expected_joints`).
        masks: ``R x M x M`` visible masks (values in [0, 1]) over ``boxes``.
        boxes: ``R x 4`` XYXY boxes (pixels) the masks cover.
        radius: the tube's radius, as a fraction of each box's height.

    Returns:
        scalar: over the instances with a non-empty mask that is not a rectangle
        (:func:`rectangular_masks`), the mean over their mask cells
        (weighted by the mask's values) of ``relu(d / h - radius)``, with ``d`` the cell centre's
        distance to the nearest segment and ``h`` the box height (so the loss is in box heights);
        a zero that keeps the graph when no such mask is left.
    """
    weights = masks.flatten(1)
    keep = (weights.sum(dim=1) > 0) & ~rectangular_masks(masks)
    if not keep.any():
        return joints.sum() * 0.0
    joints, weights, boxes = joints[keep], weights[keep], boxes[keep]
    side = masks.shape[-1]
    xs, ys = box_cell_centres(boxes, side)  # R x M
    heights = (boxes[:, 3] - boxes[:, 1]).clamp(min=1)[:, None]
    points = torch.stack([xs[:, None, :].expand(-1, side, -1),
                          ys[:, :, None].expand(-1, -1, side)], dim=-1).flatten(1, 2)  # row-major
    a, b = zip(*SKELETON)
    dist = segment_distances(points, joints[:, list(a)], joints[:, list(b)]).amin(dim=-1)
    excess = F.relu(dist / heights - radius)  # R x M*M, in box heights
    return ((excess * weights).sum(dim=1) / weights.sum(dim=1)).mean()
