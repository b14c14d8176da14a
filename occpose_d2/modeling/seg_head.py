"""Segmentation decoder D_Seg: F_DI -> visible-mask logits at twice the pooler resolution."""

from typing import List

import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec, cat
from detectron2.structures import Boxes, Instances
from detectron2.utils.registry import Registry
from torch import nn
from torch.nn import functional as F

from .head_base import WeightedLossHead, init_head

__all__ = [
    "SEG_HEAD_REGISTRY",
    "BaseSegHead",
    "DeconvSegHead",
    "build_seg_head",
    "seg_targets",
    "seg_loss",
]

SEG_HEAD_REGISTRY = Registry("SEG_HEAD")
SEG_HEAD_REGISTRY.__doc__ = """
Registry for the segmentation decoder D_Seg, which predicts one class-agnostic visible-mask
logit map per instance (R x 1 x M x M, M = 2 x MODEL.OCCPOSE.POOLER_RESOLUTION) from F_DI.

The registered object is called with `obj(cfg, input_shape)`.
"""


def seg_targets(instances: List[Instances], boxes: List[Boxes], side: int) -> torch.Tensor:
    """Ground-truth visible masks cropped to ``boxes`` and resized, as D2's ``mask_rcnn_loss``.

    Args:
        instances: per image, Instances with ``gt_masks`` (BitMasks or PolygonMasks), one row per
            box of ``boxes``.
        boxes: per image, the boxes (XYXY, pixels of the network input) the features came from.
        side: output side M, in cells.

    Returns:
        ``R x M x M`` float32 tensor in {0, 1} (R = total boxes).
    """
    masks = [
        inst.gt_masks.crop_and_resize(b.tensor, side).to(torch.float32)
        for inst, b in zip(instances, boxes)
        if len(inst) > 0
    ]
    if not masks:
        device = boxes[0].tensor.device if boxes else torch.device("cpu")
        return torch.zeros((0, side, side), device=device)
    return (cat(masks, dim=0) > 0.5).to(torch.float32)


def seg_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of ``R x 1 x M x M`` logits against ``R x M x M`` {0, 1}
    targets; a zero that keeps the graph when R = 0."""
    if logits.numel() == 0:
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[:, 0], targets, reduction="mean")


class BaseSegHead(WeightedLossHead):
    """D_Seg base: ``layers`` maps ``R x D x P x P`` F_DI to ``R x 1 x 2P x 2P`` visible-mask
    logits; ``losses(logits, targets)`` is ``{"loss_seg": alpha * BCE}`` (:func:`seg_loss`,
    targets ``R x 2P x 2P``)."""

    cfg_node = "SEG_HEAD"
    loss_name = "loss_seg"

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return seg_loss(logits, targets)


@SEG_HEAD_REGISTRY.register()
class DeconvSegHead(BaseSegHead):
    """``num_conv`` 3x3 conv-ReLU, 2x2 stride-2 deconv-ReLU, 1x1 conv to one logit map (Mask
    R-CNN style; Mask R-CNN's head has 4 convs)."""

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dim: int, num_conv: int = 1, **kwargs):
        """
        Args:
            input_shape: channels of F_DI.
            conv_dim: channels of the conv and deconv layers.
            num_conv: number of 3x3 conv layers before the deconv (>= 1).
        """
        super().__init__(**kwargs)
        if num_conv < 1:
            raise ValueError(f"num_conv must be >= 1, got {num_conv}")
        self.conv = Conv2d(input_shape.channels, conv_dim, 3, padding=1, activation=F.relu)
        # Convs after the first (checkpoints of the one-conv head keep their names).
        self.extra_convs = nn.ModuleList(
            Conv2d(conv_dim, conv_dim, 3, padding=1, activation=F.relu)
            for _ in range(num_conv - 1)
        )
        self.deconv = ConvTranspose2d(conv_dim, conv_dim, kernel_size=2, stride=2)
        self.predictor = Conv2d(conv_dim, 1, kernel_size=1)
        init_head((self.conv, *self.extra_convs, self.deconv), self.predictor)

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        return {**super().from_config(cfg, input_shape),
                "num_conv": cfg.MODEL.OCCPOSE.SEG_HEAD.NUM_CONV}

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        for conv in self.extra_convs:
            x = conv(x)
        return self.predictor(F.relu(self.deconv(x)))


def build_seg_head(cfg, input_shape: ShapeSpec) -> BaseSegHead:
    """Build D_Seg from ``cfg.MODEL.OCCPOSE.SEG_HEAD.NAME``."""
    return SEG_HEAD_REGISTRY.get(cfg.MODEL.OCCPOSE.SEG_HEAD.NAME)(cfg, input_shape)
