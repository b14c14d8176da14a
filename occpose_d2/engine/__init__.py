"""Trainer and hooks of occpose_d2."""

from .hooks import (
    CurriculumMaskingHook,
    GRLScheduleHook,
    grl_lambda_at,
    mask_ratio_at,
    unwrap_model,
)
from .predictor import OccPosePredictor
from .trainer import OccPoseTrainer

__all__ = [
    "CurriculumMaskingHook",
    "GRLScheduleHook",
    "OccPosePredictor",
    "OccPoseTrainer",
    "grl_lambda_at",
    "mask_ratio_at",
    "unwrap_model",
]
