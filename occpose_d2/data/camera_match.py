"""The host image's camera for pasted pixels (beyond the paper;
``INPUT.PERSON_PASTE.MATCH_CAMERA``): estimate how blurred and how noisy a region of an image is,
and degrade pasted pixels to their host's blur and noise.

Why: a person cut from a source image and scaled down to a target person's size is sharper and
cleaner than the target persons around it (on the synthetic set, by the estimators below: noise
1.5 against 4.0 grey levels, blur 0.58 against 0.78 px at the target persons' edges), so a
pasted person is recognisable by its crispness alone, and what the pose head learns on it is
learned on a look that no target person has.

Estimators (no labels, only pixels):

- **noise**: the robust form of Immerkaer's estimator ("Fast Noise Variance Estimation", CVIU
  1996): the image filtered with the 3 x 3 Laplacian-difference kernel ``[[1,-2,1],[-2,4,-2],
  [1,-2,1]]``, which cancels locally linear intensity, has standard deviation ``6 sigma`` on
  white noise; ``sigma = 1.4826 x median(|response|) / 6`` per channel (the median keeps the
  edges, a minority of pixels, out), averaged over channels;
- **blur**: the re-blur gradient ratio of Zhuo and Sim ("Defocus map estimation from a single
  image", Pattern Recognition 2011): at an edge blurred by a Gaussian of ``sigma``, re-blurring
  with ``sigma0`` divides the gradient magnitude by ``R = sqrt(sigma^2 + sigma0^2) / sigma``, so
  ``sigma = sigma0 / sqrt(R^2 - 1)``; the median over the region's Canny edge pixels.

Both are computed inside a region eroded by one pixel, so that the region's outline, where the
content changes, does not count.
"""

from typing import Optional

import cv2
import numpy as np

__all__ = ["noise_sigma", "blur_sigma", "match_camera"]

# Immerkaer's kernel: zero response on any locally linear intensity, 36 sigma^2 variance on
# white noise of sigma.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
# Median absolute deviation -> standard deviation of a Gaussian.
_MAD_TO_STD = 1.4826
# Re-blur sigma (px) of the blur estimator.
_REBLUR_SIGMA = 1.0
# Canny's hysteresis thresholds (grey levels of 0-255) for the blur estimator's edge pixels.
_CANNY_LOW, _CANNY_HIGH = 40, 100
# Least number of pixels (noise) or edge pixels (blur) an estimate needs.
_MIN_PIXELS = 10
# Blurs (Gaussian sigma, px) tried on a pasted region, in order, until its edges read as blurred
# as the reference's (the estimator is not additive in quadrature on thin structures, so the
# blur is searched rather than computed).
_BLUR_STEPS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
# Ring of host pixels (px) around a pasted region that the blur also reaches: the camera blurs
# the border between the pasted pixels and what lies behind them.
_RING = 2


