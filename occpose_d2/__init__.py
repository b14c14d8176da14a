"""occpose_d2: end-to-end unsupervised pose estimation of occluded pedestrians for Detectron2.

Importing the package registers its meta-architecture, heads, backbones, datasets and
evaluators with Detectron2's registries and catalogs. Registration is idempotent.
"""

# register datasets (data), OccPoseRCNN / OccPoseROIHeads / sub-heads / backbones (modeling)
from . import data, evaluation, modeling  # noqa: F401
from .config import add_occpose_config, get_occpose_cfg, validate_occpose_config
from .data import OccPoseDatasetMapper, build_two_domain_train_loader
from .engine import OccPosePredictor, OccPoseTrainer
from .export import OccPoseONNXPredictor
from .keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS
from .modeling import OccPoseRCNN, OccPoseROIHeads

__all__ = [
    "KEYPOINT_NAMES",
    "NUM_KEYPOINTS",
    "OccPoseDatasetMapper",
    "OccPoseONNXPredictor",
    "OccPosePredictor",
    "OccPoseRCNN",
    "OccPoseROIHeads",
    "OccPoseTrainer",
    "add_occpose_config",
    "build_two_domain_train_loader",
    "get_occpose_cfg",
    "validate_occpose_config",
]
