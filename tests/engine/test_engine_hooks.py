"""Curriculum masking and GRL schedules, and the hooks that apply them."""

import math

import pytest
from detectron2.config import get_cfg
from torch import nn

from occpose_d2 import add_occpose_config
from occpose_d2.engine import CurriculumMaskingHook, GRLScheduleHook, grl_lambda_at, mask_ratio_at

LINEAR = dict(start_ratio=0.1, end_ratio=0.5, start_iter=100, end_iter=500, schedule="linear")


@pytest.mark.parametrize(
    "iteration, expected", [(0, 0.1), (100, 0.1), (200, 0.2), (300, 0.3), (499, 0.499), (500, 0.5),
                            (10_000, 0.5)],
)
def test_linear_schedule(iteration, expected):
    assert mask_ratio_at(iteration, **LINEAR) == pytest.approx(expected)


@pytest.mark.parametrize("iteration, expected", [(150, 0.1), (199, 0.1), (200, 0.2), (399, 0.3),
                                                 (400, 0.4), (500, 0.5)])
def test_step_schedule(iteration, expected):
    kwargs = dict(LINEAR, schedule="step", num_steps=4)
    assert mask_ratio_at(iteration, **kwargs) == pytest.approx(expected)


def test_grl_schedules():
    assert grl_lambda_at(7, lam=0.3, schedule="constant", ramp_iters=10) == 0.3
    assert grl_lambda_at(0, lam=1.0, schedule="ramp", ramp_iters=100) == pytest.approx(0.0)
    half = 2.0 / (1.0 + math.exp(-5.0)) - 1.0
    assert grl_lambda_at(50, lam=2.0, schedule="ramp", ramp_iters=100) == pytest.approx(2 * half)
    assert grl_lambda_at(10**6, lam=1.0, schedule="ramp", ramp_iters=100) == pytest.approx(
        2.0 / (1.0 + math.exp(-10.0)) - 1.0)
    with pytest.raises(ValueError, match="GRL schedule"):
        grl_lambda_at(0, lam=1.0, schedule="cosine", ramp_iters=1)


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask_ratio = None
        self.grl_lambda = None

    def set_mask_ratio(self, p):
        self.mask_ratio = p

    def set_grl_lambda(self, lam):
        self.grl_lambda = lam


class _Wrapped(nn.Module):  # stands in for DistributedDataParallel
    def __init__(self, module):
        super().__init__()
        self.module = module


class _Trainer:
    def __init__(self, model, iteration):
        self.model = model
        self.iter = iteration


def _cfg():
    cfg = get_cfg()
    add_occpose_config(cfg)
    m = cfg.MODEL.OCCPOSE.MASK_AND_PREDICT
    m.RATIO_START, m.RATIO_END, m.START_ITER, m.END_ITER = 0.0, 0.6, 0, 300
    cfg.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_SCHEDULE = "ramp"
    cfg.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_RAMP_ITERS = 300
    return cfg


def test_hooks_set_values_from_the_iteration_like_a_resumed_run():
    cfg = _cfg()
    model = _Model()
    for hook in (CurriculumMaskingHook.from_config(cfg), GRLScheduleHook.from_config(cfg)):
        # a run "resumed" at iteration 150 gets the value of iteration 150, not of a counter
        hook.trainer = _Trainer(_Wrapped(model), 150)
        hook.before_step()
    assert model.mask_ratio == pytest.approx(0.3)
    assert model.grl_lambda == pytest.approx(2.0 / (1.0 + math.exp(-5.0)) - 1.0)
