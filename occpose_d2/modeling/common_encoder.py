"""Common encoder E_C: RoIAlign features F_raw of either domain -> domain-invariant F_DI."""

from typing import List

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.utils.registry import Registry
from torch import nn
from torch.nn import functional as F

__all__ = ["COMMON_ENCODER_REGISTRY", "ConvCommonEncoder", "build_common_encoder"]

COMMON_ENCODER_REGISTRY = Registry("COMMON_ENCODER")
COMMON_ENCODER_REGISTRY.__doc__ = """
Registry for the common encoder E_C, which maps per-instance RoIAlign features of both domains
to domain-invariant features of the same spatial size.

The registered object is called with `obj(cfg, input_shape)` and must have an `output_shape`
attribute (a ShapeSpec).
"""


@COMMON_ENCODER_REGISTRY.register()
class ConvCommonEncoder(nn.Sequential):
    """A stack of 3x3 conv(-norm)-ReLU layers, stride 1: ``R x C_in x P x P -> R x D x P x P``."""

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dims: List[int], conv_norm: str = ""):
        """
        Args:
            input_shape: channels and side ``P`` of F_raw.
            conv_dims: output channels of each conv layer (one entry per layer, >= 1 entries).
            conv_norm: D2 norm name ("" for none).
        """
        super().__init__()
        channels = input_shape.channels
        for k, dim in enumerate(conv_dims):
            conv = Conv2d(
                channels, dim, kernel_size=3, padding=1, bias=not conv_norm,
                norm=get_norm(conv_norm, dim), activation=F.relu,
            )
            weight_init.c2_msra_fill(conv)
            self.add_module(f"conv{k + 1}", conv)
            channels = dim
        self.output_shape = ShapeSpec(
            channels=channels, height=input_shape.height, width=input_shape.width
        )

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        e = cfg.MODEL.OCCPOSE.COMMON_ENCODER
        return {
            "input_shape": input_shape,
            "conv_dims": [e.CONV_DIM] * e.NUM_CONV,
            "conv_norm": e.NORM,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``R x C_in x P x P`` F_raw -> ``R x D x P x P`` F_DI."""
        return super().forward(x)


def build_common_encoder(cfg, input_shape: ShapeSpec) -> nn.Module:
    """Build E_C from ``cfg.MODEL.OCCPOSE.COMMON_ENCODER.NAME``."""
    return COMMON_ENCODER_REGISTRY.get(cfg.MODEL.OCCPOSE.COMMON_ENCODER.NAME)(cfg, input_shape)
