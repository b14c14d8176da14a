"""Self-training on target instances: pseudo-labels from EMA-teacher heatmaps."""

import copy

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
    inst.gt_pasted = torch.tensor([True, False, False])  # a pasted source person: labeled
    assert st.eligible(inst).tolist() == [False, False, False]
    inst.remove("gt_pasted")
    # In training: a target image whose persons are all less visible gives no pseudo-loss.
    inputs = make_inputs()
    model.train()
    with EventStorage(0):
        assert model(inputs)["loss_pose_pseudo"].item() > 0
        target = inputs[1]["instances"]
        target.gt_vis_boxes = Boxes(target.gt_boxes.tensor * torch.tensor([1.0, 1, 1, 0.5]))
        assert model(inputs)["loss_pose_pseudo"].item() == 0.0


def test_peak_agreement_counts_cells_between_the_two_peaks():
    from occpose_d2.modeling.self_training import peak_agreement

    a = torch.zeros(1, 3, 8, 8)
    b = torch.zeros(1, 3, 8, 8)
    a[0, 0, 2, 2] = b[0, 0, 2, 3] = 1.0  # one cell apart
    a[0, 1, 2, 2] = b[0, 1, 5, 6] = 1.0  # 5 cells apart (3, 4)
    a[0, 2, 7, 0] = b[0, 2, 7, 0] = 1.0  # same cell
    assert peak_agreement(a, b, 1.0).tolist() == [[True, False, True]]
    assert peak_agreement(a, b, 5.0).tolist() == [[True, True, True]]
    assert peak_agreement(a, b, 0.5).tolist() == [[False, False, True]]


def test_flip_teacher_averages_the_mirrored_pass_and_drops_disagreeing_joints():
    from occpose_d2.modeling.self_training import peak_agreement

    model = _self_training_model(start_iter=0)
    st = model.instance_heads.self_training
    st.flip_teacher, st.flip_agreement = True, 3.0
    torch.manual_seed(0)
    x, x_mirrored = torch.randn(4, 16, 7, 7), torch.randn(4, 16, 7, 7)
    heatmaps, agree = st.flip_teacher_heatmaps(x, x_mirrored)
    plain = st.teacher_heatmaps(x)
    # mirrored back: columns reversed and each left joint read from its right partner's channel
    mirrored_back = st.teacher_heatmaps(x_mirrored).flip(-1)[:, [0, 2, 1, 4, 3, 6, 5, 8, 7,
                                                                   10, 9, 12, 11]]
    assert torch.allclose(heatmaps, (plain + mirrored_back) / 2, atol=1e-6)
    assert agree.tolist() == peak_agreement(plain, mirrored_back, 3.0).tolist()
    assert not agree.all() and agree.any()
    st.flip_agreement = 0.0  # no check: every joint may become a pseudo-label
    assert st.flip_teacher_heatmaps(x, x_mirrored)[1].all()


def test_flip_teacher_in_training_reads_the_flipped_target_images():
    model = _self_training_model(start_iter=1)
    st = model.instance_heads.self_training
    st.flip_teacher = True  # FLIP_AGREEMENT 0: every joint of the averaged heatmaps counts
    model.train()
    calls = []
    original = model._mirrored_features
    model._mirrored_features = lambda *a: calls.append(1) or original(*a)
    with EventStorage(0) as storage:
        model(make_inputs())
        assert not calls  # before START_ITER: no extra backbone pass
        storage.iter = 1
        loss = model(make_inputs())["loss_pose_pseudo"]
        assert calls == [1]  # the target detector's images only
        assert loss.item() > 0
        assert storage.history("occpose/pseudo_flip_agree_frac").latest() == 1.0
        # An untrained teacher's two passes put most peaks in different cells: those go.
        st.flip_agreement = 0.5
        model(make_inputs())
        agree = storage.history("occpose/pseudo_flip_agree_frac").latest()
        assert agree < 0.5
        assert storage.history("occpose/pseudo_joint_frac").latest() <= agree


def test_soft_pseudo_loss_is_least_where_the_student_copies_the_teacher():
    from occpose_d2.modeling.self_training import soft_pseudo_loss

    torch.manual_seed(0)
    teacher = torch.randn(2, 3, 4, 4)
    kept = torch.tensor([[True, False, True], [False, False, True]])
    copy = soft_pseudo_loss(teacher.clone(), teacher, kept)
    probs = teacher.flatten(2)[kept].softmax(-1)
    entropy = -(probs * probs.log()).sum(-1).mean()
    assert copy.item() == pytest.approx(entropy.item(), rel=1e-5)
    # A sharper (arg-max) student is further from a soft teacher than the teacher itself.
    assert soft_pseudo_loss(teacher * 10, teacher, kept) > copy
    # Joints that are not kept do not count.
    other = teacher.clone()
    other[0, 1] = torch.randn(4, 4) * 10
    assert soft_pseudo_loss(other, teacher, kept).item() == pytest.approx(copy.item())


def test_soft_targets_train_the_student_towards_the_teacher_distribution():
    model = _self_training_model(start_iter=0)
    model.instance_heads.self_training.targets = "soft"
    model.train()
    with EventStorage(0):
        loss = model(make_inputs())["loss_pose_pseudo"]
    assert loss.item() > 0
    loss.backward()
    assert model.instance_heads.pose_head.predictor.weight.grad.abs().sum() > 0


def test_feature_dropout_perturbs_the_student_view_only():
    model = _self_training_model(start_iter=0)
    st = model.instance_heads.self_training
    feats = torch.rand(3, 8, 5, 5) + 0.5
    assert st.perturb(feats) is feats  # off by default
    st.feature_dropout = 0.5
    torch.manual_seed(0)
    out = st.perturb(feats)
    per_channel = out.flatten(2)
    dropped = (per_channel == 0).all(-1)
    # Whole channels are dropped (about half of them), the others are scaled by 1 / (1 - p).
    assert 0 < dropped.sum() < dropped.numel()
    assert torch.allclose(per_channel[~dropped], 2 * feats.flatten(2)[~dropped])
    # The pseudo-labels come from the intact features: the teacher's kept-joint share does not
    # depend on the student's dropout, while the student's loss does.
    model.train()
    losses = []
    for p in (0.0, 0.5):
        run = copy.deepcopy(model)  # the same teacher and student for both
        run.instance_heads.self_training.feature_dropout = p
        torch.manual_seed(1)
        with EventStorage(0) as storage:
            losses.append(run(make_inputs())["loss_pose_pseudo"].item())
            assert storage.history("occpose/pseudo_joint_frac").latest() == 1.0
    assert losses[0] != losses[1]
    with pytest.raises(ValueError, match="feature_dropout"):
        PoseSelfTraining(student={}, start_iter=0, ema_decay=0.9, threshold=0.5,
                         loss_weight=1.0, feature_dropout=1.0)
