"""Pose-level domain classifier: tells source ("pe") from target ("pd") instances by their
predicted keypoint heatmaps (beyond the paper, which aligns the features F_DI only).

Output-space alignment, as AdaptSegNet (Tsai et al., CVPR 2018) does for segmentation maps and
RegDA (Jiang et al., CVPR 2021) argues for keypoints: the classifier sees each instance's 13
joint distributions, pooled to a coarse grid in the box frame, so it can judge both how sure each
joint is and how the joints lie relative to each other. Behind its own gradient-reversal layer
(strength: ``DOMAIN_HEAD.GRL_*``, set by the trainer's hook with the others), the pose path
(pose head, D_C, E_C and the detectors) learns to give target persons heatmaps that it cannot
tell from source ones: a pose prior learned from the labeled domain, with no target pose.
"""

import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.utils.registry import Registry
from torch import nn
from torch.nn import functional as F

from .domain_head import domain_loss
from .grl import GradientReversal
from .head_base import WeightedLossHead, init_head
from .pose_head import cell_probabilities

__all__ = [
    "POSE_DOMAIN_HEAD_REGISTRY",
    "ConvPoseDomainClassifier",
    "build_pose_domain_head",
    "pooled_joint_distributions",
]

POSE_DOMAIN_HEAD_REGISTRY = Registry("POSE_DOMAIN_HEAD")
POSE_DOMAIN_HEAD_REGISTRY.__doc__ = """
Registry for the pose-level domain classifier, which maps keypoint heatmaps (R x 13 x S x S
logits of a "softmax_ce" pose head) to one logit per instance (R,), the log-odds that the
instance comes from the target domain "pd". Its ``loss(logits, labels)`` is the unweighted BCE;
``losses`` weights it as "loss_pose_domain".

The registered object is called with `obj(cfg, input_shape)`, input_shape the heatmaps' shape
(channels = 13, height = width = S).
"""


def pooled_joint_distributions(heatmaps: torch.Tensor, grid: int) -> torch.Tensor:
    """``R x K x S x S`` heatmap logits -> ``R x K x G x G`` (G = ``grid``, a divisor of S):
    each joint's softmax distribution over its S x S cells (:func:`cell_probabilities`) summed
    over blocks of ``S / G`` x ``S / G`` cells, times G. A joint sure of one block gives G there
    and 0 elsewhere, one spread evenly 1 / G everywhere."""
    size = heatmaps.shape[-1]
    if size % grid:
        raise ValueError(f"the grid side {grid} must divide the heatmap side {size}")
    block = size // grid
    return F.avg_pool2d(cell_probabilities(heatmaps), block) * (block * block * grid)


@POSE_DOMAIN_HEAD_REGISTRY.register()
class ConvPoseDomainClassifier(WeightedLossHead):
    """GRL, :func:`pooled_joint_distributions`, then a 3x3 conv-ReLU and two stride-2 3x3
    conv-ReLU layers over the joints (channels) of the G x G grid, global average pooling and a
    linear layer to one logit."""

    cfg_node = "POSE_DOMAIN_HEAD"
    loss_name = "loss_pose_domain"

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dim: int, grid: int,
                 grl_lambda: float = 1.0, **kwargs):
        """
        Args:
            input_shape: the heatmaps' channels (joints) and side S.
            conv_dim: channels of the conv layers.
            grid: side G of the grid the joint distributions are pooled to (divides S).
            grl_lambda: initial gradient-reversal strength (the trainer's hook sets it).
        """
        super().__init__(**kwargs)
        if input_shape.height and input_shape.height % grid:
            raise ValueError(f"MODEL.OCCPOSE.POSE_DOMAIN_HEAD.GRID {grid} must divide the "
                             f"heatmap side {input_shape.height}")
        self.grid = grid
        self.grl = GradientReversal(grl_lambda)
        self.convs = nn.ModuleList([
            Conv2d(input_shape.channels, conv_dim, 3, padding=1, activation=F.relu),
            Conv2d(conv_dim, conv_dim, 3, stride=2, padding=1, activation=F.relu),
            Conv2d(conv_dim, conv_dim, 3, stride=2, padding=1, activation=F.relu),
        ])
        self.predictor = nn.Linear(conv_dim, 1)
        init_head(self.convs, self.predictor, std=0.01)

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        return {**super().from_config(cfg, input_shape),
                "grid": cfg.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.GRID,
                "grl_lambda": cfg.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_LAMBDA}

    def layers(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """``R x K x S x S`` heatmap logits -> ``(R,)`` logits of "pd" (gradient reversed into
        the heatmaps)."""
        x = pooled_joint_distributions(self.grl(heatmaps), self.grid)
        for conv in self.convs:
            x = conv(x)
        return self.predictor(x.mean(dim=(2, 3)))[:, 0]

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """BCE against ``(R,)`` {DOMAIN_PE, DOMAIN_PD} labels (:func:`domain_loss`; accuracy per
        domain in the event storage as ``occpose/pose_domain_acc_{pe,pd}``)."""
        return domain_loss(logits, labels, scalar_prefix="occpose/pose_domain_acc")


def build_pose_domain_head(cfg, input_shape: ShapeSpec) -> ConvPoseDomainClassifier:
    """Build the pose-level classifier from ``cfg.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.NAME``."""
    return POSE_DOMAIN_HEAD_REGISTRY.get(cfg.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.NAME)(cfg,
                                                                                   input_shape)
