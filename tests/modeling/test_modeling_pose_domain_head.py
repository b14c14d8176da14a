"""Pose-level domain classifier: BCE on source and target instances' heatmaps, gradient reversed
into the pose path; off by default."""

import math

import pytest
import torch
from common import build_tiny_model, get_tiny_cfg, make_inputs
from detectron2.layers import ShapeSpec
from detectron2.utils.events import EventStorage

from occpose_d2.engine.hooks import modules_of_type
from occpose_d2.modeling import (
    ConvPoseDomainClassifier,
    GradientReversal,
    pooled_joint_distributions,
)


def _cfg():
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE = "softmax_ce"
    cfg.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.LOSS_WEIGHT = 0.5
    cfg.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.CONV_DIM = 16
    return cfg


def test_pooled_distributions_hold_each_joint_mass_on_the_grid():
    logits = torch.zeros(2, 13, 28, 28)
    logits[0, 3, 5, 9] = 50.0  # joint 3 of person 0: sure of cell (5, 9)
    pooled = pooled_joint_distributions(logits, 14)
    assert pooled.shape == (2, 13, 14, 14)
    # each joint's mass is G whatever its spread
    assert torch.allclose(pooled.sum(dim=(2, 3)), torch.full((2, 13), 14.0))
    assert pooled[0, 3, 2, 4].item() == pytest.approx(14.0, abs=1e-4)  # block (5 // 2, 9 // 2)
    assert torch.allclose(pooled[1], torch.full((13, 14, 14), 1 / 14))  # uniform joints
    with pytest.raises(ValueError, match="divide"):
        pooled_joint_distributions(logits, 5)


def test_untrained_classifier_loss_is_log2_and_its_gradient_is_reversed():
    torch.manual_seed(0)
    head = ConvPoseDomainClassifier(_cfg(), ShapeSpec(channels=13, height=28, width=28))
    heatmaps = torch.randn(4, 13, 28, 28, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])

    def grad():
        heatmaps.grad = None
        head.loss(head(heatmaps), labels).backward()
        return heatmaps.grad.clone()

    with EventStorage() as storage:
        assert head.loss(head(heatmaps), labels).item() == pytest.approx(math.log(2), abs=0.05)
        assert 0.0 <= storage.history("occpose/pose_domain_acc_pe").latest() <= 1.0
        reversed_grad = grad()
        head.grl = torch.nn.Identity()  # the plain classifier's gradient is the opposite one
        plain_grad = grad()
    assert plain_grad.abs().sum() > 0
    assert torch.allclose(reversed_grad, -plain_grad)


def test_grid_that_does_not_divide_the_heatmaps_is_named():
    cfg = _cfg()
    cfg.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.GRID = 5
    with pytest.raises(ValueError, match="POSE_DOMAIN_HEAD.GRID"):
        ConvPoseDomainClassifier(cfg, ShapeSpec(channels=13, height=28, width=28))


def test_model_adds_the_pose_level_loss_only_when_weighted_and_it_reaches_the_target_detector():
    assert build_tiny_model().instance_heads.pose_domain_head is None
    model = build_tiny_model(_cfg())
    head = model.instance_heads.pose_domain_head
    # the trainer's GRL hook schedules it with the instance-level one (found by type)
    assert head.grl in modules_of_type(model, GradientReversal)
    model.train()
    with EventStorage() as storage:
        loss = model(make_inputs())["loss_pose_domain"]
        assert 0 < loss.item() < 0.5  # 0.5 x (about log 2)
        loss.backward()
    for d in ("pe", "pd"):
        assert 0.0 <= storage.history(f"occpose/pose_domain_acc_{d}").latest() <= 1.0
    # the target persons' heatmaps, which no pose loss reaches, are pushed through the pose path
    # into the target detector's backbone
    grads = [p.grad for p in model.detectors["pd"].backbone.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
