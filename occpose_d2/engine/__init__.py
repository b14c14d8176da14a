"""Trainer, hooks, checkpointer and predictor of occpose_d2."""

from .checkpoint import AtomicDetectionCheckpointer, atomic_write
from .hooks import (
    CurriculumMaskingHook,
    GRLScheduleHook,
    grl_lambda_at,
    mask_ratio_at,
    modules_of_type,
)
from .predictor import OccPosePredictor
from .trainer import OccPoseTrainer

__all__ = [
    "AtomicDetectionCheckpointer",
    "CurriculumMaskingHook",
    "GRLScheduleHook",
    "OccPosePredictor",
    "OccPoseTrainer",
    "atomic_write",
    "grl_lambda_at",
    "mask_ratio_at",
    "modules_of_type",
]
