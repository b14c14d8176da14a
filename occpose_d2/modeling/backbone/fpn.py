"""What our bottom-up backbones share: stage names, the stage-by-stage forward and the FPN."""

from typing import Any, Dict, Iterator, Sequence, Tuple

import torch
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import FPN, Backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from torch import nn

__all__ = ["fpn_with_p6", "STAGE_NAMES", "StagedBackbone", "common_backbone_args"]

# Stage outputs of a bottom-up backbone, strides 4, 8, 16, 32 pixels (the names of D2's ResNets).
STAGE_NAMES = ("res2", "res3", "res4", "res5")


class StagedBackbone(Backbone):
    """A bottom-up network run as a chain of stages, of which ``out_features`` are returned.

    Subclasses build their layers, call :meth:`_set_out_features` and list their stages in
    :meth:`stages`; they also fill D2's ``_out_feature_strides`` / ``_out_feature_channels``.
    """

    def _set_out_features(self, out_features: Sequence[str]) -> None:
        """Keep ``out_features`` (a non-empty subset of :data:`STAGE_NAMES`) in stage order."""
        if not out_features or set(out_features) - set(STAGE_NAMES):
            raise ValueError(f"{type(self).__name__} out_features must be among {STAGE_NAMES}, "
                             f"got {list(out_features)}")
        self._out_features = [n for n in STAGE_NAMES if n in out_features]

    def stages(self) -> Iterator[Tuple[str, nn.Module]]:
        """``(name, module)`` of each stage in order, up to the last output."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            x: images, ``N x C x H x W`` (H, W multiples of 32 for exact strides).

        Returns:
            dict name -> ``N x C_name x H/stride x W/stride`` for each of ``out_features``.
        """
        outputs = {}
        for name, stage in self.stages():
            x = stage(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs


def common_backbone_args(node: CfgNode, input_shape: ShapeSpec) -> Dict[str, Any]:
    """The arguments every :class:`StagedBackbone` takes, from its config node (``NORM``,
    ``OUT_FEATURES``) and the input's channels."""
    return {"in_channels": input_shape.channels, "norm": node.NORM,
            "out_features": node.OUT_FEATURES}


def fpn_with_p6(bottom_up: Backbone, cfg) -> FPN:
    """D2's FPN (``MODEL.FPN.*``) on ``bottom_up``, with p6 max-pooled from p5 (as for R-FPN)."""
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
