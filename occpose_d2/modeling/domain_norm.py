"""Domain-specific batch normalization for one detector shared by both domains (beyond the
paper; ``MODEL.OCCPOSE.DOMAIN_NORM``).

Why: with ``MODEL.OCCPOSE.SHARE_DETECTORS`` each domain's images go through the shared backbone
in a pass of their own, so in training every BatchNorm layer normalizes a domain by that
domain's batch statistics, while its running statistics, which serve at inference, are updated
by both domains in turn (about half and half). At test time each domain is then normalized by a
mix that it was never trained with. Keeping one set of running statistics per domain, with the
affine weights shared, removes that mismatch; it is the domain-specific batch normalization of
Chang et al. ("Domain-Specific Batch Normalization for Unsupervised Domain Adaptation", CVPR
2019), here with shared affine parameters.
"""

from contextlib import contextmanager
from typing import Iterator, List

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DomainBatchNorm2d", "convert_to_domain_batchnorm", "domain_batchnorm_layers",
           "norm_domain"]


class DomainBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with one set of running statistics per domain and one affine transform.

    ``domain`` (an index in ``[0, num_domains)``, set with :func:`norm_domain`) picks the
    running statistics that a training pass updates and that an inference pass normalizes by.
    Buffers: ``domain_running_mean`` and ``domain_running_var``, each ``num_domains x C``.
    Input and output: ``N x C x H x W``.
    """

    def __init__(self, num_features: int, num_domains: int, eps: float = 1e-5,
                 momentum: float = 0.1, affine: bool = True):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=False)
        self.num_domains = num_domains
        self.register_buffer("domain_running_mean", torch.zeros(num_domains, num_features))
        self.register_buffer("domain_running_var", torch.ones(num_domains, num_features))
        self.domain = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not 0 <= self.domain < self.num_domains:
            raise ValueError(f"DomainBatchNorm2d: domain index {self.domain} is not in "
                             f"[0, {self.num_domains})")
        return F.batch_norm(x, self.domain_running_mean[self.domain],
                            self.domain_running_var[self.domain], self.weight, self.bias,
                            self.training, self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_domains={self.num_domains}"


def convert_to_domain_batchnorm(module: nn.Module, num_domains: int) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` (the class itself, not a subclass such as D2's
    ``NaiveSyncBatchNorm``) in ``module`` by a :class:`DomainBatchNorm2d` with the same affine
    weights and each domain's running statistics starting from the layer's own.

    Returns:
        ``module`` (changed in place), or the new layer when ``module`` itself is one.
    """
    if type(module) is nn.BatchNorm2d:
        new = DomainBatchNorm2d(module.num_features, num_domains, module.eps,
                                module.momentum if module.momentum is not None else 0.1,
                                module.affine)
        with torch.no_grad():
            if module.affine:
                new.weight.copy_(module.weight)
                new.bias.copy_(module.bias)
            if module.running_mean is not None:
                new.domain_running_mean.copy_(module.running_mean.expand(num_domains, -1))
                new.domain_running_var.copy_(module.running_var.expand(num_domains, -1))
        new.train(module.training)
        tensors = list(module.parameters()) + list(module.buffers())
        return new.to(tensors[0].device) if tensors else new
    for name, child in module.named_children():
        new = convert_to_domain_batchnorm(child, num_domains)
        if new is not child:
            setattr(module, name, new)
    return module


def domain_batchnorm_layers(module: nn.Module) -> List[DomainBatchNorm2d]:
    """Every :class:`DomainBatchNorm2d` of ``module`` (empty without ``DOMAIN_NORM``)."""
    return [m for m in module.modules() if isinstance(m, DomainBatchNorm2d)]


@contextmanager
def norm_domain(module: nn.Module, domain: int) -> Iterator[None]:
    """Within the block, every :class:`DomainBatchNorm2d` of ``module`` uses the running
    statistics of domain index ``domain``; the previous indices come back afterwards."""
    layers = domain_batchnorm_layers(module)
    before = [m.domain for m in layers]
    for m in layers:
        m.domain = domain
    try:
        yield
    finally:
        for m, d in zip(layers, before):
            m.domain = d
