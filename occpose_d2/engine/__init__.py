"""Trainer and hooks of occpose_d2."""

from .hooks import (
    CurriculumMaskingHook,
    GRLScheduleHook,
    grl_lambda_at,
    mask_ratio_at,
    unwrap_model,
)
from .trainer import OccPoseTrainer

__all__ = [
    "CurriculumMaskingHook",
    "GRLScheduleHook",
    "OccPoseTrainer",
    "grl_lambda_at",
    "mask_ratio_at",
    "unwrap_model",
]
