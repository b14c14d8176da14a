"""Training hooks: curriculum masking (Mask and Predict) and the gradient-reversal schedule.

Both hooks compute their value from ``trainer.iter`` alone, so a run resumed from a checkpoint
continues with exactly the value it would have had without the interruption. They set it on every
module of the matching type in the trainer's model (``OccPoseRCNN``, a stock ``GeneralizedRCNN``
with ``OccPoseROIHeads``, either inside DistributedDataParallel), and put it into the event storage
(``occpose/mask_ratio``, ``occpose/grl_lambda``); a model without such a module (no domain head:
no gradient reversal) has nothing to set.
"""

import logging
import math
from typing import List, Type, TypeVar

from detectron2.config import CfgNode
from detectron2.engine import HookBase
from torch import nn

from ..modeling import GradientReversal, MaskAndPredict

__all__ = [
    "mask_ratio_at",
    "grl_lambda_at",
    "modules_of_type",
    "CurriculumMaskingHook",
    "GRLScheduleHook",
    "MASK_RATIO_SCHEDULES",
    "GRL_SCHEDULES",
]

# Shapes of the curriculum (``MODEL.OCCPOSE.MASK_AND_PREDICT.SCHEDULE``), see :func:`mask_ratio_at`.
MASK_RATIO_SCHEDULES = ("linear", "step")
# Gradient-reversal schedules (``MODEL.OCCPOSE.DOMAIN_HEAD.GRL_SCHEDULE``), :func:`grl_lambda_at`.
GRL_SCHEDULES = ("constant", "ramp")

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=nn.Module)


def modules_of_type(model: nn.Module, kind: Type[M]) -> List[M]:
    """Every submodule of ``model`` (wrapped or not) that is a ``kind``."""
    return [m for m in model.modules() if isinstance(m, kind)]


def mask_ratio_at(
    iteration: int,
    *,
    start_ratio: float,
    end_ratio: float,
    start_iter: int,
    end_iter: int,
    schedule: str = "linear",
    num_steps: int = 1,
) -> float:
    """The Mask-and-Predict ratio p at an iteration (curriculum learning).

    ``start_ratio`` up to ``start_iter``, ``end_ratio`` from ``end_iter`` on, and in between either
    a straight line ("linear") or ``num_steps`` equal steps ("step": the first step is taken once
    1/num_steps of the span has passed). Ratios are fractions of the segmentation map in [0, 1].
    """
    if iteration <= start_iter:
        return float(start_ratio)
    if iteration >= end_iter:
        return float(end_ratio)
    t = (iteration - start_iter) / float(end_iter - start_iter)
    if schedule == "step":
        t = math.floor(t * num_steps) / num_steps
    elif schedule != "linear":
        raise ValueError(f"unknown mask-ratio schedule {schedule!r} (expected one of "
                         f"{MASK_RATIO_SCHEDULES})")
    return float(start_ratio + (end_ratio - start_ratio) * t)


def grl_lambda_at(iteration: int, *, lam: float, schedule: str, ramp_iters: int) -> float:
    """Gradient-reversal strength at an iteration.

    "constant": ``lam``. "ramp": DANN's ``lam * (2 / (1 + exp(-10 t)) - 1)`` with
    ``t = min(iteration / ramp_iters, 1)``, rising from 0 to ~``lam``.
    """
    if schedule == "constant":
        return float(lam)
    if schedule == "ramp":
        t = min(max(iteration, 0) / float(ramp_iters), 1.0)
        return float(lam * (2.0 / (1.0 + math.exp(-10.0 * t)) - 1.0))
    raise ValueError(f"unknown GRL schedule {schedule!r} (expected one of {GRL_SCHEDULES})")


class CurriculumMaskingHook(HookBase):
    """Sets the ratio of every :class:`MaskAndPredict` from the iteration before every step."""

    def __init__(self, **schedule):
        """
        Args:
            schedule: keyword arguments of :func:`mask_ratio_at` except ``iteration``.
        """
        self._schedule = schedule

    @classmethod
    def from_config(cls, cfg: CfgNode) -> "CurriculumMaskingHook":
        m = cfg.MODEL.OCCPOSE.MASK_AND_PREDICT
        return cls(
            start_ratio=m.RATIO_START,
            end_ratio=m.RATIO_END,
            start_iter=m.START_ITER,
            end_iter=m.END_ITER,
            schedule=m.SCHEDULE,
            num_steps=m.NUM_STEPS,
        )

    def ratio(self, iteration: int) -> float:
        return mask_ratio_at(iteration, **self._schedule)

    def before_train(self):
        logger.info(
            "Curriculum masking: ratio %.2f -> %.2f over iterations %d -> %d (%s), starting at "
            "iteration %d with %.3f",
            self._schedule["start_ratio"], self._schedule["end_ratio"],
            self._schedule["start_iter"], self._schedule["end_iter"],
            self._schedule["schedule"], self.trainer.iter, self.ratio(self.trainer.iter),
        )

    def before_step(self):
        _apply(self.trainer, MaskAndPredict, "set_ratio", "occpose/mask_ratio",
               self.ratio(self.trainer.iter))


class GRLScheduleHook(HookBase):
    """Sets the strength of every :class:`GradientReversal` from the iteration before every
    step."""

    def __init__(self, *, lam: float, schedule: str, ramp_iters: int):
        self._kwargs = dict(lam=lam, schedule=schedule, ramp_iters=ramp_iters)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> "GRLScheduleHook":
        d = cfg.MODEL.OCCPOSE.DOMAIN_HEAD
        return cls(lam=d.GRL_LAMBDA, schedule=d.GRL_SCHEDULE, ramp_iters=d.GRL_RAMP_ITERS)

    def value(self, iteration: int) -> float:
        return grl_lambda_at(iteration, **self._kwargs)

    def before_step(self):
        _apply(self.trainer, GradientReversal, "set_lambda", "occpose/grl_lambda",
               self.value(self.trainer.iter))


def _apply(trainer, kind: Type[M], setter: str, scalar_name: str, value: float) -> None:
    """``module.<setter>(value)`` on every ``kind`` in ``trainer.model``, and ``value`` into the
    event storage when there was one."""
    found = modules_of_type(trainer.model, kind)
    for module in found:
        getattr(module, setter)(value)
    if found:
        trainer.storage.put_scalar(scalar_name, value, smoothing_hint=False)
