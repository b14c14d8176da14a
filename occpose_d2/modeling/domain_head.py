"""Domain classifier C: tells source ("pe") from target ("pd") instances from F_DI.

C sits behind the gradient-reversal layer (owned by :class:`OccPoseInstanceHeads`), so while C
learns to classify, E_C and the detectors before it learn to confuse it.
"""


import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.utils.events import get_event_storage
from detectron2.utils.registry import Registry
from torch import nn
from torch.nn import functional as F

from ..domains import DOMAIN_LABELS
from .head_base import WeightedLossHead

__all__ = [
    "DOMAIN_HEAD_REGISTRY",
    "BaseDomainHead",
    "ConvDomainClassifier",
    "build_domain_head",
    "domain_loss",
]

DOMAIN_HEAD_REGISTRY = Registry("DOMAIN_HEAD")
DOMAIN_HEAD_REGISTRY.__doc__ = """
Registry for the domain classifier C, which maps F_DI (R x D x P x P) to one logit per instance
(R,), the log-odds that the instance comes from the target domain "pd" (label DOMAIN_PD = 1).

The registered object is called with `obj(cfg, input_shape)`.
"""


def domain_loss(logits: torch.Tensor, labels: torch.Tensor,
                scalar_prefix: str = "occpose/domain_acc") -> torch.Tensor:
    """Mean BCE of ``(R,)`` logits against ``(R,)`` {DOMAIN_PE, DOMAIN_PD} labels; puts the
    accuracy of each domain present into the event storage (``{scalar_prefix}_{pe,pd}``).

    A zero that keeps the graph when R = 0.
    """
    if logits.numel() == 0:
        return logits.sum() * 0.0
    labels = labels.to(logits.dtype)
    with torch.no_grad():
        correct = (logits > 0).to(logits.dtype) == labels
        storage = get_event_storage()
        for name, value in DOMAIN_LABELS.items():
            sel = labels == value
            if sel.any():
                storage.put_scalar(f"{scalar_prefix}_{name}", correct[sel].float().mean().item())
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="mean")


class BaseDomainHead(WeightedLossHead):
    """C base: ``layers`` maps ``R x D x P x P`` features to ``(R,)`` logits of the "pd" domain;
    ``losses(logits, labels)`` is ``{"loss_domain": beta * BCE}`` (:func:`domain_loss`)."""

    cfg_node = "DOMAIN_HEAD"
    loss_name = "loss_domain"

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return domain_loss(logits, labels)


@DOMAIN_HEAD_REGISTRY.register()
class ConvDomainClassifier(BaseDomainHead):
    """Two stride-2 3x3 conv-ReLU layers, global average pooling, FC-ReLU, FC to one logit."""

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dim: int, fc_dim: int, **kwargs):
        """
        Args:
            input_shape: channels of F_DI.
            conv_dim: channels of the two conv layers.
            fc_dim: width of the hidden fully connected layer.
        """
        super().__init__(**kwargs)
        self.conv1 = Conv2d(input_shape.channels, conv_dim, 3, stride=2, padding=1,
                            activation=F.relu)
        self.conv2 = Conv2d(conv_dim, conv_dim, 3, stride=2, padding=1, activation=F.relu)
        self.fc = nn.Linear(conv_dim, fc_dim)
        self.predictor = nn.Linear(fc_dim, 1)
        for layer in (self.conv1, self.conv2):
            weight_init.c2_msra_fill(layer)
        weight_init.c2_xavier_fill(self.fc)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.constant_(self.predictor.bias, 0.0)

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        return {**super().from_config(cfg, input_shape),
                "fc_dim": cfg.MODEL.OCCPOSE.DOMAIN_HEAD.FC_DIM}

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x)).mean(dim=(2, 3))
        return self.predictor(F.relu(self.fc(x)))[:, 0]


def build_domain_head(cfg, input_shape: ShapeSpec) -> BaseDomainHead:
    """Build C from ``cfg.MODEL.OCCPOSE.DOMAIN_HEAD.NAME``."""
    return DOMAIN_HEAD_REGISTRY.get(cfg.MODEL.OCCPOSE.DOMAIN_HEAD.NAME)(cfg, input_shape)
