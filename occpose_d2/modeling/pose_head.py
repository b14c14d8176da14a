"""Pose encoder-decoder: masked pose features -> 13 keypoint heatmaps, its losses and decoding.

Loss "mse" is MultiPoseNet's heatmap regression: squared error to Gaussian target heatmaps, on
labeled joints inside the box only (normalized by the Gaussian's energy, see :func:`pose_loss`).
Loss "softmax_ce" is Keypoint R-CNN's spatial cross-entropy (one-hot target cell). Both are
averaged over the joints that count.
"""

import functools
import math
from typing import Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec
from detectron2.structures import Keypoints
from detectron2.utils.registry import Registry
from torch.nn import functional as F

from ..keypoints import KEYPOINT_OKS_SIGMAS, NUM_KEYPOINTS
from .head_base import WeightedLossHead, init_head

__all__ = [
    "POSE_HEAD_REGISTRY",
    "BasePoseHead",
    "EncoderDecoderPoseHead",
    "build_pose_head",
    "box_cell_coords",
    "box_cell_centres",
    "cell_probabilities",
    "gaussian_heatmaps",
    "pose_loss",
    "decode_heatmaps",
    "decode_expected_oks",
    "expected_oks",
    "expected_similarity_maps",
    "pairwise_oks",
    "pose_nms",
    "unmirror_heatmaps",
    "POSE_LOSS_TYPES",
    "RESCORE_BY",
    "DECODERS",
]

# Heatmap losses of :func:`pose_loss` (``MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE``).
POSE_LOSS_TYPES = ("mse", "softmax_ce")

# What pose rescoring multiplies an instance's box score by (``POSE_HEAD.RESCORE_BY``): the mean
# joint score (decoded peak scores) or the pose's expected OKS (:func:`expected_oks`).
RESCORE_BY = ("joint_score", "expected_oks")

# How joints are placed from the heatmaps (``POSE_HEAD.DECODE``): at the heatmap's peak
# (:func:`decode_heatmaps`) or where the expected OKS is highest (:func:`decode_expected_oks`).
DECODERS = ("peak", "expected_oks")

POSE_HEAD_REGISTRY = Registry("POSE_HEAD")
POSE_HEAD_REGISTRY.__doc__ = """
Registry for the pose encoder-decoder, which maps the masked pose features (R x C x M x M) to
keypoint heatmaps (R x 13 x S x S, S = MODEL.OCCPOSE.POSE_HEAD.HEATMAP_SIZE).

The registered object is called with `obj(cfg, input_shape)`.
"""


