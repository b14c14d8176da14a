"""VGG (paper Table 5: VGG-19) as a D2 :class:`Backbone`, with D2's FPN on top.

The bottom-up network is torchvision's ``vgg{11,13,16,19}[_bn]().features`` layer for layer
(same ``features.<index>`` parameter names), cut into five stages: stage k is conv block k
followed by its 2x2 max-pool, so its output has stride 2**k pixels. Stages 2..5 are exposed as
``res2``..``res5`` (strides 4, 8, 16, 32), the names D2's ResNet-FPN configs already use.
Converting torchvision's ImageNet weights is a key prefix: ``features.i.*`` ->
``backbone.bottom_up.features.i.*``.
"""

from typing import Iterator, List, Sequence, Tuple

from detectron2.layers import FrozenBatchNorm2d, ShapeSpec, get_norm
from detectron2.modeling.backbone import BACKBONE_REGISTRY, FPN
from torch import nn

from .fpn import STAGE_NAMES, StagedBackbone, common_backbone_args, fpn_with_p6

__all__ = ["VGG", "build_vgg_backbone", "build_vgg_fpn_backbone", "VGG_DEPTHS"]

# Conv layers per block for each depth (torchvision's configurations "A", "B", "D", "E").
_CONVS_PER_BLOCK = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3),
                    19: (2, 2, 4, 4, 4)}
# Depths of ``MODEL.VGG.DEPTH``.
VGG_DEPTHS = tuple(sorted(_CONVS_PER_BLOCK))


class VGG(StagedBackbone):
    """VGG conv layers with stage outputs ``res2``..``res5`` at strides 4, 8, 16, 32."""

    def __init__(
        self,
        *,
        depth: int,
        channels: Sequence[int],
        norm: str,
        out_features: Sequence[str],
        in_channels: int = 3,
        freeze_at: int = 0,
    ):
        """
        Args:
            depth: 11, 13, 16 or 19.
            channels: output channels of the five conv blocks (VGG: 64, 128, 256, 512, 512).
            norm: D2 norm name after each conv ("" for plain VGG, "BN"/"FrozenBN" for VGG-BN).
            out_features: subset of res2..res5 returned by forward.
            in_channels: image channels.
            freeze_at: freeze the first ``freeze_at`` blocks (0: none; D2's BACKBONE.FREEZE_AT).
        """
        super().__init__()
        if depth not in _CONVS_PER_BLOCK:
            raise ValueError(f"VGG depth must be one of {list(VGG_DEPTHS)}, got {depth}")
        if len(channels) != 5:
            raise ValueError(f"VGG needs 5 block widths, got {list(channels)}")
        self._set_out_features(out_features)
        layers: List[nn.Module] = []
        self._block_ends: List[int] = []  # index in `features` after each block's max-pool
        prev = in_channels
        for n_conv, width in zip(_CONVS_PER_BLOCK[depth], channels):
            for _ in range(n_conv):
                conv = nn.Conv2d(prev, width, kernel_size=3, padding=1)
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(conv.bias)
                layers.append(conv)
                if norm:
                    layers.append(get_norm(norm, width))
                layers.append(nn.ReLU(inplace=True))
                prev = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            self._block_ends.append(len(layers))
        last_block = 1 + STAGE_NAMES.index(self._out_features[-1])
        self.features = nn.Sequential(*layers[: self._block_ends[last_block]])
        self._out_feature_strides = {n: 2 ** (k + 2) for k, n in enumerate(STAGE_NAMES)}
        self._out_feature_channels = dict(zip(STAGE_NAMES, channels[1:]))
        self.freeze(freeze_at)

    def freeze(self, freeze_at: int) -> "VGG":
        """Stop gradients into blocks ``1..freeze_at``; their BN layers become FrozenBN."""
        if freeze_at <= 0:
            return self
        end = self._block_ends[min(freeze_at, 5) - 1]
        for i in range(min(end, len(self.features))):
            layer = self.features[i]
            for p in layer.parameters():
                p.requires_grad = False
            self.features[i] = FrozenBatchNorm2d.convert_frozen_batchnorm(layer)
        return self

    def stages(self) -> Iterator[Tuple[str, nn.Module]]:
        """Block k (conv layers + max-pool) is stage ``res{k}``; blocks past the last output were
        not built."""
        start = 0
        for k, end in enumerate(self._block_ends):
            if start >= len(self.features):
                return
            yield f"res{k + 1}", self.features[start:end]
            start = end


@BACKBONE_REGISTRY.register()
def build_vgg_backbone(cfg, input_shape: ShapeSpec) -> VGG:
    """The bottom-up :class:`VGG` from ``MODEL.VGG`` and ``MODEL.BACKBONE.FREEZE_AT``."""
    v = cfg.MODEL.VGG
    return VGG(**common_backbone_args(v, input_shape), depth=v.DEPTH, channels=v.CHANNELS,
               freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


@BACKBONE_REGISTRY.register()
def build_vgg_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """:class:`VGG` + D2's FPN (``MODEL.FPN.*``) with p6 by max-pooling p5."""
    return fpn_with_p6(build_vgg_backbone(cfg, input_shape), cfg)
