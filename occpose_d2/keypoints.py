"""The 13-keypoint skeleton used throughout occpose_d2, and every conversion into it.

COCO's 17 keypoints are reduced to 13: the 12 body joints map one to one and the five face points
(nose, eyes, ears) collapse into a single ``head`` joint placed at the mean of the labeled face
points (:func:`coco17_to_13`). CrowdPose's 14 become 13 by :func:`crowdpose14_to_13`;
:func:`to_13_keypoints` picks the conversion from the number of joints. Keypoint arrays follow
COCO's convention: ``(x, y, v)`` with ``v = 0`` unlabeled, ``v = 1`` labeled but not visible
(occluded), ``v = 2`` labeled and visible.
"""

import copy
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

__all__ = [
    "KEYPOINT_NAMES",
    "NUM_KEYPOINTS",
    "KEYPOINT_FLIP_MAP",
    "KEYPOINT_CONNECTION_RULES",
    "KEYPOINT_OKS_SIGMAS",
    "COCO17_KEYPOINT_NAMES",
    "coco17_to_13",
    "crowdpose14_to_13",
    "to_13_keypoints",
    "convert_coco_annotation",
    "is_fully_visible",
    "occlude_covered_joints",
    "flip_indices",
    "keypoint_metadata",
]

KEYPOINT_NAMES: Tuple[str, ...] = (
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

# Pairs of names swapped by a horizontal flip (D2's ``keypoint_flip_map`` convention).
KEYPOINT_FLIP_MAP: Tuple[Tuple[str, str], ...] = tuple(
    (f"left_{part}", f"right_{part}")
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
)

# Limbs for drawing: (name_a, name_b, RGB colour), D2's ``keypoint_connection_rules`` format.
KEYPOINT_CONNECTION_RULES: Tuple[Tuple[str, str, Tuple[int, int, int]], ...] = (
    ("head", "left_shoulder", (255, 255, 0)),
    ("head", "right_shoulder", (255, 255, 0)),
    ("left_shoulder", "right_shoulder", (255, 128, 0)),
    ("left_shoulder", "left_elbow", (0, 255, 0)),
    ("left_elbow", "left_wrist", (0, 255, 128)),
    ("right_shoulder", "right_elbow", (255, 0, 255)),
    ("right_elbow", "right_wrist", (255, 0, 128)),
    ("left_shoulder", "left_hip", (0, 200, 255)),
    ("right_shoulder", "right_hip", (255, 100, 100)),
    ("left_hip", "right_hip", (255, 128, 0)),
    ("left_hip", "left_knee", (0, 128, 255)),
    ("left_knee", "left_ankle", (0, 64, 255)),
    ("right_hip", "right_knee", (255, 0, 64)),
    ("right_knee", "right_ankle", (255, 0, 0)),
)

COCO17_KEYPOINT_NAMES: Tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
) + KEYPOINT_NAMES[1:]

# COCO's per-keypoint OKS sigmas (cocoapi), in COCO-17 order.
_COCO17_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87,
     0.89, 0.89]
) / 10.0
_FACE = slice(0, 5)

# OKS sigmas of the 13 joints: ``head`` takes the mean of the five face sigmas (0.0292).
KEYPOINT_OKS_SIGMAS: Tuple[float, ...] = tuple(
    float(s) for s in np.concatenate([[_COCO17_SIGMAS[_FACE].mean()], _COCO17_SIGMAS[5:]])
)


def coco17_to_13(keypoints: Any) -> np.ndarray:
    """Convert COCO-17 keypoints to the 13-joint layout.

    Args:
        keypoints: array-like of shape (17, 3), (N, 17, 3) or a flat list of 51 numbers, as
            ``(x, y, v)`` in pixels.

    Returns:
        float64 array of shape (13, 3) or (N, 13, 3). ``head`` is the mean position of the face
        points with ``v > 0``; its ``v`` is 2 if any face point is visible, 1 if any is labeled,
        else 0 with coordinates 0 (unlabeled stays unlabeled).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    single = kp.ndim == 1 or kp.ndim == 2
    if kp.ndim == 1:
        if kp.size != 51:
            raise ValueError(f"expected 51 numbers for COCO-17 keypoints, got {kp.size}")
        kp = kp.reshape(17, 3)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.shape[1:] != (17, 3):
        raise ValueError(f"expected COCO-17 keypoints of shape (N, 17, 3), got {kp.shape}")

    face = kp[:, _FACE]
    labeled = face[:, :, 2] > 0
    count = labeled.sum(axis=1)
    head = np.zeros((kp.shape[0], 1, 3))
    has = count > 0
    head[has, 0, :2] = (face[has, :, :2] * labeled[has, :, None]).sum(axis=1) / count[has, None]
    head[has, 0, 2] = np.where((face[has, :, 2] == 2).any(axis=1), 2.0, 1.0)
    out = np.concatenate([head, kp[:, 5:]], axis=1)
    return out[0] if single else out


_CROWDPOSE_HEAD_TOP = 12  # index of head_top among CrowdPose's 14 joints; 13 is neck (dropped)


def crowdpose14_to_13(keypoints: Any) -> np.ndarray:
    """CrowdPose's 14 joints -> our 13: ``[head_top] + 12 limb joints`` (neck dropped).

    CrowdPose has the 12 limb joints (COCO order), ``head_top`` and ``neck``. The neck is the
    shoulders' midpoint (no extra body information, and our skeleton links the head straight to
    the shoulders); ``head_top`` is CrowdPose's only head joint and the closest to our ``head``
    (the mean of the face points). Their offset (top of the skull vs. face centre) is a few
    tenths of a head height, a limit of the CrowdPose benchmark.

    Args:
        keypoints: (14, 3), (N, 14, 3) or a flat list of 42 numbers, ``(x, y, v)`` px.

    Returns:
        float64 array (13, 3) or (N, 13, 3).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    single = kp.ndim < 3
    kp = kp.reshape(-1, 14, 3)
    out = np.concatenate([kp[:, _CROWDPOSE_HEAD_TOP: _CROWDPOSE_HEAD_TOP + 1], kp[:, :12]], 1)
    return out[0] if single else out


