"""Curriculum masking and GRL schedules, and the hooks that apply them."""

import math

import pytest
from detectron2.config import get_cfg
from detectron2.utils.events import EventStorage
from torch import nn

from occpose_d2 import add_occpose_config
from occpose_d2.engine import CurriculumMaskingHook, GRLScheduleHook, grl_lambda_at, mask_ratio_at
from occpose_d2.modeling import GradientReversal, MaskAndPredict

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
    """Two masking modules (both must be set) and one reversal, nested as in a real model."""

    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleList([MaskAndPredict(block_size=b) for b in (0.25, 0.5)])
        self.grl = GradientReversal(1.0)


class _Wrapped(nn.Module):  # stands in for DistributedDataParallel
    def __init__(self, module):
        super().__init__()
        self.module = module


class _Trainer:
    def __init__(self, model, iteration):
        self.model = model
        self.iter = iteration
        self.storage = EventStorage(iteration)


def _cfg():
    cfg = get_cfg()
    add_occpose_config(cfg)
    m = cfg.MODEL.OCCPOSE.MASK_AND_PREDICT
    m.RATIO_START, m.RATIO_END, m.START_ITER, m.END_ITER = 0.0, 0.6, 0, 300
    cfg.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_SCHEDULE = "ramp"
    cfg.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_RAMP_ITERS = 300
    return cfg


def _run_hooks(model, iteration):
    trainer = _Trainer(_Wrapped(model), iteration)
    for hook in (CurriculumMaskingHook.from_config(_cfg()), GRLScheduleHook.from_config(_cfg())):
        hook.trainer = trainer
        hook.before_step()
    return {k: v for k, (v, _) in trainer.storage.latest().items()}


def test_hooks_set_values_from_the_iteration_like_a_resumed_run():
    model = _Model()
    # a run "resumed" at iteration 150 gets the value of iteration 150, not of a counter
    scalars = _run_hooks(model, 150)
    ramp = 2.0 / (1.0 + math.exp(-5.0)) - 1.0
    assert [m.ratio for m in model.heads] == pytest.approx([0.3, 0.3])
    assert model.grl.lambd == pytest.approx(ramp)
    assert scalars == pytest.approx({"occpose/mask_ratio": 0.3, "occpose/grl_lambda": ramp})


def test_a_model_without_the_modules_has_nothing_to_set():
    assert _run_hooks(nn.Linear(1, 1), 150) == {}


def test_module_setters_validate():
    with pytest.raises(ValueError, match="mask ratio must be in"):
        MaskAndPredict(block_size=0.25).set_ratio(1.2)
    with pytest.raises(ValueError, match="GRL lambda must be"):
        GradientReversal(1.0).set_lambda(-1)
