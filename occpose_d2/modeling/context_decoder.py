"""Context decoder D_C: F_DI -> pose features at the segmentation map's resolution."""

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ConvTranspose2d, ShapeSpec
from detectron2.utils.registry import Registry
from torch import nn
from torch.nn import functional as F

__all__ = ["CONTEXT_DECODER_REGISTRY", "DeconvContextDecoder", "build_context_decoder"]

CONTEXT_DECODER_REGISTRY = Registry("CONTEXT_DECODER")
CONTEXT_DECODER_REGISTRY.__doc__ = """
Registry for the context decoder D_C, which maps F_DI (R x D x P x P) to features with the spatial
size of the segmentation map (R x C x 2P x 2P), to be multiplied by the (masked) map.

The registered object is called with `obj(cfg, input_shape)` and must have an `output_shape`
attribute (a ShapeSpec).
"""


@CONTEXT_DECODER_REGISTRY.register()
class DeconvContextDecoder(nn.Module):
    """2x2 stride-2 deconv-ReLU then 3x3 conv-ReLU: ``R x D x P x P -> R x C x 2P x 2P``."""

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dim: int):
        """
        Args:
            input_shape: channels and side ``P`` of F_DI.
            conv_dim: output channels ``C``.
        """
        super().__init__()
        self.deconv = ConvTranspose2d(input_shape.channels, conv_dim, kernel_size=2, stride=2)
        self.conv = Conv2d(conv_dim, conv_dim, 3, padding=1, activation=F.relu)
        for layer in (self.deconv, self.conv):
            weight_init.c2_msra_fill(layer)
        self.output_shape = ShapeSpec(
            channels=conv_dim, height=2 * input_shape.height, width=2 * input_shape.width
        )

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        return {
            "input_shape": input_shape,
            "conv_dim": cfg.MODEL.OCCPOSE.CONTEXT_DECODER.CONV_DIM,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.relu(self.deconv(x)))


def build_context_decoder(cfg, input_shape: ShapeSpec) -> nn.Module:
    """Build D_C from ``cfg.MODEL.OCCPOSE.CONTEXT_DECODER.NAME``."""
    return CONTEXT_DECODER_REGISTRY.get(cfg.MODEL.OCCPOSE.CONTEXT_DECODER.NAME)(cfg, input_shape)
