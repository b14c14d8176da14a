"""Domain-specific batch normalization: a layer keeps one set of running statistics per domain
(as two BatchNorm layers with shared weights would), the conversion keeps what the network
computes, and in a shared detector each domain trains and is inferred with its own statistics."""

import pytest
import torch
from common import build_tiny_model, get_tiny_cfg, make_inputs
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage
from torch import nn

from occpose_d2.modeling.domain_norm import (
    DomainBatchNorm2d,
    convert_to_domain_batchnorm,
    norm_domain,
)


def _batches(seed: int = 0):
    """Two domains' N x C x H x W batches, of means 5 and -3 and spreads 2 and 0.5."""
    g = torch.Generator().manual_seed(seed)
    return (5 + 2 * torch.randn(4, 3, 6, 6, generator=g),
            -3 + 0.5 * torch.randn(4, 3, 6, 6, generator=g))


def test_each_domain_trains_and_infers_as_with_a_batchnorm_of_its_own():
    torch.manual_seed(0)
    layer = DomainBatchNorm2d(3, num_domains=2, momentum=0.2)
    with torch.no_grad():
        layer.weight.uniform_(0.5, 2.0)
        layer.bias.uniform_(-1.0, 1.0)
    own = [nn.BatchNorm2d(3, momentum=0.2) for _ in range(2)]
    for bn in own:
        bn.load_state_dict({"weight": layer.weight.detach(), "bias": layer.bias.detach()},
                           strict=False)
    a, b = _batches()
    for step in range(3):  # alternate as the meta-architecture does: one pass per domain
        for d, x in enumerate((a + step, b - step)):
            with norm_domain(layer, d):
                torch.testing.assert_close(layer(x), own[d](x))
    layer.eval()
    for bn in own:
        bn.eval()
    for d, x in enumerate((a, b)):
        torch.testing.assert_close(layer.domain_running_mean[d], own[d].running_mean)
        torch.testing.assert_close(layer.domain_running_var[d], own[d].running_var)
        with norm_domain(layer, d):
            torch.testing.assert_close(layer(x), own[d](x))
    # the domains' statistics are apart: normalizing a domain by the other's moves it far
    with norm_domain(layer, 1):
        assert (layer(a) - own[0](a)).abs().mean() > 1.0
    assert layer.domain == 0  # norm_domain put the index back


def test_conversion_keeps_the_network_and_its_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
    net.train()
    for x in _batches():
        net(x)  # running statistics away from their initial values
    net.eval()
    x = _batches(1)[0]
    before = net(x)
    convert_to_domain_batchnorm(net, 2)
    assert [type(m) for m in net.modules()].count(DomainBatchNorm2d) == 2
    assert not any(type(m) is nn.BatchNorm2d for m in net.modules())
    for d in (0, 1):
        with norm_domain(net, d):
            torch.testing.assert_close(net(x), before)
    assert set(net.state_dict()) >= {"1.domain_running_mean", "3.1.domain_running_var"}
    with pytest.raises(ValueError, match="domain index 2"):
        with norm_domain(net, 2):
            net(x)


def _shared_cfg(domain_norm: bool):
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE_TINY.NORM = "BN"
    cfg.MODEL.OCCPOSE.SHARE_DETECTORS = True
    cfg.MODEL.OCCPOSE.DOMAIN_NORM = domain_norm
    return cfg


def test_shared_detector_keeps_per_domain_statistics():
    """One training step on both domains moves each domain's running statistics by its own
    images only; inference on an image reads the statistics of its domain."""
    model = build_tiny_model(_shared_cfg(True)).train()
    layers = [m for m in model.detectors["pe"].backbone.modules()
              if isinstance(m, DomainBatchNorm2d)]
    assert layers and not any(type(m) is nn.BatchNorm2d
                              for m in model.detectors["pe"].backbone.modules())
    first = layers[0]
    start = first.domain_running_mean.clone()
    with EventStorage():
        model(make_inputs(("pe",)))
    moved = (first.domain_running_mean - start).abs().sum(dim=1)
    assert moved[0] > 0 and moved[1] == 0  # a source-only batch leaves the target's alone
    with EventStorage():
        model(make_inputs(("pd",)))
    assert (first.domain_running_mean[1] - start[1]).abs().sum() > 0
    model.eval()
    inputs = make_inputs(("pd",), seed=3)
    with torch.no_grad():
        target = model.inference(inputs, do_postprocess=False)[0]
        # the target's statistics set to the source's: other results
        saved = [(m.domain_running_mean[1].clone(), m.domain_running_var[1].clone())
                 for m in layers]
        for m in layers:
            m.domain_running_mean[1] = m.domain_running_mean[0]
            m.domain_running_var[1] = m.domain_running_var[0]
        swapped = model.inference(inputs, do_postprocess=False)[0]
        for m, (mean, var) in zip(layers, saved):
            m.domain_running_mean[1], m.domain_running_var[1] = mean, var
        again = model.inference(inputs, do_postprocess=False)[0]
    assert not torch.equal(target.scores, swapped.scores) or not torch.equal(
        target.pred_boxes.tensor, swapped.pred_boxes.tensor)
    torch.testing.assert_close(again.pred_boxes.tensor, target.pred_boxes.tensor)


def test_domain_norm_needs_a_shared_detector_with_batchnorm():
    cfg = _shared_cfg(True)
    cfg.MODEL.OCCPOSE.SHARE_DETECTORS = False
    with pytest.raises(ValueError, match="DOMAIN_NORM"):
        build_model(cfg)
    cfg = _shared_cfg(True)
    cfg.MODEL.OCCPOSE_TINY.NORM = ""
    with pytest.raises(ValueError, match="no BatchNorm2d"):
        build_model(cfg)
    assert not any(isinstance(m, DomainBatchNorm2d) for m in build_model(_shared_cfg(False))
                   .modules())
