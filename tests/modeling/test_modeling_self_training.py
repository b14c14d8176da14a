"""Self-training on target instances: pseudo-labels from EMA-teacher heatmaps."""

import pytest
import torch
from common import build_tiny_model, get_tiny_cfg, make_inputs
from detectron2.utils.events import EventStorage

from occpose_d2.modeling.self_training import PoseSelfTraining, heatmap_pseudo_labels


def test_pseudo_labels_only_above_the_threshold_at_the_peak_cell():
    s = 8
    heatmaps = torch.zeros(1, 2, s, s)
    heatmaps[0, 0, 2, 5] = 20.0  # confident joint: all softmax mass on one cell
    boxes = torch.tensor([[10.0, 20.0, 26.0, 52.0]])  # 16 x 32 px: 2 x 4 px per cell
    kps, conf = heatmap_pseudo_labels(heatmaps, boxes, "softmax_ce", threshold=0.5)
    assert conf[0, 0] == pytest.approx(1.0, abs=1e-4)
    assert conf[0, 1] == pytest.approx(4 / 64, abs=1e-4)  # flat map: peak at a corner cell
    assert kps[0, 0].tolist() == pytest.approx([10 + 5.5 * 2, 20 + 2.5 * 4, 2.0])
    assert kps[0, 1, 2] == 0  # below the threshold: no label
    kps_low, _ = heatmap_pseudo_labels(heatmaps, boxes, "softmax_ce", threshold=0.05)
    assert kps_low[0, 1, 2] == 2


def _self_training_model(start_iter: int):
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.SELF_TRAINING.ENABLED = True
    cfg.MODEL.OCCPOSE.SELF_TRAINING.START_ITER = start_iter
    cfg.MODEL.OCCPOSE.SELF_TRAINING.THRESHOLD = 0.0
    cfg.MODEL.OCCPOSE.SELF_TRAINING.EMA_DECAY = 0.9
    return build_tiny_model(cfg)


def test_self_training_loss_starts_at_its_iteration_and_trains_the_student_only():
    model = _self_training_model(start_iter=1)
    model.train()
    st = model.instance_heads.self_training
    assert isinstance(st, PoseSelfTraining)
    assert not any(p.requires_grad for p in st.parameters())
    inputs = make_inputs()
    with EventStorage(0) as storage:
        assert model(inputs)["loss_pose_pseudo"].item() == 0.0
        storage.iter = 1
        loss = model(inputs)["loss_pose_pseudo"]
        assert loss.item() > 0
        loss.backward()
        assert model.instance_heads.pose_head.predictor.weight.grad.abs().sum() > 0
        assert storage.history("occpose/pseudo_joint_frac").latest() == 1.0
        # A step without target images has nothing to learn from.
        assert model(make_inputs(domains=("pe",)))["loss_pose_pseudo"].item() == 0.0


def test_teacher_is_an_exponential_moving_average_of_the_student():
    model = _self_training_model(start_iter=0)
    heads = model.instance_heads
    teacher = heads.self_training.teacher["pose_head"].predictor.weight
    before = teacher.detach().clone()
    with torch.no_grad():
        heads.pose_head.predictor.weight.add_(1.0)
    student = heads.pose_head.predictor.weight.detach().clone()
    model.train()
    with EventStorage(0):
        model(make_inputs())
    assert torch.allclose(teacher, 0.9 * before + 0.1 * student, atol=1e-6)
    assert "instance_heads.self_training.teacher.pose_head.predictor.weight" in model.state_dict()


def test_only_persons_visible_enough_get_pseudo_labels():
    from detectron2.structures import Boxes, Instances

    from occpose_d2.modeling.self_training import visible_fraction

    inst = Instances((100, 100))
    inst.gt_boxes = Boxes(torch.tensor([[0.0, 0, 10, 20], [0, 0, 10, 20], [0, 0, 10, 20]]))
    inst.gt_vis_boxes = Boxes(torch.tensor([[0.0, 0, 10, 20], [0, 0, 10, 17], [0, 0, 5, 10]]))
    assert visible_fraction(inst).tolist() == pytest.approx([1.0, 0.85, 0.25])
    model = _self_training_model(start_iter=0)
    st = model.instance_heads.self_training
    assert st.eligible(inst).tolist() == [True, True, True]  # MIN_VISIBLE 0: everyone
    st.min_visible = 0.9
    assert st.eligible(inst).tolist() == [True, False, False]
    # In training: a target image whose persons are all less visible gives no pseudo-loss.
    inputs = make_inputs()
    model.train()
    with EventStorage(0):
        assert model(inputs)["loss_pose_pseudo"].item() > 0
        target = inputs[1]["instances"]
        target.gt_vis_boxes = Boxes(target.gt_boxes.tensor * torch.tensor([1.0, 1, 1, 0.5]))
        assert model(inputs)["loss_pose_pseudo"].item() == 0.0
