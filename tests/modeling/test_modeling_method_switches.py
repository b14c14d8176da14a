"""The method's beyond-paper switches: occluder-like Mask-and-Predict cuts, EMA self-training on
target instances, and same-init detectors."""

import numpy as np
import pytest
import torch
from common import build_tiny_model, get_tiny_cfg, make_inputs
from detectron2.utils.events import EventStorage
from scipy import ndimage

from occpose_d2.modeling.mask_and_predict import MaskAndPredict, random_block_keep
from occpose_d2.modeling.self_training import PoseSelfTraining, heatmap_pseudo_labels


def _square_maps(n: int, side: int = 28) -> torch.Tensor:
    maps = torch.zeros(n, side, side)
    maps[:, 4:24, 6:22] = 1.0
    return maps


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.7])
def test_mixed_pattern_removes_the_ratio_half_of_maps_in_one_straight_cut(ratio):
    maps = _square_maps(40)
    keep = random_block_keep(maps, ratio, 0.25, torch.Generator().manual_seed(0), "mixed")
    fg = maps > 0.5
    target = round(ratio * int(fg[0].sum()))
    removed = (~keep & fg).numpy()
    assert all(int(r.sum()) == target for r in removed)
    # A cut leaves one removed region and one kept region, both touching the person's outline;
    # blocks of a quarter of the side leave scattered pieces on most maps at these ratios.
    one_piece = [ndimage.label(r)[1] == 1 and ndimage.label(f & ~r)[1] == 1
                 for r, f in zip(removed, fg.numpy())]
    blocks = random_block_keep(maps, ratio, 0.25, torch.Generator().manual_seed(0), "blocks")
    blocks_one_piece = [ndimage.label((~k & f).numpy())[1] == 1 for k, f in zip(blocks, fg)]
    assert 0.3 <= np.mean(one_piece) <= 1.0
    assert np.mean(one_piece) > np.mean(blocks_one_piece)


def test_mask_and_predict_uses_the_training_pattern_only_in_training():
    maps = _square_maps(6)[:, None]
    mp = MaskAndPredict(block_size=0.25, pattern="mixed")
    mp.eval()
    got = mp(maps, 0.5, torch.Generator().manual_seed(5))
    ref = maps * random_block_keep(maps[:, 0], 0.5, 0.25, torch.Generator().manual_seed(5),
                                   "blocks")[:, None]
    assert torch.equal(got, ref)
    mp.train()
    cut = mp(maps, 0.5, torch.Generator().manual_seed(5))
    assert not torch.equal(cut, ref)
    with pytest.raises(ValueError, match="pattern"):
        MaskAndPredict(block_size=0.25, pattern="stripes")


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


def test_two_detectors_start_equal_but_are_separate():
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.SHARE_DETECTORS = False
    model = build_tiny_model(cfg)
    pe, pd = model.detectors["pe"], model.detectors["pd"]
    assert pe is not pd
    pairs = list(zip(pe.state_dict().values(), pd.state_dict().values()))
    assert pairs and all(torch.equal(a, b) for a, b in pairs)
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(pe.parameters(), pd.parameters()))
