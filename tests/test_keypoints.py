"""The 13-keypoint definition and the COCO-17 -> 13 conversion."""

import numpy as np
import pytest

from occpose_d2.keypoints import (
    COCO17_KEYPOINT_NAMES,
    KEYPOINT_FLIP_MAP,
    KEYPOINT_NAMES,
    KEYPOINT_OKS_SIGMAS,
    coco17_to_13,
    convert_coco_annotation,
    flip_indices,
    keypoint_metadata,
    occlude_covered_joints,
)


def _coco17(face, body_v=2):
    """COCO-17 keypoints: 5 face points from ``face``; body joint j at (100 + j, 200 + j)."""
    kps = np.zeros((17, 3))
    kps[:5] = face
    for j in range(5, 17):
        kps[j] = (100 + j, 200 + j, body_v)
    return kps


def test_names_and_count():
    assert len(KEYPOINT_NAMES) == 13
    assert KEYPOINT_NAMES[0] == "head"
    assert COCO17_KEYPOINT_NAMES[5:] == KEYPOINT_NAMES[1:]


def test_head_is_mean_of_labeled_face_points():
    face = [(10, 20, 2), (12, 22, 1), (0, 0, 0), (20, 30, 1), (0, 0, 0)]
    kp13 = coco17_to_13(_coco17(face))
    assert kp13.shape == (13, 3)
    np.testing.assert_allclose(kp13[0], [14.0, 24.0, 2.0])
    # body joints map one to one, coordinates and flags unchanged
    np.testing.assert_allclose(kp13[1:], _coco17(face)[5:])


def test_head_visibility_rules():
    only_occluded = [(10, 20, 1), (30, 40, 1), (0, 0, 0), (0, 0, 0), (0, 0, 0)]
    np.testing.assert_allclose(coco17_to_13(_coco17(only_occluded))[0], [20.0, 30.0, 1.0])
    unlabeled = [(5, 5, 0)] * 5  # coordinates of unlabeled points must not leak into head
    np.testing.assert_allclose(coco17_to_13(_coco17(unlabeled))[0], [0.0, 0.0, 0.0])


def test_unlabeled_body_joint_stays_unlabeled_and_batch_shape():
    kps = _coco17([(1, 1, 2)] * 5)
    kps[9] = (0, 0, 0)  # left_wrist unlabeled
    batch = coco17_to_13(np.stack([kps, kps]))
    assert batch.shape == (2, 13, 3)
    assert batch[1, KEYPOINT_NAMES.index("left_wrist"), 2] == 0


def test_flat_list_and_bad_shape():
    flat = _coco17([(1, 1, 2)] * 5).reshape(-1).tolist()
    assert coco17_to_13(flat).shape == (13, 3)
    with pytest.raises(ValueError, match="51"):
        coco17_to_13(flat[:-1])


def test_convert_annotation_fully_visible_and_num_keypoints():
    ann = {"keypoints": _coco17([(1, 1, 2)] * 5).reshape(-1).tolist(), "num_keypoints": 17,
           "iscrowd": 0, "bbox": [0, 0, 10, 10]}
    out = convert_coco_annotation(ann)
    assert len(out["keypoints"]) == 39 and out["num_keypoints"] == 13
    assert out["fully_visible"] is True
    assert len(ann["keypoints"]) == 51  # input untouched

    occluded = dict(ann, keypoints=_coco17([(1, 1, 2)] * 5, body_v=1).reshape(-1).tolist())
    assert convert_coco_annotation(occluded)["fully_visible"] is False
    assert convert_coco_annotation(dict(ann, iscrowd=1))["fully_visible"] is False
    assert convert_coco_annotation({"bbox": [0, 0, 1, 1]})["fully_visible"] is False


def test_flip_map_is_a_symmetric_involution():
    perm = flip_indices()
    assert sorted(perm) == list(range(13))
    assert [perm[p] for p in perm] == list(range(13))
    assert perm[0] == 0  # head maps to itself
    for a, b in KEYPOINT_FLIP_MAP:
        assert a.replace("left_", "") == b.replace("right_", "")
        assert perm[KEYPOINT_NAMES.index(a)] == KEYPOINT_NAMES.index(b)


def test_oks_sigmas():
    assert len(KEYPOINT_OKS_SIGMAS) == 13
    assert KEYPOINT_OKS_SIGMAS[0] == pytest.approx(0.0292)
    assert KEYPOINT_OKS_SIGMAS[KEYPOINT_NAMES.index("left_hip")] == pytest.approx(0.107)
    assert KEYPOINT_OKS_SIGMAS[KEYPOINT_NAMES.index("right_ankle")] == pytest.approx(0.089)


def test_metadata_fields_are_consistent():
    meta = keypoint_metadata()
    names = set(meta["keypoint_names"])
    for a, b, color in meta["keypoint_connection_rules"]:
        assert a in names and b in names and len(color) == 3
    assert all(a in names and b in names for a, b in meta["keypoint_flip_map"])


def test_only_visible_joints_under_covered_pixels_become_occluded():
    covered = np.zeros((10, 20), dtype=bool)
    covered[2:5, 3:8] = True  # rows 2-4, columns 3-7
    kp = np.array([[[3.9, 2.0, 2], [7.99, 4.5, 2], [8.0, 3.0, 2],  # in, in, just right of it
                    [5.0, 3.0, 1], [5.0, 3.0, 0],                   # covered, not visible
                    [-4.0, 3.0, 2], [30.0, 30.0, 2]]], dtype=np.float32)  # clamped to the edge
    covered[9, 19] = True  # the clamped far corner
    occlude_covered_joints(kp, covered)
    assert kp[0, :, 2].tolist() == [1, 1, 2, 1, 0, 2, 1]
    assert kp[0, :, :2].tolist()[0] == pytest.approx([3.9, 2.0])  # coordinates untouched
