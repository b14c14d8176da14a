"""A small plain-conv backbone + FPN that trains on CPU in minutes (configs/Synthetic).

Layout (input ``N x C x H x W``): a stride-2 stem conv, then four stages ``res2``..``res5``,
each a stride-2 3x3 conv followed by ``CONVS_PER_STAGE - 1`` stride-1 3x3 convs (conv-norm-ReLU),
so ``res2``..``res5`` have strides 4, 8, 16, 32 (pixels) and ``MODEL.OCCPOSE_TINY.STAGE_CHANNELS``
channels. D2's :class:`FPN` with :class:`LastLevelMaxPool` turns them into ``p2``..``p6``.
"""

from typing import Dict, Iterator, List, Sequence, Tuple

import fvcore.nn.weight_init as weight_init
import torch.nn.functional as F
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling.backbone import BACKBONE_REGISTRY, FPN
from torch import nn

from .fpn import STAGE_NAMES, StagedBackbone, common_backbone_args, fpn_with_p6

__all__ = ["TinyConvNet", "build_occpose_tiny_backbone", "build_occpose_tiny_fpn_backbone"]


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int, norm: str) -> Conv2d:
    """3x3 conv (no bias when normalized) + norm + ReLU, MSRA-initialized."""
    conv = Conv2d(
        in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=not norm,
        norm=get_norm(norm, out_ch), activation=F.relu,
    )
    weight_init.c2_msra_fill(conv)
    return conv


class TinyConvNet(StagedBackbone):
    """Plain conv-norm-ReLU network with four stages at strides 4, 8, 16, 32."""

    def __init__(
        self,
        *,
        in_channels: int,
        stem_channels: int,
        stage_channels: Sequence[int],
        convs_per_stage: int,
        norm: str,
        out_features: Sequence[str],
    ):
        """
        Args:
            in_channels: image channels (3 for BGR/RGB).
            stem_channels: channels of the stride-2 stem conv.
            stage_channels: channels of res2..res5 (4 values).
            convs_per_stage: 3x3 convs per stage (>= 1; the first one has stride 2).
            norm: D2 norm name ("", "BN", "GN", "SyncBN", "FrozenBN").
            out_features: subset of res2..res5 returned by forward.
        """
        super().__init__()
        if len(stage_channels) != len(STAGE_NAMES):
            raise ValueError(f"TinyConvNet needs 4 stage widths, got {list(stage_channels)}")
        if convs_per_stage < 1:
            raise ValueError(f"TinyConvNet needs convs_per_stage >= 1, got {convs_per_stage}")
        self._set_out_features(out_features)
        self.stem = _conv_bn_relu(in_channels, stem_channels, 2, norm)
        self._out_feature_strides: Dict[str, int] = {}
        self._out_feature_channels: Dict[str, int] = {}
        self.stage_names: List[str] = []
        prev, stride = stem_channels, 2
        for name, width in zip(STAGE_NAMES, stage_channels):
            convs = [_conv_bn_relu(prev, width, 2, norm)]
            convs += [_conv_bn_relu(width, width, 1, norm) for _ in range(convs_per_stage - 1)]
            self.add_module(name, nn.Sequential(*convs))
            self.stage_names.append(name)
            prev, stride = width, stride * 2
            self._out_feature_strides[name] = stride
            self._out_feature_channels[name] = width
            if name == self._out_features[-1]:
                break

    def stages(self) -> Iterator[Tuple[str, nn.Module]]:
        yield "stem", self.stem
        for name in self.stage_names:
            yield name, getattr(self, name)


@BACKBONE_REGISTRY.register()
def build_occpose_tiny_backbone(cfg, input_shape: ShapeSpec) -> TinyConvNet:
    """The bottom-up :class:`TinyConvNet` from ``MODEL.OCCPOSE_TINY``."""
    c = cfg.MODEL.OCCPOSE_TINY
    return TinyConvNet(**common_backbone_args(c, input_shape), stem_channels=c.STEM_CHANNELS,
                       stage_channels=c.STAGE_CHANNELS, convs_per_stage=c.CONVS_PER_STAGE)


@BACKBONE_REGISTRY.register()
def build_occpose_tiny_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """:class:`TinyConvNet` + D2's FPN (``MODEL.FPN.*``) with p6 by max-pooling p5."""
    return fpn_with_p6(build_occpose_tiny_backbone(cfg, input_shape), cfg)