def _inner(region: Optional[np.ndarray], shape) -> np.ndarray:
    """``region`` (bool (H, W); None = all) eroded by one pixel."""
    if region is None:
        region = np.ones(shape, bool)
    return cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _grey(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 grey levels of an (H, W, C) or (H, W) uint8 / float image."""
    image = np.asarray(image, np.float32)
    return image.mean(axis=2) if image.ndim == 3 else image


def noise_sigma(image: np.ndarray, region: Optional[np.ndarray] = None) -> float:
    """Standard deviation (grey levels) of the additive white noise of ``image`` ((H, W, C) or
    (H, W)), estimated inside ``region`` (bool (H, W); None = the whole image); NaN when the
    eroded region has fewer than 10 pixels."""
    image = np.asarray(image, np.float32)
    channels = image[..., None] if image.ndim == 2 else image
    inner = _inner(region, channels.shape[:2])
    if inner.sum() < _MIN_PIXELS:
        return float("nan")
    sigmas = [_MAD_TO_STD * np.median(np.abs(cv2.filter2D(channels[..., c], cv2.CV_32F,
                                                          _NOISE_KERNEL))[inner]) / 6.0
              for c in range(channels.shape[2])]
    return float(np.mean(sigmas))


def _gradient(grey: np.ndarray) -> np.ndarray:
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def blur_sigma(image: np.ndarray, region: Optional[np.ndarray] = None) -> float:
    """Gaussian blur (px) of the edges of ``image`` ((H, W, C) or (H, W), 0-255) inside
    ``region`` (bool (H, W); None = the whole image); NaN when it has fewer than 10 edge
    pixels."""
    grey = _grey(image)
    edges = cv2.Canny(np.clip(grey, 0, 255).astype(np.uint8), _CANNY_LOW, _CANNY_HIGH) > 0
    edges &= _inner(region, grey.shape)
    if edges.sum() < _MIN_PIXELS:
        return float("nan")
    ratio = _gradient(grey)[edges] / np.maximum(
        _gradient(cv2.GaussianBlur(grey, (0, 0), _REBLUR_SIGMA))[edges], 1e-6)
    ratio = ratio[ratio > 1.0 + 1e-4]  # (a ratio <= 1: no usable edge there)
    if len(ratio) < _MIN_PIXELS:
        return float("nan")
    return float(np.median(_REBLUR_SIGMA / np.sqrt(ratio ** 2 - 1.0)))


def _top_up_noise(image: np.ndarray, pasted: np.ndarray, rng) -> None:
    """Add to ``pasted`` the Gaussian noise (per channel) that it lacks against the rest of
    ``image``, in place."""
    want, have = noise_sigma(image, ~pasted), noise_sigma(image, pasted)
    if np.isfinite(want) and np.isfinite(have) and want > have:
        sigma = float(np.sqrt(want ** 2 - have ** 2))
        noisy = image[pasted].astype(np.float32) + rng.normal(0.0, sigma, image[pasted].shape)
        image[pasted] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def match_camera(image: np.ndarray, pasted: np.ndarray, covered: np.ndarray,
                 reference: Optional[np.ndarray], rng) -> None:
    """Degrade the pasted pixels of ``image`` to the blur and noise of ``image`` itself, in place.

    Three steps:

    1. the Gaussian noise that ``pasted`` lacks against the rest of the image
       (``sqrt(noise(rest)^2 - noise(pasted)^2)`` grey levels per channel, when positive) is
       added, so that the blur estimates below are taken under the same noise (noise lowers
       them);
    2. when the pasted edges read sharper than the ``reference``'s, the blurs of
       ``_BLUR_STEPS`` (0.25 to 2 px) are tried in order until they no longer do, and the one
       after which they read closest to the reference's is applied to ``pasted`` and to a ring
       of 2 px around it that ``covered`` does not hold;
    3. the noise that this blur smoothed away is added again.

    Args:
        image: (H, W, C) uint8, already holding the pasted pixels (changed in place).
        pasted: (H, W) bool, the pasted pixels.
        covered: (H, W) bool, pixels the blur must not change (e.g. annotated persons).
        reference: (H, W) bool, the host region whose edges give the blur to match (e.g. the
            person the paste stands beside); None = the whole image outside ``pasted``.
        rng: ``np.random`` or a ``RandomState`` (the noise).
    """
    if reference is None:
        reference = ~pasted
    _top_up_noise(image, pasted, rng)
    want = blur_sigma(image, reference)
    if not np.isfinite(want) or not blur_sigma(image, pasted) < want:
        return
    ring = cv2.dilate(pasted.astype(np.uint8), np.ones((2 * _RING + 1,) * 2, np.uint8)) > 0
    ring &= ~covered | pasted
    best, best_error = None, float("inf")
    for sigma in _BLUR_STEPS:  # up to the first blur at which the pasted edges read as the host's
        trial = image.copy()
        trial[ring] = cv2.GaussianBlur(image, (0, 0), sigma).reshape(image.shape)[ring]
        got = blur_sigma(trial, pasted)
        if np.isfinite(got) and abs(got - want) < best_error:
            best, best_error = trial, abs(got - want)
        if not got < want:
            break
    if best is None:
        return
    image[ring] = best[ring]
    _top_up_noise(image, pasted, rng)
