"""What the sub-heads with one weighted loss (D_Seg, C, the pose head) share: their base class
and the initialisation of a head that ends in a predictor layer."""

from typing import Dict, Iterable

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from torch import nn

__all__ = ["WeightedLossHead", "init_head"]


def init_head(hidden: Iterable[nn.Module], predictor: nn.Module, std: float = 0.001) -> None:
    """D2's head initialisation (as its mask and keypoint heads): MSRA fill for the ``hidden``
    conv layers, weights N(0, ``std``) and zero bias for the ``predictor``."""
    for layer in hidden:
        weight_init.c2_msra_fill(layer)
    nn.init.normal_(predictor.weight, std=std)
    nn.init.constant_(predictor.bias, 0.0)


class WeightedLossHead(nn.Module):
    """A sub-head whose network is ``layers`` and whose one loss, ``loss`` (unweighted), enters
    Eq. (3) with the weight ``LOSS_WEIGHT`` of its config node.

    Subclasses name their node under ``MODEL.OCCPOSE`` (``cfg_node``) and the key of their loss
    (``loss_name``); registered heads receive ``input_shape`` and ``conv_dim`` as well.
    """

    cfg_node = ""
    loss_name = ""

    @configurable
    def __init__(self, *, loss_weight: float):
        """
        Args:
            loss_weight: the head's weight in Eq. (3) (alpha, beta or gamma).
        """
        super().__init__()
        self.loss_weight = loss_weight

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        node = cfg.MODEL.OCCPOSE[cls.cfg_node]
        return {"input_shape": input_shape, "conv_dim": node.CONV_DIM,
                "loss_weight": node.LOSS_WEIGHT}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def losses(self, *args: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``{loss_name: loss_weight * loss(*args)}``."""
        return {self.loss_name: self.loss_weight * self.loss(*args)}

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, *args: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
