"""Backbones registered in D2's ``BACKBONE_REGISTRY`` (importing this registers them)."""

from .tiny import TinyConvNet, build_occpose_tiny_backbone, build_occpose_tiny_fpn_backbone
from .vgg import VGG, build_vgg_backbone, build_vgg_fpn_backbone

__all__ = [
    "TinyConvNet",
    "VGG",
    "build_occpose_tiny_backbone",
    "build_occpose_tiny_fpn_backbone",
    "build_vgg_backbone",
    "build_vgg_fpn_backbone",
]
