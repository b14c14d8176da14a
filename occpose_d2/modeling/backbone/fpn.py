"""What our bottom-up backbones share: their stage names and the FPN on top of them."""

from detectron2.modeling.backbone import FPN, Backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool

__all__ = ["fpn_with_p6", "STAGE_NAMES"]

# Stage outputs of a bottom-up backbone, strides 4, 8, 16, 32 pixels (the names of D2's ResNets).
STAGE_NAMES = ("res2", "res3", "res4", "res5")


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
