"""Image-level domain classifier: per-location BCE on both detectors' backbone features, gradient
reversed into the backbones; off by default."""

import math

import pytest
import torch
from common import build_tiny_model, get_tiny_cfg, make_inputs
from detectron2.layers import ShapeSpec
from detectron2.utils.events import EventStorage

from occpose_d2.engine.hooks import modules_of_type
from occpose_d2.modeling import ConvImageDomainClassifier, GradientReversal


def _head(cfg=None):
    cfg = cfg or get_tiny_cfg()
    cfg.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT = 0.5
    cfg.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.IN_FEATURES = ["p2", "p3"]
    shapes = {f"p{k}": ShapeSpec(channels=16, stride=2 ** k) for k in range(2, 7)}
    return ConvImageDomainClassifier(cfg, shapes)


def _grad_of_p2(head, feats, labels):
    feats["p2"].grad = None
    head.loss(feats, labels).backward()
    return feats["p2"].grad.clone()


def test_untrained_classifier_loss_is_log2_and_its_gradient_is_reversed():
    torch.manual_seed(0)
    head = _head()
    feats = {"p2": torch.randn(2, 16, 8, 6, requires_grad=True),
             "p3": torch.randn(2, 16, 4, 3, requires_grad=True)}
    labels = torch.ones(2)
    with EventStorage() as storage:
        # the predictor starts near 0: every location says "don't know"
        assert head.loss(feats, labels).item() == pytest.approx(math.log(2), abs=0.05)
        assert 0.0 <= storage.history("occpose/image_domain_acc_pd").latest() <= 1.0
        reversed_grad = _grad_of_p2(head, feats, labels)
        head.grl.set_lambda(0.0)  # nothing reaches the features
        assert _grad_of_p2(head, feats, labels).abs().sum() == 0
        head.grl = torch.nn.Identity()  # the plain classifier's gradient is the opposite one
        plain_grad = _grad_of_p2(head, feats, labels)
    assert plain_grad.abs().sum() > 0
    assert torch.allclose(reversed_grad, -plain_grad)


def test_missing_feature_names_are_named():
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.IN_FEATURES = ["res4"]
    with pytest.raises(ValueError, match="IN_FEATURES.*res4"):
        ConvImageDomainClassifier(cfg, {"p2": ShapeSpec(channels=16)})


def test_model_adds_the_image_level_loss_only_when_weighted():
    assert build_tiny_model().image_domain_head is None
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT = 0.5
    model = build_tiny_model(cfg)
    # the trainer's GRL hook schedules it with the instance-level one (found by type)
    assert model.image_domain_head.grl in modules_of_type(model, GradientReversal)
    model.train()
    with EventStorage() as storage:
        losses = model(make_inputs())
        loss = losses["loss_image_domain"]
        assert 0 < loss.item() < 0.5  # 0.5 x (about log 2)
        loss.backward()
    for d in ("pe", "pd"):
        assert 0.0 <= storage.history(f"occpose/image_domain_acc_{d}").latest() <= 1.0
        # the reversed gradient reaches both detectors' backbones
        grads = [p.grad for p in model.detectors[d].backbone.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
