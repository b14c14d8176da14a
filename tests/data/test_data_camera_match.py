"""The host's camera for pasted pixels: the noise and blur estimators on images of known noise
and blur, what ``match_camera`` changes (and leaves alone), and the person-paste / mapper switch
``INPUT.PERSON_PASTE.MATCH_CAMERA``."""

import cv2
import numpy as np
import torch
from common import pasted_pairs

from occpose_d2.data.camera_match import blur_sigma, match_camera, noise_sigma

H, W = 96, 160


def _blocks(seed: int = 0) -> np.ndarray:
    """(H, W, 3) float32 image of random grey-level rectangles: flat areas and step edges."""
    rng = np.random.RandomState(seed)
    img = np.full((H, W, 3), 128.0, np.float32)
    for _ in range(25):
        x, y = rng.randint(0, W - 12), rng.randint(0, H - 12)
        w, h = rng.randint(6, 30), rng.randint(6, 30)
        img[y:y + h, x:x + w] = rng.uniform(30, 230)
    return img


def _camera(img: np.ndarray, blur: float, noise: float, seed: int = 1) -> np.ndarray:
    """``img`` blurred by ``blur`` px (0 = none), plus white noise of ``noise`` grey levels."""
    out = cv2.GaussianBlur(img, (0, 0), blur) if blur > 0 else img.copy()
    out = out + np.random.RandomState(seed).normal(0, noise, out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_noise_estimate_reads_the_added_noise_despite_edges():
    for sigma in (2.0, 6.0, 10.0):
        got = noise_sigma(_camera(_blocks(), 0.0, sigma))
        assert abs(got - sigma) < 0.12 * sigma, (sigma, got)
    assert noise_sigma(_camera(_blocks(), 0.0, 0.0)) < 0.3  # flat areas and steps: no noise
    assert np.isnan(noise_sigma(_camera(_blocks(), 0.0, 5.0), np.zeros((H, W), bool)))


def test_blur_estimate_grows_with_the_blur_and_ignores_other_regions():
    reads = [blur_sigma(_camera(_blocks(), b, 2.0)) for b in (0.0, 0.7, 1.2, 1.8)]
    assert all(a < b for a, b in zip(reads, reads[1:])), reads
    assert abs(reads[2] - reads[0] - 0.6) < 0.6  # (a Sobel gradient has a blur of its own)
    # a region reads the blur of its own pixels
    img = _camera(_blocks(), 0.0, 2.0)
    img[:, W // 2:] = _camera(_blocks(), 1.8, 2.0)[:, W // 2:]
    left = np.zeros((H, W), bool)
    left[:, :W // 2 - 4] = True
    assert abs(blur_sigma(img, left) - reads[0]) < 0.1
    assert np.isnan(blur_sigma(np.full((H, W, 3), 90, np.uint8)))  # no edge at all


def test_match_camera_degrades_the_pasted_pixels_to_the_host():
    """A sharp, clean pasted block in a blurred, noisy host reads as the host afterwards; the
    pixels covered, and those more than 2 px from the paste, do not change."""
    host = _camera(_blocks(0), 1.0, 6.0)
    pasted = np.zeros((H, W), bool)
    pasted[20:80, 40:110] = True
    image = host.copy()
    image[pasted] = _camera(_blocks(3), 0.0, 1.0)[pasted]
    covered = np.zeros((H, W), bool)
    covered[20:80, 110:113] = True  # an annotated person right of the paste
    assert noise_sigma(image, pasted) < 2.0
    before = image.copy()
    match_camera(image, pasted, covered, ~pasted, np.random.RandomState(0))
    assert abs(noise_sigma(image, pasted) - noise_sigma(image, ~pasted)) < 1.0
    want = blur_sigma(image, ~pasted)
    assert abs(blur_sigma(image, pasted) - want) < abs(blur_sigma(before, pasted) - want)
    near = cv2.dilate(pasted.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    changed = (image != before).any(axis=2)
    assert not changed[covered].any() and not changed[~near].any()
    assert changed[pasted].mean() > 0.9


def test_match_camera_leaves_a_paste_that_is_not_sharper_or_cleaner_alone():
    image = _camera(_blocks(0), 0.0, 1.0)  # a sharp, clean host
    pasted = np.zeros((H, W), bool)
    pasted[20:80, 40:110] = True
    image[pasted] = _camera(_blocks(3), 1.5, 6.0)[pasted]  # a blurred, noisy paste
    before = image.copy()
    match_camera(image, pasted, np.zeros((H, W), bool), None, np.random.RandomState(0))
    assert np.array_equal(image, before)


def test_mapper_match_camera_changes_pasted_persons_only(synthetic_root):
    """``MATCH_CAMERA`` in the mapper: the same persons and labels as the plain paste (one
    person per image, so that the camera's own draws come last); pixels change only at the
    pasted person and the 2 px around it outside the image's own persons, and the pasted
    person's noise moves from below the image's to about the image's."""
    one = ["INPUT.PERSON_PASTE.PROB", 1.0, "INPUT.PERSON_PASTE.MAX_PERSONS", 1]
    gaps_before, gaps_after = [], []
    for a, b in pasted_pairs(one + ["INPUT.PERSON_PASTE.MATCH_CAMERA", True], one, 12):
        ia, ib = a["instances"], b["instances"]
        for name in ("gt_boxes", "gt_masks", "gt_keypoints"):
            assert torch.equal(ia.get(name).tensor, ib.get(name).tensor)
        pasted = ib.gt_masks.tensor[ib.gt_pasted].any(dim=0).numpy()
        own = ib.gt_masks.tensor[~ib.gt_pasted].any(dim=0).numpy()
        near = cv2.dilate(pasted.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        changed = (a["image"] != b["image"]).any(dim=0).numpy()
        assert not changed[own].any() and not changed[~near].any()
        img_a, img_b = (x["image"].permute(1, 2, 0).numpy() for x in (a, b))
        gaps_before.append(noise_sigma(img_b, ~pasted) - noise_sigma(img_b, pasted))
        gaps_after.append(noise_sigma(img_a, ~pasted) - noise_sigma(img_a, pasted))
    assert len(gaps_before) >= 6
    assert np.median(gaps_before) > 3.0 and abs(np.median(gaps_after)) < 1.0
