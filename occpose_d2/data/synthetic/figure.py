"""Articulated 13-joint stick figures with body proportions, for the synthetic data set.

A figure is built in image pixels (x right, y down) from a height ``H`` (top of the head to the
soles, in px), a torso lean and per-limb joint angles drawn within anatomical limits. Figures
always face the camera, so a person's left joints lie on the image's right of the body midline;
a horizontal flip with the 13-keypoint flip map keeps that convention, which makes left and right
learnable without a colour cue that a flip would contradict.
"""

from dataclasses import dataclass
from typing import Tuple

import numpy as np

__all__ = ["Figure", "sample_figure", "HEAD", "LIMBS"]

# Joint indices in occpose_d2.keypoints.KEYPOINT_NAMES order.
HEAD, LS, RS, LE, RE, LW, RW, LH, RH, LK, RK, LA, RA = range(13)

# Drawn limbs: (joint a, joint b, thickness as a fraction of H, part name).
LIMBS: Tuple[Tuple[int, int, float, str], ...] = (
    (LH, LK, 0.080, "leg"), (LK, LA, 0.065, "leg"),
    (RH, RK, 0.080, "leg"), (RK, RA, 0.065, "leg"),
    (LS, LE, 0.060, "arm"), (LE, LW, 0.050, "arm"),
    (RS, RE, 0.060, "arm"), (RE, RW, 0.050, "arm"),
)

# Segment lengths as fractions of H.
_NECK, _TORSO, _SHOULDER_W, _HIP_W = 0.12, 0.30, 0.23, 0.16
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.17, 0.15, 0.24, 0.235
HEAD_RADIUS = 0.068  # fraction of H


@dataclass
class Figure:
    """One person: ``joints`` (13, 2) float pixel positions and its height ``height`` (px)."""

    joints: np.ndarray
    height: float

    def translated(self, dx: float, dy: float) -> "Figure":
        return Figure(self.joints + np.array([dx, dy]), self.height)

    def scaled(self, factor: float) -> "Figure":
        return Figure(self.joints * factor, self.height * factor)

    def extent(self) -> Tuple[float, float, float, float]:
        """Conservative (x0, y0, x1, y1) of everything drawn for this figure, in px."""
        pad = 0.05 * self.height
        head = self.joints[HEAD]
        r = HEAD_RADIUS * self.height
        x0 = min(self.joints[:, 0].min() - pad, head[0] - r)
        x1 = max(self.joints[:, 0].max() + pad, head[0] + r)
        y0 = min(self.joints[:, 1].min() - pad, head[1] - r)
        y1 = self.joints[:, 1].max() + 0.045 * self.height
        return float(x0), float(y0), float(x1), float(y1)


def _dir(angle_deg: float) -> np.ndarray:
    """Unit vector at ``angle_deg`` from straight down (0) towards +x (positive)."""
    a = np.deg2rad(angle_deg)
    return np.array([np.sin(a), np.cos(a)])


def sample_figure(rng: np.random.Generator, height: float) -> Figure:
    """Draw a random frontal pose for a person ``height`` px tall, head near the origin.

    Angles (degrees, from straight down, positive = away from the body's midline): torso lean
    in [-8, 8]; upper arm in [5, 150], forearm = upper arm - elbow flexion in [0, 120], kept
    >= -20 so a wrist stays on its own side; thigh in [-6, 30], shin = thigh + [-30, 8] kept
    >= -8. Each limb is foreshortened by a factor in [0.8, 1] (out-of-plane motion).
    """
    H = float(height)
    lean = rng.uniform(-8, 8)
    down = _dir(lean)
    side = np.array([down[1], -down[0]])  # towards the person's left = image +x
    shoulder_c = np.zeros(2)
    joints = np.zeros((13, 2))
    joints[HEAD] = shoulder_c - _NECK * H * _dir(lean + rng.uniform(-10, 10))
    joints[LS] = shoulder_c + side * _SHOULDER_W * H / 2
    joints[RS] = shoulder_c - side * _SHOULDER_W * H / 2
    hip_c = shoulder_c + down * _TORSO * H
    joints[LH] = hip_c + side * _HIP_W * H / 2
    joints[RH] = hip_c - side * _HIP_W * H / 2

    for sgn, (s, e, w) in ((1, (LS, LE, LW)), (-1, (RS, RE, RW))):
        upper = rng.uniform(5, 150)
        fore = max(upper - rng.uniform(0, 120), -20.0)
        joints[e] = joints[s] + _dir(lean + sgn * upper) * _UPPER_ARM * H * rng.uniform(0.8, 1)
        joints[w] = joints[e] + _dir(lean + sgn * fore) * _FOREARM * H * rng.uniform(0.8, 1)
    for sgn, (h, k, a) in ((1, (LH, LK, LA)), (-1, (RH, RK, RA))):
        thigh = rng.uniform(-6, 30)
        shin = max(thigh + rng.uniform(-30, 8), -8.0)
        joints[k] = joints[h] + _dir(lean + sgn * thigh) * _THIGH * H * rng.uniform(0.85, 1)
        joints[a] = joints[k] + _dir(lean + sgn * shin) * _SHIN * H * rng.uniform(0.85, 1)
    return Figure(joints, H)
