"""Optimizers of ``OccPoseTrainer``: D2's SGD or AdamW, with D2's per-parameter gradient clipping
done in one batched pass.

D2's ``maybe_add_gradient_clipping`` clips by norm with one ``clip_grad_norm_`` call per
parameter, so every step pays a Python round trip and a few small tensor ops per parameter (154
parameters in the tiny config; the time it saves is in BENCHMARKS.md, section 1.20).
:func:`maybe_add_gradient_clipping` here keeps D2's meaning (each parameter's gradient is
scaled to norm at most ``CLIP_VALUE``, independently of the others) and computes it with PyTorch's
multi-tensor (``_foreach``) ops: the same per-tensor norms and the same element-wise scaling, so
the gradients are bit for bit those of D2's clipper. Clipping by value is left to D2.
"""

from typing import List, Type

import torch
from detectron2.solver.build import get_default_optimizer_params
from detectron2.solver.build import maybe_add_gradient_clipping as d2_maybe_add_gradient_clipping
from torch import nn

__all__ = ["OPTIMIZERS", "build_optimizer", "clip_grad_norm_per_parameter",
           "maybe_add_gradient_clipping"]

# ``SOLVER.OPTIMIZER`` values: D2's SGD or AdamW.
OPTIMIZERS = ("SGD", "ADAMW")


@torch.no_grad()
def clip_grad_norm_per_parameter(grads: List[torch.Tensor], max_norm: float,
                                 norm_type: float) -> None:
    """Scale each gradient in place to ``norm_type``-norm at most ``max_norm`` (D2's "norm" clip).

    The factor of each tensor is ``min(1, max_norm / (norm + 1e-6))``, as in
    ``torch.nn.utils.clip_grad_norm_`` called on that tensor alone. Tensors on several devices or
    of several dtypes are grouped, since multi-tensor ops take one device and dtype at a time.
    """
    groups = {}
    for g in grads:
        groups.setdefault((g.device, g.dtype), []).append(g)
    for group in groups.values():
        norms = torch.stack(torch._foreach_norm(group, norm_type))
        factors = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
        torch._foreach_mul_(group, factors.unbind())


def maybe_add_gradient_clipping(
    cfg, optimizer: Type[torch.optim.Optimizer]
) -> Type[torch.optim.Optimizer]:
    """``optimizer`` with ``SOLVER.CLIP_GRADIENTS`` applied before each step (a drop-in for D2's
    function of the same name: norm clipping batched, value clipping and "off" handed to D2)."""
    clip = cfg.SOLVER.CLIP_GRADIENTS
    if not clip.ENABLED or clip.CLIP_TYPE != "norm":
        return d2_maybe_add_gradient_clipping(cfg, optimizer)
    max_norm, norm_type = float(clip.CLIP_VALUE), float(clip.NORM_TYPE)

    def step(self, closure=None):
        grads = [p.grad for group in self.param_groups for p in group["params"]
                 if p.grad is not None]
        clip_grad_norm_per_parameter(grads, max_norm, norm_type)
        return super(clipped, self).step(closure)

    clipped = type(optimizer.__name__ + "WithGradientClip", (optimizer,), {"step": step})
    return clipped


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """``SOLVER.OPTIMIZER``: D2's SGD (``SOLVER.MOMENTUM``, ``NESTEROV``) or AdamW, over D2's
    default parameter groups, with ``SOLVER.CLIP_GRADIENTS``."""
    params = get_default_optimizer_params(
        model,
        base_lr=cfg.SOLVER.BASE_LR,
        weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
        bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR,
        weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
    )
    if cfg.SOLVER.OPTIMIZER == "SGD":
        return maybe_add_gradient_clipping(cfg, torch.optim.SGD)(
            params, lr=cfg.SOLVER.BASE_LR, momentum=cfg.SOLVER.MOMENTUM,
            nesterov=cfg.SOLVER.NESTEROV, weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        )
    return maybe_add_gradient_clipping(cfg, torch.optim.AdamW)(
        params, lr=cfg.SOLVER.BASE_LR, weight_decay=cfg.SOLVER.WEIGHT_DECAY, foreach=True
    )
