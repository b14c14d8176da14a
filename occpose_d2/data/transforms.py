"""Augmentations of occpose_d2 that D2 lacks: a random Gaussian blur (paper: flip, blur,
brightness; D2 provides flip and brightness) and random Gaussian sensor noise (beyond the paper;
``INPUT.NOISE_PROB``)."""

from typing import Tuple

import cv2
import numpy as np
from detectron2.data import transforms as T
from fvcore.transforms.transform import NoOpTransform, Transform

__all__ = ["GaussianBlurTransform", "RandomGaussianBlur", "GaussianNoiseTransform",
           "RandomGaussianNoise"]


class _PixelTransform(Transform):
    """A transform of pixel values only: coordinates and segmentations pass through, and its
    inverse is the identity (as D2's photometric transforms)."""

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation

    def inverse(self) -> Transform:
        return NoOpTransform()


def _check_prob_and_range(name: str, prob: float, sigma_range: Tuple[float, float]) -> None:
    """One-line error unless 0 <= prob <= 1 and 0 < min <= max of ``sigma_range``."""
    if not 0.0 <= prob <= 1.0 or not 0.0 < sigma_range[0] <= sigma_range[1]:
        raise ValueError(f"{name}: bad prob {prob} / sigma_range {sigma_range}")


class GaussianBlurTransform(_PixelTransform):
    """Blur the image with a Gaussian of standard deviation ``sigma`` (px); geometry unchanged."""

    def __init__(self, sigma: float):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        """img: (H, W) or (H, W, C), uint8 or float; returns the same shape and dtype."""
        return cv2.GaussianBlur(img, (0, 0), sigmaX=float(self.sigma), sigmaY=float(self.sigma))


class RandomGaussianBlur(T.Augmentation):
    """With probability ``prob``, blur with ``sigma`` drawn uniformly from ``sigma_range`` (px)."""

    def __init__(self, prob: float, sigma_range: Tuple[float, float]):
        super().__init__()
        _check_prob_and_range("RandomGaussianBlur", prob, sigma_range)
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        if self._rand_range() >= self.prob:
            return NoOpTransform()
        return GaussianBlurTransform(self._rand_range(*self.sigma_range))


class GaussianNoiseTransform(_PixelTransform):
    """Add zero-mean Gaussian noise of standard deviation ``sigma`` (grey levels of 0-255),
    drawn from a generator seeded with ``seed`` (the same noise for the same image shape), then
    clip to [0, 255]; geometry unchanged."""

    def __init__(self, sigma: float, seed: int):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        """img: (H, W) or (H, W, C), uint8 or float in [0, 255]; returns the same shape and
        dtype."""
        noise = np.random.default_rng(self.seed).normal(0.0, self.sigma, img.shape)
        out = np.clip(img.astype(np.float32) + noise.astype(np.float32), 0.0, 255.0)
        return np.rint(out).astype(img.dtype) if img.dtype == np.uint8 else out.astype(img.dtype)


class RandomGaussianNoise(T.Augmentation):
    """With probability ``prob``, add Gaussian noise with ``sigma`` drawn uniformly from
    ``sigma_range`` (grey levels of 0-255)."""

    def __init__(self, prob: float, sigma_range: Tuple[float, float]):
        super().__init__()
        _check_prob_and_range("RandomGaussianNoise", prob, sigma_range)
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        if self._rand_range() >= self.prob:
            return NoOpTransform()
        return GaussianNoiseTransform(self._rand_range(*self.sigma_range),
                                      int(np.random.randint(2 ** 31)))
