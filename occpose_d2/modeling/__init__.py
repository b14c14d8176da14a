"""Models of occpose_d2: OccPoseRCNN, OccPoseROIHeads, their sub-heads and backbones.

Importing this package registers them with Detectron2's registries (META_ARCH_REGISTRY,
ROI_HEADS_REGISTRY, BACKBONE_REGISTRY) and with our sub-head registries.
"""

from ..domains import DOMAIN_LABELS, DOMAIN_PD, DOMAIN_PE
from . import backbone  # noqa: F401  register backbones
from .common_encoder import COMMON_ENCODER_REGISTRY, ConvCommonEncoder, build_common_encoder
from .context_decoder import (
    CONTEXT_DECODER_REGISTRY,
    DeconvContextDecoder,
    build_context_decoder,
)
from .domain_head import (
    DOMAIN_HEAD_REGISTRY,
    BaseDomainHead,
    ConvDomainClassifier,
    build_domain_head,
    domain_loss,
)
from .grl import GradientReversal, grad_reverse
from .image_domain_head import (
    IMAGE_DOMAIN_HEAD_REGISTRY,
    ConvImageDomainClassifier,
    build_image_domain_head,
)
from .instance_heads import (
    OccPoseInstanceHeads,
    crop_to_inner_boxes,
    keypoints_on_mask,
    mirror_boxes,
    pose_supervised,
    scale_boxes,
    visible_areas,
)
from .mask_and_predict import MaskAndPredict, random_block_keep
from .meta_arch import OccPoseRCNN, build_domain_detector_cfg  # register OccPoseRCNN
from .pose_domain_head import (
    POSE_DOMAIN_HEAD_REGISTRY,
    ConvPoseDomainClassifier,
    build_pose_domain_head,
    pooled_joint_distributions,
)
from .pose_head import (
    POSE_HEAD_REGISTRY,
    BasePoseHead,
    EncoderDecoderPoseHead,
    build_pose_head,
    decode_expected_oks,
    decode_heatmaps,
    expected_oks,
    gaussian_heatmaps,
    pairwise_oks,
    pose_loss,
    pose_nms,
)
from .roi_heads import OccPoseROIHeads  # register OccPoseROIHeads
from .sampling import jitter_boxes, select_training_instances
from .seg_head import SEG_HEAD_REGISTRY, BaseSegHead, DeconvSegHead, build_seg_head, seg_loss

__all__ = [
    "COMMON_ENCODER_REGISTRY",
    "CONTEXT_DECODER_REGISTRY",
    "DOMAIN_HEAD_REGISTRY",
    "IMAGE_DOMAIN_HEAD_REGISTRY",
    "POSE_DOMAIN_HEAD_REGISTRY",
    "POSE_HEAD_REGISTRY",
    "SEG_HEAD_REGISTRY",
    "BaseDomainHead",
    "BasePoseHead",
    "BaseSegHead",
    "ConvCommonEncoder",
    "ConvDomainClassifier",
    "ConvImageDomainClassifier",
    "ConvPoseDomainClassifier",
    "DeconvContextDecoder",
    "DeconvSegHead",
    "EncoderDecoderPoseHead",
    "GradientReversal",
    "MaskAndPredict",
    "OccPoseInstanceHeads",
    "OccPoseRCNN",
    "OccPoseROIHeads",
    "DOMAIN_LABELS",
    "DOMAIN_PD",
    "DOMAIN_PE",
    "build_common_encoder",
    "crop_to_inner_boxes",
    "build_context_decoder",
    "build_domain_detector_cfg",
    "build_domain_head",
    "build_image_domain_head",
    "build_pose_domain_head",
    "build_pose_head",
    "build_seg_head",
    "decode_expected_oks",
    "decode_heatmaps",
    "domain_loss",
    "expected_oks",
    "gaussian_heatmaps",
    "grad_reverse",
    "jitter_boxes",
    "keypoints_on_mask",
    "mirror_boxes",
    "pairwise_oks",
    "pose_loss",
    "pose_nms",
    "pose_supervised",
    "pooled_joint_distributions",
    "random_block_keep",
    "scale_boxes",
    "select_training_instances",
    "seg_loss",
    "visible_areas",
]
