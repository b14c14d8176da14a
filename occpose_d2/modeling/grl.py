"""Gradient reversal layer (Ganin & Lempitsky, DANN).

The layer is the identity in the forward pass and multiplies the incoming gradient by
``-lambda`` in the backward pass, so the modules before it are trained to *maximize* the loss
of the domain classifier after it (the adversarial part of the paper's Fig. 2).
"""

import torch
from torch import nn

__all__ = [
    "GradientReversalFunction",
    "GradientReversal",
    "grad_reverse",
]

class GradientReversalFunction(torch.autograd.Function):
    """``forward(x, lambd) = x``; ``backward(g) = -lambd * g`` (no gradient for ``lambd``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = float(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.lambd * grad_output, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity on ``x`` (any shape) whose gradient is multiplied by ``-lambd``."""
    return GradientReversalFunction.apply(x, lambd)


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse` with a settable strength ``lambd`` (>= 0).

    The strength is a plain attribute, not a parameter or buffer: the trainer's hook sets it each
    step (constant or DANN ramp, ``MODEL.OCCPOSE.DOMAIN_HEAD.GRL_*``) through :meth:`set_lambda`
    on every ``GradientReversal`` of the model (found by type).
    """

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = 0.0
        self.set_lambda(lambd)

    def set_lambda(self, lambd: float) -> None:
        """Set the reversal strength (>= 0)."""
        if lambd < 0:
            raise ValueError(f"GRL lambda must be >= 0, got {lambd}")
        self.lambd = float(lambd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambd)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"
