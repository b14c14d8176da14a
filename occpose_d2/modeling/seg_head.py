"""Segmentation decoder D_Seg: F_DI -> visible-mask logits at twice the pooler resolution."""

from typing import Dict, List

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec, cat
from detectron2.structures import Boxes, Instances
from detectron2.utils.registry import Registry
from torch import nn
from torch.nn import functional as F

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


class BaseSegHead(nn.Module):
    """D_Seg base: subclasses define ``layers``; this class owns the weighted loss."""

    @configurable
    def __init__(self, *, loss_weight: float = 0.5):
        """
        Args:
            loss_weight: alpha of Eq. (3), multiplied onto the BCE loss.
        """
        super().__init__()
        self.loss_weight = loss_weight

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        return {"loss_weight": cfg.MODEL.OCCPOSE.SEG_HEAD.LOSS_WEIGHT}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``R x D x P x P`` F_DI -> ``R x 1 x 2P x 2P`` visible-mask logits."""
        return self.layers(x)

    def losses(self, logits: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``{"loss_seg": alpha * BCE}`` for logits ``R x 1 x M x M``, targets ``R x M x M``."""
        return {"loss_seg": self.loss_weight * seg_loss(logits, targets)}

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@SEG_HEAD_REGISTRY.register()
class DeconvSegHead(BaseSegHead):
    """3x3 conv-ReLU, 2x2 stride-2 deconv-ReLU, 1x1 conv to one logit map (Mask R-CNN style)."""

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dim: int, **kwargs):
        """
        Args:
            input_shape: channels of F_DI.
            conv_dim: channels of the conv and deconv layers.
        """
        super().__init__(**kwargs)
        self.conv = Conv2d(input_shape.channels, conv_dim, 3, padding=1, activation=F.relu)
        self.deconv = ConvTranspose2d(conv_dim, conv_dim, kernel_size=2, stride=2)
        self.predictor = Conv2d(conv_dim, 1, kernel_size=1)
        for layer in (self.conv, self.deconv):
            weight_init.c2_msra_fill(layer)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.constant_(self.predictor.bias, 0.0)

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        ret = super().from_config(cfg, input_shape)
        ret.update(input_shape=input_shape, conv_dim=cfg.MODEL.OCCPOSE.SEG_HEAD.CONV_DIM)
        return ret

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor(F.relu(self.deconv(self.conv(x))))


def build_seg_head(cfg, input_shape: ShapeSpec) -> BaseSegHead:
    """Build D_Seg from ``cfg.MODEL.OCCPOSE.SEG_HEAD.NAME``."""
    return SEG_HEAD_REGISTRY.get(cfg.MODEL.OCCPOSE.SEG_HEAD.NAME)(cfg, input_shape)
