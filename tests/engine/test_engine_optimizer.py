"""The trainer's optimizers: batched per-parameter norm clipping equals D2's, bit for bit."""

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.solver.build import maybe_add_gradient_clipping as d2_maybe_add_gradient_clipping
from torch import nn

from occpose_d2 import add_occpose_config
from occpose_d2.engine.optimizer import build_optimizer, clip_grad_norm_per_parameter


def _cfg(optimizer: str, clip_type: str = "norm", norm_type: float = 2.0):
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.SOLVER.OPTIMIZER = optimizer
    cfg.SOLVER.BASE_LR = 0.01
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = clip_type
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1.0
    cfg.SOLVER.CLIP_GRADIENTS.NORM_TYPE = norm_type
    return cfg


def _model() -> nn.Module:
    """Conv + norm + linear, and a head that gets no gradient (its ``grad`` stays None)."""
    torch.manual_seed(0)
    return nn.ModuleDict({
        "conv": nn.Conv2d(3, 8, 3), "norm": nn.GroupNorm(2, 8), "fc": nn.Linear(8, 4),
        "unused": nn.Linear(4, 4),
    })


def _train(cfg, build, steps: int = 3) -> nn.Module:
    """``steps`` optimizer steps on fixed inputs, with losses large enough that the conv, norm
    and linear gradients are clipped (norm far above 1) on the first steps."""
    model = _model()
    optimizer = build(cfg, model)
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        optimizer.zero_grad()
        y = model["fc"](model["norm"](model["conv"](x)).mean(dim=(2, 3)))
        (100.0 * y.square().sum()).backward()
        optimizer.step()
    return model


def _d2_build(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """The same optimizer and parameter groups with D2's one-call-per-parameter clipper."""
    groups = [dict(group) for group in build_optimizer(cfg, model).param_groups]  # every option
    optimizer_cls = {"SGD": torch.optim.SGD, "ADAMW": torch.optim.AdamW}[cfg.SOLVER.OPTIMIZER]
    return d2_maybe_add_gradient_clipping(cfg, optimizer_cls)(groups)


@pytest.mark.parametrize("optimizer", ["SGD", "ADAMW"])
@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_training_steps_equal_d2_clipping_bit_for_bit(optimizer, norm_type):
    cfg = _cfg(optimizer, norm_type=norm_type)
    ours, theirs = _train(cfg, build_optimizer), _train(cfg, _d2_build)
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.equal(a, b), name
    assert torch.equal(ours["unused"].weight, _model()["unused"].weight)  # no grad: untouched


def test_each_gradient_is_scaled_to_the_norm_on_its_own():
    big, small = torch.full((4,), 3.0), torch.full((2, 2), 0.1)  # norms 6.0 and 0.2
    clip_grad_norm_per_parameter([big, small], max_norm=1.0, norm_type=2.0)
    assert big.norm().item() == pytest.approx(1.0, abs=1e-5)  # scaled down alone ...
    assert torch.equal(small, torch.full((2, 2), 0.1))  # ... the small one is left as it was


def test_value_clipping_and_no_clipping_are_d2s():
    model = _model()
    value = build_optimizer(_cfg("SGD", clip_type="value"), model)
    assert type(value).__name__ == "SGDWithGradientClip"
    off = _cfg("ADAMW")
    off.SOLVER.CLIP_GRADIENTS.ENABLED = False
    assert type(build_optimizer(off, model)) is torch.optim.AdamW