_CONVERTERS: Dict[int, Callable[[Any], np.ndarray]] = {
    17: coco17_to_13,
    14: crowdpose14_to_13,
    13: lambda k: np.asarray(k, dtype=np.float64).reshape(13, 3),
}


def to_13_keypoints(keypoints: List[float], where: str = "") -> np.ndarray:
    """A flat keypoint list of 17 (COCO), 14 (CrowdPose) or 13 joints -> (13, 3) array."""
    n = len(keypoints) // 3
    if n not in _CONVERTERS or len(keypoints) % 3:
        raise ValueError(f"{where}: {len(keypoints)} keypoint numbers; expected 3 x 17, 14 or 13")
    return _CONVERTERS[n](keypoints)


def is_fully_visible(keypoints13: Any) -> bool:
    """Whether all 13 joints are labeled visible (``v == 2``): the pose-supervision criterion."""
    kp = np.asarray(keypoints13, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    return bool((kp[:, 2] == 2).all())


def occlude_covered_joints(keypoints: np.ndarray, covered: np.ndarray) -> None:
    """In place: every visible joint (``v == 2``) whose pixel is set in ``covered`` becomes
    occluded-but-labeled (``v = 1``), as when something is pasted over it.

    Args:
        keypoints: ``... x K x 3`` (x, y, v), x and y in pixels; a joint's pixel is its
            coordinates truncated to integers and clamped into the image.
        covered: ``H x W`` bool, the pixels now covered.
    """
    h, w = covered.shape
    x = np.clip(keypoints[..., 0].astype(np.int64), 0, w - 1)
    y = np.clip(keypoints[..., 1].astype(np.int64), 0, h - 1)
    v = keypoints[..., 2]
    v[(v == 2) & covered[y, x]] = 1


def convert_coco_annotation(ann: Dict[str, Any]) -> Dict[str, Any]:
    """Return a copy of a COCO person annotation with 13 keypoints.

    ``keypoints`` becomes a flat list of 39 numbers, ``num_keypoints`` the count of labeled
    joints, and ``fully_visible`` is added (False for crowd annotations). An annotation without
    keypoints is returned unchanged apart from ``fully_visible = False``.
    """
    out = copy.deepcopy(ann)
    if "keypoints" in ann and ann["keypoints"] is not None and len(ann["keypoints"]) > 0:
        kp13 = coco17_to_13(ann["keypoints"])
        out["keypoints"] = [float(v) for v in kp13.reshape(-1)]
        out["num_keypoints"] = int((kp13[:, 2] > 0).sum())
        out["fully_visible"] = (not ann.get("iscrowd", 0)) and is_fully_visible(kp13)
    else:
        out["fully_visible"] = False
    return out


def flip_indices(names: Sequence[str] = KEYPOINT_NAMES) -> List[int]:
    """Index permutation that swaps left/right joints: ``flipped = kps[flip_indices()]``."""
    lookup = {n: i for i, n in enumerate(names)}
    perm = list(range(len(names)))
    for a, b in KEYPOINT_FLIP_MAP:
        perm[lookup[a]], perm[lookup[b]] = lookup[b], lookup[a]
    return perm


def keypoint_metadata() -> Dict[str, Any]:
    """The ``MetadataCatalog`` fields D2 needs for our keypoints (names, flip map, drawing)."""
    return {
        "keypoint_names": KEYPOINT_NAMES,
        "keypoint_flip_map": KEYPOINT_FLIP_MAP,
        "keypoint_connection_rules": KEYPOINT_CONNECTION_RULES,
        "keypoint_oks_sigmas": KEYPOINT_OKS_SIGMAS,
    }
