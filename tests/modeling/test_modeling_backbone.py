"""The tiny and VGG backbones: feature names, strides, channels, freezing, weight layout."""

import pytest
import torch
import torchvision
from detectron2.config import get_cfg
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import build_backbone

from occpose_d2.config import add_occpose_config
from occpose_d2.modeling.backbone import VGG, TinyConvNet

LEVELS = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}


def _cfg(name: str, **opts):
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.OUT_CHANNELS = 16
    cfg.merge_from_list([x for kv in opts.items() for x in kv])
    return cfg


def _check_fpn(backbone, h: int, w: int, channels: int):
    torch.manual_seed(0)
    out = backbone(torch.randn(2, 3, h, w))
    assert set(out) == set(LEVELS)
    for name, stride in LEVELS.items():
        assert out[name].shape == (2, channels, h // stride, w // stride), name
        assert torch.isfinite(out[name]).all()
        spec = backbone.output_shape()[name]
        assert (spec.stride, spec.channels) == (stride, channels)
    return out


def test_tiny_fpn_shapes_and_gradients():
    cfg = _cfg("build_occpose_tiny_fpn_backbone")
    backbone = build_backbone(cfg)
    assert isinstance(backbone.bottom_up, TinyConvNet)
    assert backbone.size_divisibility == 32
    bottom = backbone.bottom_up.output_shape()
    assert {k: (v.stride, v.channels) for k, v in bottom.items()} == {
        "res2": (4, 32), "res3": (8, 64), "res4": (16, 96), "res5": (32, 128)
    }
    out = _check_fpn(backbone, 64, 128, 16)
    sum(v.sum() for v in out.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())
    assert sum(p.numel() for p in backbone.parameters()) < 1_000_000


def test_tiny_widths_and_depth_follow_config():
    cfg = _cfg("build_occpose_tiny_fpn_backbone",
               **{"MODEL.OCCPOSE_TINY.STAGE_CHANNELS": [8, 8, 12, 16],
                  "MODEL.OCCPOSE_TINY.CONVS_PER_STAGE": 3})
    bottom = build_backbone(cfg).bottom_up
    assert [bottom.output_shape()[f"res{k}"].channels for k in (2, 3, 4, 5)] == [8, 8, 12, 16]
    assert len(bottom.res3) == 3 and bottom.res3[0].stride == (2, 2)


@pytest.mark.parametrize(
    "kwargs",
    [{"stage_channels": [8, 8]}, {"convs_per_stage": 0}, {"out_features": ["res6"]}],
)
def test_tiny_rejects_bad_arguments(kwargs):
    args = dict(in_channels=3, stem_channels=8, stage_channels=[8, 8, 8, 8], convs_per_stage=1,
                norm="", out_features=["res2", "res5"])
    args.update(kwargs)
    with pytest.raises(ValueError, match="TinyConvNet"):
        TinyConvNet(**args)


def test_vgg_fpn_shapes_and_freezing():
    cfg = _cfg("build_vgg_fpn_backbone",
               **{"MODEL.VGG.CHANNELS": [4, 8, 8, 16, 16], "MODEL.VGG.NORM": "BN",
                  "MODEL.BACKBONE.FREEZE_AT": 2})
    backbone = build_backbone(cfg, ShapeSpec(channels=3))
    vgg = backbone.bottom_up
    assert isinstance(vgg, VGG)
    assert {k: (v.stride, v.channels) for k, v in vgg.output_shape().items()} == {
        "res2": (4, 8), "res3": (8, 8), "res4": (16, 16), "res5": (32, 16)
    }
    # VGG-19: 2 + 2 + 4 + 4 + 4 = 16 convs, each conv-BN-ReLU, plus 5 max-pools.
    assert len(vgg.features) == 16 * 3 + 5
    _check_fpn(backbone, 64, 64, 16)
    # Blocks 1-2 (2 + 2 convs) are frozen, their BN layers FrozenBN; the rest trains.
    frozen = {n.split(".")[1] for n, p in vgg.named_parameters() if not p.requires_grad}
    first_free = vgg._block_ends[1]
    assert frozen == {str(i) for i in range(first_free) if list(vgg.features[i].parameters())}
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in vgg.features) == 4
    assert all(p.requires_grad for p in vgg.features[first_free:].parameters())


@pytest.mark.parametrize("norm, ctor", [("", "vgg19"), ("BN", "vgg19_bn")])
def test_vgg_matches_torchvision_layout(norm: str, ctor: str):
    """torchvision's ImageNet weights load by prefixing keys (same names and shapes)."""
    with torch.device("meta"):
        ours = VGG(depth=19, channels=[64, 128, 256, 512, 512], norm=norm,
                   out_features=["res2", "res3", "res4", "res5"]).state_dict()
        theirs = getattr(torchvision.models, ctor)().features.state_dict()
    assert {k: v.shape for k, v in ours.items()} == {f"features.{k}": v.shape
                                                      for k, v in theirs.items()}


def test_vgg_stops_at_last_output_and_rejects_bad_depth():
    vgg = VGG(depth=11, channels=[4, 4, 4, 4, 4], norm="", out_features=["res3"])
    out = vgg(torch.zeros(1, 3, 32, 32))
    assert list(out) == ["res3"] and out["res3"].shape == (1, 4, 4, 4)
    assert len(vgg.features) == vgg._block_ends[2]
    with pytest.raises(ValueError, match="depth"):
        VGG(depth=18, channels=[4] * 5, norm="", out_features=["res2"])
