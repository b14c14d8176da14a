"""Trainer, hooks, checkpointer and predictor of occpose_d2."""

from .checkpoint import AtomicDetectionCheckpointer, atomic_write
from .defaults import default_occpose_setup
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
    "default_occpose_setup",
    "grl_lambda_at",
    "mask_ratio_at",
    "modules_of_type",
]
