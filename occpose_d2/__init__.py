"""occpose_d2: end-to-end unsupervised pose estimation of occluded pedestrians for Detectron2.

Importing the package registers its meta-architecture, heads, backbones, datasets and
evaluators with Detectron2's registries and catalogs.
"""

from . import modeling  # noqa: F401  register OccPoseRCNN, OccPoseROIHeads, heads, backbones
from .config import add_occpose_config, validate_occpose_config
from .keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS
from .modeling import OccPoseRCNN, OccPoseROIHeads

__all__ = ["add_occpose_config", "validate_occpose_config", "KEYPOINT_NAMES", "NUM_KEYPOINTS",
           "OccPoseRCNN", "OccPoseROIHeads"]
