"""Image-level domain classifier: tells source ("pe") from target ("pd") images at every location
of the detectors' feature maps (beyond the paper, which aligns instances only).

As the image-level component of Domain Adaptive Faster R-CNN (Chen et al., CVPR 2018), a small
fully convolutional classifier, shared by the feature levels, sits behind its own
gradient-reversal layer on the backbone features of both detectors; while it learns to tell the
domains apart at each location, the backbones learn to make their whole feature maps, not only
the pooled person features that the instance-level classifier C sees, alike across domains. Its
gradient-reversal strength follows the same schedule as C's (``DOMAIN_HEAD.GRL_*``).
"""

from typing import Dict, List

import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.utils.registry import Registry
from torch.nn import functional as F

from .domain_head import domain_loss
from .grl import GradientReversal
from .head_base import WeightedLossHead, init_head

__all__ = ["IMAGE_DOMAIN_HEAD_REGISTRY", "ConvImageDomainClassifier", "build_image_domain_head"]

IMAGE_DOMAIN_HEAD_REGISTRY = Registry("IMAGE_DOMAIN_HEAD")
IMAGE_DOMAIN_HEAD_REGISTRY.__doc__ = """
Registry for the image-level domain classifier, which maps backbone feature maps
{name: N x C x H x W} to per-location logits of the target domain "pd". Its
``loss(features, labels)`` is the unweighted BCE of one domain's images; OccPoseRCNN averages it
over the two domains and weights it as "loss_image_domain" (``loss_name``, ``loss_weight``).

The registered object is called with `obj(cfg, input_shape)`, input_shape the backbone's
output_shape() dict.
"""


@IMAGE_DOMAIN_HEAD_REGISTRY.register()
class ConvImageDomainClassifier(WeightedLossHead):
    """GRL, then a 3x3 conv-ReLU and a 1x1 conv to one logit per location, shared by the levels
    ``in_features`` (which must have equal channels, as FPN levels do)."""

    cfg_node = "IMAGE_DOMAIN_HEAD"
    loss_name = "loss_image_domain"

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dim: int, in_features: List[str],
                 grl_lambda: float = 1.0, **kwargs):
        """
        Args:
            input_shape: channels of the classified feature maps.
            conv_dim: channels of the hidden conv layer.
            in_features: names of the backbone feature maps classified (e.g. p2..p5).
            grl_lambda: initial gradient-reversal strength (the trainer's hook sets it).
        """
        super().__init__(**kwargs)
        self.in_features = list(in_features)
        self.grl = GradientReversal(grl_lambda)
        self.conv = Conv2d(input_shape.channels, conv_dim, 3, padding=1, activation=F.relu)
        self.predictor = Conv2d(conv_dim, 1, 1)
        init_head([self.conv], self.predictor, std=0.01)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        node = cfg.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD
        missing = [f for f in node.IN_FEATURES if f not in input_shape]
        if missing:
            raise ValueError(f"MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.IN_FEATURES: {missing} are not "
                             f"backbone outputs (those are {sorted(input_shape)})")
        channels = {input_shape[f].channels for f in node.IN_FEATURES}
        if len(channels) != 1:
            raise ValueError(f"MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.IN_FEATURES {list(node.IN_FEATURES)}"
                             f" must have equal channels, got {sorted(channels)}")
        return {**super().from_config(cfg, ShapeSpec(channels=channels.pop())),
                "in_features": list(node.IN_FEATURES),
                "grl_lambda": cfg.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_LAMBDA}

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        """``N x C x H x W`` features -> ``N x H x W`` logits (gradient reversed into x)."""
        return self.predictor(self.conv(self.grl(x)))[:, 0]

    def loss(self, features: Dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """Mean over ``in_features`` of the per-location BCE of one domain's ``N``-image
        feature maps against the ``(N,)`` labels of its images (accuracy of each domain in the
        event storage as ``occpose/image_domain_acc_{pe,pd}``)."""
        logits = torch.cat([self.layers(features[f]).flatten(1) for f in self.in_features], 1)
        targets = labels[:, None].expand_as(logits)
        return domain_loss(logits.flatten(), targets.flatten(),
                           scalar_prefix="occpose/image_domain_acc")


def build_image_domain_head(cfg, input_shape: Dict[str, ShapeSpec]) -> ConvImageDomainClassifier:
    """Build the image-level classifier from ``cfg.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.NAME``."""
    return IMAGE_DOMAIN_HEAD_REGISTRY.get(cfg.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.NAME)(cfg,
                                                                                    input_shape)