def box_cell_coords(
    keypoints: torch.Tensor, boxes: torch.Tensor, size: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Joints projected onto an ``S x S`` grid laid over their boxes.

    A joint at image point x maps to the continuous grid coordinate u = (x - x0) * S / w; cell
    i covers [i, i + 1), its centre i + 0.5 (the convention of D2's ``heatmaps_to_keypoints``).

    Args:
        keypoints: ``R x K x 2+`` (x, y, ...) in the same pixel frame as ``boxes``.
        boxes: ``R x 4`` XYXY boxes.
        size: grid side S, in cells.

    Returns:
        u, v: ``R x K`` grid coordinates; inside: ``R x K`` bool, the joint lies in its box.
    """
    x0, y0, x1, y1 = (boxes[:, i:i + 1] for i in range(4))
    u = (keypoints[..., 0] - x0) * size / (x1 - x0).clamp(min=1e-6)
    v = (keypoints[..., 1] - y0) * size / (y1 - y0).clamp(min=1e-6)
    return u, v, (u >= 0) & (u <= size) & (v >= 0) & (v <= size)


def box_cell_centres(boxes: torch.Tensor, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pixel positions of the cell centres of an ``S x S`` grid laid over each ``R x 4`` XYXY box
    (the inverse of :func:`box_cell_coords` at u = i + 0.5; box sides clamped to >= 1 px).

    Returns:
        xs, ys: ``R x S`` column and row centres, in the boxes' pixel frame and dtype.
    """
    centres = (torch.arange(size, device=boxes.device, dtype=boxes.dtype) + 0.5) / size
    xs = boxes[:, 0:1] + centres * (boxes[:, 2] - boxes[:, 0]).clamp(min=1)[:, None]
    ys = boxes[:, 1:2] + centres * (boxes[:, 3] - boxes[:, 1]).clamp(min=1)[:, None]
    return xs, ys


def gaussian_heatmaps(
    keypoints: torch.Tensor, boxes: torch.Tensor, size: int, sigma: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Gaussian target heatmaps of joints relative to their boxes (grid: :func:`box_cell_coords`).

    Args:
        keypoints: ``R x K x 3`` (x, y, v) in the same pixel frame as ``boxes``.
        boxes: ``R x 4`` XYXY boxes.
        size: heatmap side S, in cells.
        sigma: standard deviation of the Gaussians, in heatmap cells.

    Returns:
        targets ``R x K x S x S`` with peak 1 at the joint; valid ``R x K`` bool (v > 0 and the
        joint inside its box).
    """
    u, v, inside = box_cell_coords(keypoints, boxes, size)
    valid = (keypoints[..., 2] > 0) & inside
    centers = torch.arange(size, device=boxes.device, dtype=torch.float32) + 0.5
    gx = torch.exp(-((centers - u[..., None]) ** 2) / (2 * sigma**2))
    gy = torch.exp(-((centers - v[..., None]) ** 2) / (2 * sigma**2))
    return gy[..., :, None] * gx[..., None, :], valid


def pose_loss(
    heatmaps: torch.Tensor, keypoints: torch.Tensor, boxes: torch.Tensor, loss_type: str,
    sigma: float,
) -> torch.Tensor:
    """Heatmap loss of predicted ``R x K x S x S`` heatmaps against ``R x K x 3`` ground truth.

    "mse": sum over the S x S cells of the squared error to :func:`gaussian_heatmaps`, averaged
    over the valid joints and divided by a Gaussian's energy pi * sigma^2 (so an all-zero
    prediction scores about 1 whatever S and sigma; MultiPoseNet's L2 up to that constant, which
    keeps its gradients on the scale of the other losses). "softmax_ce": cross-entropy of
    the S*S-way softmax against the joint's cell, averaged over the valid joints. Returns a zero
    that keeps the graph when no joint is valid.
    """
    size = heatmaps.shape[-1]
    if loss_type == "mse":
        targets, valid = gaussian_heatmaps(keypoints, boxes, size, sigma)
        if not valid.any():
            return heatmaps.sum() * 0.0
        sq_err = ((heatmaps[valid] - targets[valid]) ** 2).sum(dim=(1, 2))
        return sq_err.mean() / (math.pi * sigma**2)
    if loss_type == "softmax_ce":
        if heatmaps.numel() == 0:
            return heatmaps.sum() * 0.0
        cells, valid = Keypoints(keypoints).to_heatmap(boxes, size)
        valid = valid.bool()
        if not valid.any():
            return heatmaps.sum() * 0.0
        logits = heatmaps.flatten(2)[valid]
        return F.cross_entropy(logits, cells[valid], reduction="mean")
    raise ValueError(f"Unknown pose loss type {loss_type!r}, expected one of {POSE_LOSS_TYPES}")


def unmirror_heatmaps(heatmaps: torch.Tensor, flip_perm: torch.Tensor) -> torch.Tensor:
    """``R x K x S x S`` heatmaps predicted on the horizontally mirrored boxes -> the same
    heatmaps read in the unmirrored image: columns reversed and each joint's channel taken from
    its left / right partner (``flip_perm``, :func:`~occpose_d2.keypoints.flip_indices`)."""
    return heatmaps.flip(-1)[:, flip_perm]


# Sub-cell steps of the decoder's peak search (per heatmap cell, each axis).
_SUBCELL_STEPS = 16
# PyTorch's (and ONNX Resize's default) bicubic coefficient.
_CUBIC_A = -0.75


def _cubic(d: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel (a = -0.75, PyTorch's bicubic) at distances ``d``."""
    a, d = _CUBIC_A, d.abs()
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


@functools.cache
def _subcell_weights(steps: int) -> torch.Tensor:
    """``(2 * steps + 1) x 6`` bicubic weights of the samples at offsets -2..3 from a cell, for
    the points at offsets ``k / steps - 1`` (k = 0..2 * steps) from it; rows sum to 1."""
    offsets = torch.arange(-steps, steps + 1, dtype=torch.float64) / steps
    taps = torch.arange(-2, 4, dtype=torch.float64)
    return _cubic(offsets[:, None] - taps[None, :]).float()


def _argmax_2d(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Max, row and column of the first maximum of each ``A x B`` map of ``R x K x A x B``
    (row-major order, as a flat arg-max). Two reductions instead of a flattening reshape: an
    exported reshape of an empty (R = 0) batch fails in ONNX Runtime."""
    row_max, cols = x.max(dim=3)
    peak, row = row_max.max(dim=2)
    return peak, row, cols.gather(2, row[..., None])[..., 0]


def _pick_rows(index: torch.Tensor, size: int) -> torch.Tensor:
    """``R x K x T`` indices (clamped to [0, size - 1], i.e. border repeated) -> one-hot
    ``R x K x T x size`` float matrices that pick those rows by matrix product."""
    index = index.clamp(0, size - 1)
    return (index[..., None] == torch.arange(size, device=index.device)).float()


def decode_heatmaps(heatmaps: torch.Tensor, boxes: torch.Tensor, loss_type: str) -> torch.Tensor:
    """``R x K x S x S`` heatmaps + ``R x 4`` XYXY boxes -> ``R x K x 3`` (x, y, score) in pixels.

    The joint is the maximum of the maps' bicubic interpolant (PyTorch's ``bicubic``,
    ``align_corners=False``, border samples repeated: what D2's ``heatmaps_to_keypoints`` resizes
    with), searched on a grid of 1/16 cell within one cell of the arg-max cell and inside the box.
    D2 searches the same interpolant on the box's pixel grid (one resize per box, a Python loop);
    this search is vectorised and traceable, so eager inference and the exported model
    (ONNX / TorchScript) run this one function. Positions differ from D2's by its pixel rounding
    (under 1 px on single-peak maps). Heatmap coordinate u maps to pixel ``x0 + u * w / S`` (cell
    i covers [i, i + 1)). The score is the peak value for "mse" (about 1 for a confident joint)
    and, for "softmax_ce", the peak's softmax probability normalised over the S x S cells, as
    D2's. Non-finite values (a diverged model) decode to score 0 instead of tripping D2's
    assertion.
    """
    maps = torch.nan_to_num(heatmaps.detach(), nan=-1e4, posinf=1e4, neginf=-1e4)
    boxes = boxes.detach()
    side = maps.shape[-1]
    steps = _SUBCELL_STEPS
    weights = _subcell_weights(steps).to(maps)  # P x 6, P = 2 * steps + 1 (the maps' dtype)
    _, cy, cx = _argmax_2d(maps)  # R x K
    taps = torch.arange(-2, 4, device=maps.device)
    # Bicubic interpolant on the P x P points around (cy, cx), from its 6 x 6 samples.
    pick_y = weights @ _pick_rows(cy[..., None] + taps, side).to(maps)  # R x K x P x S
    pick_x = weights @ _pick_rows(cx[..., None] + taps, side).to(maps)
    fine = pick_y @ maps @ pick_x.transpose(-1, -2)  # R x K x P x P
    # Point positions in cell units; only those inside the box ([-0.5, S - 0.5]) count.
    offsets = torch.arange(-steps, steps + 1, device=maps.device) / steps
    sy = cy[..., None] + offsets
    sx = cx[..., None] + offsets
    inside = ((sy >= -0.5) & (sy <= side - 0.5))[..., :, None] \
        & ((sx >= -0.5) & (sx <= side - 0.5))[..., None, :]
    peak, py, px = _argmax_2d(fine.masked_fill(~inside, float("-inf")))
    u = cx + (px - steps) / steps + 0.5
    v = cy + (py - steps) / steps + 0.5
    widths = (boxes[:, 2] - boxes[:, 0]).clamp(min=1)[:, None]
    heights = (boxes[:, 3] - boxes[:, 1]).clamp(min=1)[:, None]
    x = boxes[:, 0:1] + u * widths / side
    y = boxes[:, 1:2] + v * heights / side
    if loss_type == "mse":
        score = peak
    else:
        score = 1.0 / (maps - peak[..., None, None]).exp().sum(dim=(2, 3))
    return torch.stack([x, y, score], dim=2)


def cell_probabilities(heatmaps: torch.Tensor) -> torch.Tensor:
    """``R x K x S x S`` logits -> each joint's softmax distribution over its ``S x S`` cells
    (without a reshape: the exported graph then runs for R = 0 too)."""
    exp = (heatmaps - heatmaps.amax(dim=(2, 3), keepdim=True)).exp()
    return exp / exp.sum(dim=(2, 3), keepdim=True)


def _oks_scales(areas: torch.Tensor) -> torch.Tensor:
    """``R x K``: COCO's per-joint similarity denominators ``2 area (2 sigma)^2`` (px^2) for ``R``
    person areas (px^2, clamped to >= 1) and the 13 OKS sigmas; ``exp(-d^2 / scale)`` is the
    keypoint similarity of a joint ``d`` px away."""
    k2 = (2 * torch.tensor(KEYPOINT_OKS_SIGMAS, device=areas.device, dtype=areas.dtype)) ** 2
    return 2 * areas.clamp(min=1)[:, None] * k2


def _similarity_kernels(
    points_x: torch.Tensor, points_y: torch.Tensor, boxes: torch.Tensor, areas: torch.Tensor,
    side: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """COCO's per-joint similarity between points and the cell centres of an ``S x S`` grid over
    each box, split by axis (``exp(-(dx^2 + dy^2) / s) = exp(-dx^2 / s) exp(-dy^2 / s)`` with
    ``s = 2 area (2 sigma)^2``).

    Args:
        points_x, points_y: ``R x K x P`` point coordinates in pixels (P points per joint;
            ``R x 1 x P``: the same points for every joint).
        boxes: ``R x 4`` XYXY boxes; areas: ``R`` person areas in px^2 (clamped to >= 1).
        side: S.

    Returns:
        x and y kernels, each ``R x K x P x S`` (point, cell column / row).
    """
    xs, ys = box_cell_centres(boxes, side)  # R x S
    scale = _oks_scales(areas.to(boxes.dtype))[..., None, None]  # R x K x 1 x 1
    kx = torch.exp(-(points_x[..., None] - xs[:, None, None, :]) ** 2 / scale)
    ky = torch.exp(-(points_y[..., None] - ys[:, None, None, :]) ** 2 / scale)
    return kx, ky


def expected_oks(
    heatmaps: torch.Tensor, boxes: torch.Tensor, keypoints: torch.Tensor, areas: torch.Tensor
) -> torch.Tensor:
    """Each pose's OKS expected under its own heatmaps: ``R`` values in [0, 1].

    Each joint's ``S x S`` logits are read as a softmax distribution over the cells (the
    "softmax_ce" head's meaning) of where the true joint lies, at the cell centres of its box.
    The joint's expected keypoint similarity is the mean over that distribution of COCO's
    ``exp(-d^2 / (2 * area * (2 sigma)^2))``, with d the distance from the decoded joint, sigma
    its OKS sigma (:data:`~occpose_d2.keypoints.KEYPOINT_OKS_SIGMAS`) and ``area`` the person's
    area; the pose's value is the mean over the 13 joints, as OKS averages them. A confident,
    peaked map gives about 1; a spread or multi-peaked one (a joint the head cannot place) gives
    less, and more so for a small person and a joint with a small sigma. Scale-free: pixels
    may be of any frame as long as all four inputs share it. Traceable.

    Args:
        heatmaps: ``R x K x S x S`` logits over ``boxes``.
        boxes: ``R x 4`` XYXY boxes the heatmaps cover (pixels).
        keypoints: ``R x K x 2+`` decoded joints (x, y, ...) in pixels.
        areas: ``R`` person areas in px^2 (the visible-mask area, as the COCO-style ground truth
            of the keypoint datasets here; clamped to >= 1).
    """
    kx, ky = _similarity_kernels(keypoints[:, :, 0:1], keypoints[:, :, 1:2], boxes, areas,
                                 heatmaps.shape[-1])  # R x K x 1 x S
    similarity = ky @ cell_probabilities(heatmaps) @ kx.transpose(-1, -2)  # R x K x 1 x 1
    return similarity[..., 0, 0].mean(dim=1)


def expected_similarity_maps(
    heatmaps: torch.Tensor, boxes: torch.Tensor, areas: torch.Tensor
) -> torch.Tensor:
    """``R x K x S x S``: at each cell centre, the keypoint similarity that a joint placed there
    would have in expectation under the joint's heatmap distribution (as :func:`expected_oks`):
    the cell probabilities blurred by the joint's OKS kernel, whose width is its OKS tolerance
    for a person of ``areas`` (``R``, px^2) and so differs per joint and per person. Its
    maximum is the placement that maximises the joint's expected OKS."""
    side = heatmaps.shape[-1]
    xs, ys = box_cell_centres(boxes, side)
    # R x 1 x S points, shared by the joints (broadcast, not expanded: traced sizes stay dynamic)
    kx, ky = _similarity_kernels(xs[:, None], ys[:, None], boxes, areas, side)
    return ky @ cell_probabilities(heatmaps) @ kx.transpose(-1, -2)


def decode_expected_oks(
    heatmaps: torch.Tensor, boxes: torch.Tensor, areas: torch.Tensor
) -> torch.Tensor:
    """``R x K x S x S`` logits + ``R x 4`` XYXY boxes + ``R`` person areas (px^2) ->
    ``R x K x 3`` (x, y, score) in pixels, each joint placed where its expected keypoint
    similarity is highest (the maximum of :func:`expected_similarity_maps`, refined as
    :func:`decode_heatmaps` refines a peak) instead of at its heatmap's peak. A single sharp peak
    gives the same place; a broad or multi-peaked map (a joint the head is unsure of, often an
    occluded one) gives the place that is close to most of its probability mass, at the scale
    OKS tolerates for that joint and person. The score is :func:`decode_heatmaps`'s peak
    probability ("softmax_ce"), so joint scores do not depend on the decoder."""
    similarity = expected_similarity_maps(heatmaps, boxes, areas)
    placed = decode_heatmaps(similarity, boxes, "mse")
    scores = decode_heatmaps(heatmaps, boxes, "softmax_ce")[..., 2:]
    return torch.cat([placed[..., :2], scores], dim=2)


def pairwise_oks(keypoints: torch.Tensor, areas: torch.Tensor) -> torch.Tensor:
    """``N x N`` COCO OKS between ``N x K x 2+`` poses (x, y, ... in pixels), every joint
    counting: entry ``[i, j]`` scores pose j against pose i as the reference, with pose i's area
    (``N`` px^2, clamped to >= 1) and the 13 OKS sigmas. Traceable, and for N = 0 too."""
    d2 = ((keypoints[:, None, :, :2] - keypoints[None, :, :, :2]) ** 2).sum(dim=-1)  # N x N x K
    return torch.exp(-d2 / _oks_scales(areas.to(keypoints.dtype))[:, None]).mean(dim=-1)


def pose_nms(
    keypoints: torch.Tensor, scores: torch.Tensor, areas: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Non-maximum suppression of poses by OKS instead of box IoU (top-down pose estimators'
    OKS-NMS), in its parallel form (YOLACT's Fast NMS): pose j is dropped when a pose of higher
    score (equal scores: the earlier one) has OKS > ``threshold`` with it, measured with the
    higher pose's area (:func:`pairwise_oks`). Unlike greedy NMS a dropped pose still drops
    others; at thresholds near 1 that seldom differs. Two persons whose boxes overlap keep
    both detections as long as their poses differ. Traceable (no sort, no loop).

    Args:
        keypoints: ``N x K x 2+`` poses in pixels; scores: ``N``; areas: ``N`` person areas
            (px^2), e.g. the visible-mask areas of
            :func:`~occpose_d2.modeling.instance_heads.visible_areas`.
        threshold: OKS in (0, 1].

    Returns:
        ``N`` bool: the poses kept.
    """
    order = scores.new_ones(scores.shape).cumsum(dim=0)  # 1..N, a traced graph keeps N dynamic
    before = (scores[:, None] > scores[None, :]) | (
        (scores[:, None] == scores[None, :]) & (order[:, None] < order[None, :]))
    return ~((pairwise_oks(keypoints, areas) > threshold) & before).any(dim=0)


class BasePoseHead(WeightedLossHead):
    """Pose head base: ``layers`` maps ``R x C x M x M`` masked features to heatmaps (resized to
    ``R x K x S x S``); ``losses(heatmaps, keypoints, boxes)`` is ``{"loss_pose": gamma *
    pose_loss}`` (:func:`pose_loss`)."""

    cfg_node = "POSE_HEAD"
    loss_name = "loss_pose"

    @configurable
    def __init__(
        self, *, num_keypoints: int = NUM_KEYPOINTS, heatmap_size: int, loss_type: str = "mse",
        sigma: float = 2.0, loss_weight: float = 1.0,
    ):
        """
        Args:
            num_keypoints: heatmaps per instance (13).
            heatmap_size: side S of the predicted heatmaps, in cells.
            loss_type: "mse" or "softmax_ce" (see :func:`pose_loss`).
            sigma: Gaussian standard deviation for "mse", in heatmap cells.
            loss_weight: gamma of Eq. (3).
        """
        super().__init__(loss_weight=loss_weight)
        self.num_keypoints = num_keypoints
        self.heatmap_size = heatmap_size
        self.loss_type = loss_type
        self.sigma = sigma

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        p = cfg.MODEL.OCCPOSE.POSE_HEAD
        return {**super().from_config(cfg, input_shape), "num_keypoints": NUM_KEYPOINTS,
                "heatmap_size": p.HEATMAP_SIZE, "loss_type": p.LOSS_TYPE,
                "sigma": p.HEATMAP_SIGMA}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``R x C x M x M`` masked features -> ``R x K x S x S`` heatmaps."""
        x = self.layers(x)
        if x.shape[-1] != self.heatmap_size:
            x = F.interpolate(x, size=self.heatmap_size, mode="bilinear", align_corners=False)
        return x

    def loss(self, heatmaps: torch.Tensor, keypoints: torch.Tensor, boxes: torch.Tensor
             ) -> torch.Tensor:
        return pose_loss(heatmaps, keypoints, boxes, self.loss_type, self.sigma)


@POSE_HEAD_REGISTRY.register()
class EncoderDecoderPoseHead(BasePoseHead):
    """A small U-Net: 3x3 conv at M, two stride-2 convs (M/2, M/4), two upsample + skip + conv
    steps back to M, and a 4x4 stride-2 deconv to 2M (resized to S when S != 2M)."""

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dim: int, **kwargs):
        """
        Args:
            input_shape: channels and side M of the masked features.
            conv_dim: channels of every conv layer.
        """
        super().__init__(**kwargs)
        c = conv_dim
        self.enc1 = Conv2d(input_shape.channels, c, 3, padding=1, activation=F.relu)
        self.enc2 = Conv2d(c, c, 3, stride=2, padding=1, activation=F.relu)
        self.enc3 = Conv2d(c, c, 3, stride=2, padding=1, activation=F.relu)
        self.dec2 = Conv2d(c, c, 3, padding=1, activation=F.relu)
        self.dec1 = Conv2d(c, c, 3, padding=1, activation=F.relu)
        self.predictor = ConvTranspose2d(c, self.num_keypoints, 4, stride=2, padding=1)
        init_head((self.enc1, self.enc2, self.enc3, self.dec2, self.dec1), self.predictor)

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(e2 + F.interpolate(e3, size=e2.shape[-2:], mode="nearest"))
        d1 = self.dec1(e1 + F.interpolate(d2, size=e1.shape[-2:], mode="nearest"))
        return self.predictor(d1)


def build_pose_head(cfg, input_shape: ShapeSpec) -> BasePoseHead:
    """Build the pose encoder-decoder from ``cfg.MODEL.OCCPOSE.POSE_HEAD.NAME``."""
    return POSE_HEAD_REGISTRY.get(cfg.MODEL.OCCPOSE.POSE_HEAD.NAME)(cfg, input_shape)
