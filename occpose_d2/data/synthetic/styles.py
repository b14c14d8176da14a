"""The two visual domains of the synthetic set: scene layout numbers and painting style.

Source ("pe", pose data set): square indoor-like images, bright saturated clothes, flat walls,
sharp, mostly well separated people. Target ("pd", pedestrian data set): wide street scenes
(sky, facades, road), dark muted and striped clothes, smaller people in groups, cars, poles and
bushes in front of them, blur and sensor noise.
"""

from dataclasses import dataclass
from typing import Dict, Tuple

import cv2
import numpy as np

from ...domains import DOMAIN_SOURCE, DOMAIN_TARGET

__all__ = ["DomainSpec", "DOMAIN_STYLES", "paint_background", "person_colors", "finish_image"]


@dataclass(frozen=True)
class DomainSpec:
    """Scene-layout numbers of one domain (sizes in px, probabilities in [0, 1])."""

    name: str
    image_size: Tuple[int, int]  # (height, width)
    num_persons_p: Tuple[float, ...]  # P(1 person), P(2), ...
    height_range: Tuple[float, float]  # person height (px)
    overlap_p: float  # probability that a person is placed next to / over another one
    occluder_p: float  # probability of each extra object occluder (up to max_occluders)
    max_occluders: int
    min_visibility: float  # scenes leaving a person less visible than this are re-drawn


DOMAIN_STYLES: Dict[str, DomainSpec] = {
    DOMAIN_SOURCE: DomainSpec(DOMAIN_SOURCE, (192, 192), (0.4, 0.4, 0.2), (80, 160), 0.25, 0.25,
                              1, 0.3),
    DOMAIN_TARGET: DomainSpec(DOMAIN_TARGET, (128, 256), (0.2, 0.3, 0.3, 0.2), (50, 110), 0.6,
                              0.55, 2, 0.2),
}


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    px = np.uint8([[[h * 179, s * 255, v * 255]]])
    return cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def paint_background(rng: np.random.Generator, domain: str) -> np.ndarray:
    """A fresh BGR float32 background of the domain's image size; returns (H, W, 3)."""
    h, w = DOMAIN_STYLES[domain].image_size
    img = np.empty((h, w, 3), np.float32)
    if domain == DOMAIN_SOURCE:
        img[:] = _hsv(rng.uniform(), rng.uniform(0.05, 0.3), rng.uniform(0.75, 0.95))
        floor = int(h * rng.uniform(0.7, 0.85))
        img[floor:] = _hsv(rng.uniform(), rng.uniform(0.1, 0.4), rng.uniform(0.45, 0.7))
        for _ in range(rng.integers(0, 4)):
            c = (int(rng.uniform(0, w)), int(rng.uniform(0, floor)))
            col = _hsv(rng.uniform(), rng.uniform(0.1, 0.4), rng.uniform(0.6, 0.95))
            cv2.circle(img, c, int(rng.uniform(8, 30)), col.tolist(), -1, cv2.LINE_AA)
        return img
    horizon = int(h * rng.uniform(0.55, 0.68))
    sky = _hsv(0.58, rng.uniform(0.1, 0.35), rng.uniform(0.75, 0.95))
    img[:] = sky * np.linspace(0.85, 1.05, h, dtype=np.float32)[:, None, None]
    x = 0
    while x < w:  # facades with window grids down to the horizon
        bw = int(rng.uniform(30, 80))
        top = int(rng.uniform(0, h * 0.3))
        col = _hsv(rng.uniform(0.02, 0.12), rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.7))
        img[top:horizon, x:x + bw] = col
        win = col * 0.55
        for wy in range(top + 4, horizon - 8, 12):
            for wx in range(x + 4, x + bw - 6, 10):
                img[wy:wy + 6, wx:wx + 5] = win
        x += bw
    img[horizon:] = _hsv(0, 0, rng.uniform(0.3, 0.42))  # road
    walk = horizon + int(rng.uniform(4, 10))
    img[horizon:walk] = _hsv(0.08, 0.1, rng.uniform(0.5, 0.62))  # kerb / sidewalk
    return img


def person_colors(rng: np.random.Generator, domain: str) -> Dict[str, np.ndarray]:
    """BGR colours of one person's parts: shirt, sleeve, pants, skin, shoes, eyes."""
    skin = _hsv(rng.uniform(0.03, 0.08), rng.uniform(0.3, 0.6), rng.uniform(0.45, 0.95))
    if domain == DOMAIN_SOURCE:
        shirt = _hsv(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
        pants = _hsv(rng.uniform(), rng.uniform(0.5, 0.9), rng.uniform(0.35, 0.7))
    else:
        shirt = _hsv(rng.uniform(), rng.uniform(0.05, 0.4), rng.uniform(0.15, 0.55))
        pants = _hsv(rng.uniform(), rng.uniform(0.0, 0.3), rng.uniform(0.1, 0.35))
    return {
        "shirt": shirt,
        "sleeve": shirt * 0.8,
        "pants": pants,
        "skin": skin,
        "shoes": np.float32([30, 30, 40]),
        "eyes": np.float32([20, 20, 20]),
    }


def finish_image(img: np.ndarray, rng: np.random.Generator, domain: str) -> np.ndarray:
    """Apply the domain's camera look (blur, noise, colour cast); returns uint8 BGR."""
    if domain == DOMAIN_TARGET:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.1))
        img = img * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
        img = img + rng.normal(0, 6, img.shape).astype(np.float32)
    else:
        img = img + rng.normal(0, 2, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
