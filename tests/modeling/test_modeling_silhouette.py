"""Silhouette coverage: a skeleton that explains its visible mask costs nothing, a misplaced
joint costs and is pulled back, occluded limbs cost nothing; target instances only."""

import cv2
import numpy as np
import pytest
import torch
from common import build_tiny_model, get_tiny_cfg, make_inputs
from detectron2.utils.events import EventStorage

from occpose_d2.config import validate_occpose_config
from occpose_d2.keypoints import KEYPOINT_NAMES
from occpose_d2.modeling.silhouette import (
    SKELETON,
    expected_joints,
    rectangular_masks,
    segment_distances,
    silhouette_coverage_loss,
)

BOX = torch.tensor([[0.0, 0.0, 80.0, 100.0]])  # an 80 x 100 px box at the origin
# A frontal figure 100 px tall in BOX, arms raised sideways (x, y in px).
JOINTS = {
    "head": (40, 8), "left_shoulder": (50, 18), "right_shoulder": (30, 18),
    "left_elbow": (62, 12), "right_elbow": (18, 12), "left_wrist": (76, 4),
    "right_wrist": (4, 4), "left_hip": (46, 50), "right_hip": (34, 50), "left_knee": (48, 72),
    "right_knee": (32, 72), "left_ankle": (48, 95), "right_ankle": (32, 95),
}


def _joints(**moved) -> torch.Tensor:
    """1 x 13 x 2 joints of the figure, with some joints moved to (x, y)."""
    pos = {**JOINTS, **moved}
    return torch.tensor([[pos[name] for name in KEYPOINT_NAMES]], dtype=torch.float32)


def _mask(hidden=(), side: int = 50) -> torch.Tensor:
    """The figure's silhouette drawn with 6 px thick limbs (independent of the loss's geometry),
    minus the limbs between the joint pairs in ``hidden`` (occluded), as a 1 x side x side
    map over BOX."""
    img = np.zeros((100, 80), np.uint8)
    pos = {name: tuple(map(int, xy)) for name, xy in JOINTS.items()}
    for a, b in SKELETON:
        na, nb = KEYPOINT_NAMES[a], KEYPOINT_NAMES[b]
        if (na, nb) not in hidden:
            cv2.line(img, pos[na], pos[nb], 1, 6)
    cells = cv2.resize(img.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(cells > 0.5).float()[None]


def test_segment_distances_on_known_points():
    starts = torch.tensor([[[0.0, 0.0], [5.0, 5.0]]])
    ends = torch.tensor([[[10.0, 0.0], [5.0, 5.0]]])  # the second is a point
    points = torch.tensor([[[5.0, 3.0], [-4.0, 3.0], [5.0, 8.0]]])
    d = segment_distances(points, starts, ends)
    expected = torch.tensor([[[3.0, 2.0], [5.0, 85.0 ** 0.5], [8.0, 3.0]]])
    assert torch.allclose(d, expected, atol=1e-5)


def test_expected_joints_of_sharp_heatmaps_are_their_cells_centres():
    side = 20
    heatmaps = torch.zeros(1, 13, side, side)
    heatmaps[0, :, 4, 15] = 60.0  # row 4, column 15 for every joint
    xy = expected_joints(heatmaps, BOX)
    assert torch.allclose(xy[0, :, 0], torch.full((13,), 80.0 * 15.5 / side), atol=1e-3)
    assert torch.allclose(xy[0, :, 1], torch.full((13,), 100.0 * 4.5 / side), atol=1e-3)
    uniform = expected_joints(torch.zeros(1, 13, side, side), BOX)
    assert torch.allclose(uniform, torch.tensor([40.0, 50.0]).expand(1, 13, 2), atol=1e-4)


def test_the_true_skeleton_explains_its_silhouette():
    assert silhouette_coverage_loss(_joints(), _mask(), BOX, 0.08).item() == pytest.approx(0.0)


def test_a_misplaced_wrist_costs_and_its_gradient_points_to_the_true_wrist():
    # the wrist drawn back to the middle of its forearm: the forearm's outer half is unexplained
    joints = _joints(left_wrist=(64, 11)).requires_grad_(True)
    loss = silhouette_coverage_loss(joints, _mask(), BOX, 0.08)
    assert loss.item() > 1e-4
    loss.backward()
    wrist = KEYPOINT_NAMES.index("left_wrist")
    step = -joints.grad[0, wrist]
    towards = torch.tensor(JOINTS["left_wrist"]) - torch.tensor(JOINTS["left_elbow"])
    assert torch.dot(step, towards.float()) > 0
    # a larger radius explains more of the forearm's pixels: the cost falls
    wider = silhouette_coverage_loss(joints.detach(), _mask(), BOX, 0.12).item()
    assert wider < loss.item()


def test_an_occluded_limb_costs_nothing_wherever_it_is_put():
    hidden = {("left_elbow", "left_wrist"), ("left_shoulder", "left_elbow")}
    moved = _joints(left_elbow=(56, 40), left_wrist=(60, 60))  # arm down, on no mask pixel
    assert silhouette_coverage_loss(moved, _mask(hidden), BOX, 0.08).item() == pytest.approx(0.0)
    # the same pose against the silhouette with the raised arm visible costs
    assert silhouette_coverage_loss(moved, _mask(), BOX, 0.08).item() > 1e-4


def test_empty_masks_give_a_zero_that_keeps_the_graph():
    joints = _joints().requires_grad_(True)
    loss = silhouette_coverage_loss(joints, torch.zeros(1, 50, 50), BOX, 0.08)
    assert loss.item() == 0.0
    loss.backward()
    assert joints.grad is not None


def _cfg(weight: float):
    cfg = get_tiny_cfg()
    cfg.MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE = "softmax_ce"
    cfg.MODEL.OCCPOSE.SILHOUETTE.LOSS_WEIGHT = weight
    return cfg


def test_model_adds_the_loss_only_when_weighted_and_it_trains_the_target_pose_path():
    model = build_tiny_model(_cfg(0.0))
    model.train()
    with EventStorage():
        assert "loss_pose_silhouette" not in model(make_inputs())
    model = build_tiny_model(_cfg(5.0))
    model.train()
    with EventStorage():
        loss = model(make_inputs())["loss_pose_silhouette"]
        assert loss.item() > 0  # untrained heatmaps: every joint near the box centre
        loss.backward()
    grads = [p.grad for p in model.detectors["pd"].backbone.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # source instances give no silhouette loss: the source detector's backbone gets none
    assert model.detectors["pe"].backbone is not model.detectors["pd"].backbone
    assert all(p.grad is None or p.grad.abs().sum() == 0
               for p in model.detectors["pe"].backbone.parameters())


def test_config_rejects_silhouette_without_a_softmax_pose_head():
    cfg = _cfg(1.0)
    cfg.MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE = "mse"
    with pytest.raises(ValueError, match="SILHOUETTE.LOSS_WEIGHT"):
        validate_occpose_config(cfg)


def test_rectangle_masks_are_boxes_not_bodies_and_cost_nothing():
    rect = torch.zeros(2, 50, 50)
    rect[0, 10:40, 20:30] = 1.0  # a visible-box fallback mask
    rect[1] = _mask()[0]  # a silhouette
    assert rectangular_masks(rect).tolist() == [True, False]
    assert not rectangular_masks(torch.zeros(1, 50, 50)).any()
    joints = _joints().expand(2, -1, -1).clone()
    # far off every pixel of the rectangle, yet only the silhouette counts (and it is explained)
    boxes = BOX.expand(2, 4)
    assert silhouette_coverage_loss(joints, rect, boxes, 0.08).item() == pytest.approx(0.0)
