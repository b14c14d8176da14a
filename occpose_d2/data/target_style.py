"""Target-style colour transfer (beyond the paper; ``INPUT.TARGET_STYLE``): in training, a source
("pe") image is re-coloured region by region to the colour statistics of a random target ("pd")
training image, so that the shared heads learn poses on persons that look like the target's.

Why: the pose labels exist only on the source, whose persons can look unlike the target's
(bright saturated clothes against dark, muted ones; walls against streets). Colour jitter widens
the source's colours at random; this moves them to the target's, using nothing of the target but
its pixels and its instance masks (or, without masks, its visible boxes), which unsupervised
adaptation has.

How (Reinhard et al., "Color Transfer between Images", 2001, applied per region): in CIE Lab
(OpenCV's float convention: L in [0, 100], a and b about [-127, 127]), every channel of a region
is shifted and scaled so that its mean and standard deviation become those of the matching target
region, ``y = (x - mean_src) * min(std_dst / std_src, MAX_GAIN) + mean_dst``. The regions are
each source person's visible mask (matched to one randomly drawn person of the target image) and
the rest of the image (matched to the target image's background, i.e. outside every annotated
region, crowd regions included). Labels do not change: geometry is untouched.
"""

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from detectron2.data import detection_utils as utils
from detectron2.structures import BitMasks, BoxMode, Instances

__all__ = ["LabStats", "TargetStyleBank", "lab_stats", "region_masks", "transfer_region",
           "apply_target_style"]

# Largest factor by which a region's per-channel spread may be scaled: a nearly flat source
# region (a plain wall) matched to a textured target one would otherwise turn its sensor noise
# into blotches.
MAX_GAIN = 4.0
# Least number of pixels a target region needs for its statistics to be used.
MIN_REGION_PIXELS = 16
# Least standard deviation (Lab units) assumed for a source region (avoids a division by 0).
_MIN_STD = 1e-3

# (2, 3) float array: row 0 the per-channel mean, row 1 the per-channel std, of L, a, b.
LabStats = np.ndarray


def to_lab(image: np.ndarray, image_format: str) -> np.ndarray:
    """(H, W, 3) uint8 image in ``image_format`` ("BGR" or "RGB") -> (H, W, 3) float32 Lab."""
    bgr = image if image_format == "BGR" else image[..., ::-1]
    return cv2.cvtColor(np.ascontiguousarray(bgr, dtype=np.float32) / 255.0, cv2.COLOR_BGR2LAB)


def from_lab(lab: np.ndarray, image_format: str) -> np.ndarray:
    """Inverse of :func:`to_lab`: (H, W, 3) float32 Lab -> uint8 image in ``image_format``."""
    bgr = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2BGR)
    out = np.clip(np.rint(bgr * 255.0), 0, 255).astype(np.uint8)
    return out if image_format == "BGR" else np.ascontiguousarray(out[..., ::-1])


def lab_stats(lab: np.ndarray, region: np.ndarray) -> LabStats:
    """Per-channel mean and std of the ``region`` (bool (H, W), non-empty) pixels of ``lab``."""
    px = lab[region].astype(np.float64)
    return np.stack([px.mean(0), px.std(0)])


def transfer_region(lab: np.ndarray, region: np.ndarray, dst: LabStats) -> None:
    """Move the Lab statistics of ``lab[region]`` to ``dst`` in place (see the module doc)."""
    if not region.any():
        return
    src = lab_stats(lab, region)
    gain = np.minimum(dst[1] / np.maximum(src[1], _MIN_STD), MAX_GAIN)
    lab[region] = ((lab[region] - src[0]) * gain + dst[0]).astype(lab.dtype)


def region_masks(annotations: Sequence[dict], height: int, width: int) -> List[np.ndarray]:
    """One bool (H, W) region per annotation of a D2 dataset dict: its mask when it has a
    "segmentation" (polygons or RLE), else its visible box ("vis_bbox", XYWH), else its box."""
    out = []
    for anno in annotations:
        if anno.get("segmentation"):
            # only what the mask decoding reads (raw keypoints, say, would not parse here)
            only_mask = {k: anno[k] for k in ("bbox", "bbox_mode", "segmentation")}
            inst = utils.annotations_to_instances([dict(only_mask, category_id=0)],
                                                  (height, width), mask_format="bitmask")
            out.append(inst.gt_masks.tensor[0].numpy())
            continue
        box = anno.get("vis_bbox")
        mode = BoxMode.XYWH_ABS if box is not None else anno["bbox_mode"]
        x0, y0, x1, y1 = BoxMode.convert(list(box if box is not None else anno["bbox"]), mode,
                                         BoxMode.XYXY_ABS)
        region = np.zeros((height, width), bool)
        region[max(int(y0), 0):max(int(np.ceil(y1)), 0),
               max(int(x0), 0):max(int(np.ceil(x1)), 0)] = True
        out.append(region)
    return out


class TargetStyleBank:
    """The styles of the target domain's training images: for a random one, the Lab statistics
    of its background and of each of its (non-crowd) persons."""

    def __init__(self, dataset_dicts: Sequence[dict], image_format: str):
        """
        Args:
            dataset_dicts: the target training set's D2 dicts ("file_name", "height", "width",
                "annotations"); those without a non-crowd annotation are left out.
            image_format: D2's ``INPUT.FORMAT`` of the training images ("BGR" or "RGB").
        """
        if image_format not in ("BGR", "RGB"):
            raise ValueError(f"INPUT.TARGET_STYLE needs INPUT.FORMAT 'BGR' or 'RGB', got "
                             f"{image_format!r}")
        self.dicts = [d for d in dataset_dicts
                      if any(not a.get("iscrowd", 0) for a in d.get("annotations", ()))]
        if not self.dicts:
            raise ValueError("INPUT.TARGET_STYLE: the target training set has no annotated "
                             "person to take a style from")
        self.image_format = image_format

    def styles(self, record: dict) -> Tuple[Optional[LabStats], List[LabStats]]:
        """(background stats or None, [stats of each person with >= MIN_REGION_PIXELS pixels])
        of one target dataset dict."""
        image = utils.read_image(record["file_name"], format=self.image_format)
        h, w = image.shape[:2]
        lab = to_lab(image, self.image_format)
        annos = record["annotations"]
        regions = region_masks(annos, h, w)
        background = ~np.any(regions, axis=0) if regions else np.ones((h, w), bool)
        persons = [lab_stats(lab, r) for a, r in zip(annos, regions)
                   if not a.get("iscrowd", 0) and r.sum() >= MIN_REGION_PIXELS]
        bg = lab_stats(lab, background) if background.sum() >= MIN_REGION_PIXELS else None
        return bg, persons

    def sample(self, rng) -> Tuple[Optional[LabStats], List[LabStats]]:
        """:meth:`styles` of a random target image (``rng``: ``np.random`` or a
        ``RandomState``)."""
        return self.styles(self.dicts[rng.randint(len(self.dicts))])


def apply_target_style(image: np.ndarray, instances: Instances, image_format: str,
                       style: Tuple[Optional[LabStats], List[LabStats]], rng) -> None:
    """Re-colour one augmented source training image to a target style, in place.

    Args:
        image: (H, W, 3) uint8 training image in ``image_format`` (changed in place).
        instances: its ``Instances``; ``gt_masks`` (``BitMasks``, visible masks) give the person
            regions (without them the whole image is background).
        image_format: "BGR" or "RGB".
        style: (background stats, person stats) of a target image (:meth:`TargetStyleBank.sample`).
        rng: ``np.random`` or a ``RandomState``: picks the target person of each source person.
    """
    bg, persons = style
    lab = to_lab(image, image_format)
    masks = np.zeros((0,) + image.shape[:2], bool)
    if instances.has("gt_masks"):
        if not isinstance(instances.gt_masks, BitMasks):
            raise TypeError("INPUT.TARGET_STYLE needs INPUT.MASK_FORMAT 'bitmask'")
        masks = instances.gt_masks.tensor.numpy().astype(bool)
    if persons:
        for mask in masks:
            transfer_region(lab, mask, persons[rng.randint(len(persons))])
    if bg is not None:
        transfer_region(lab, ~masks.any(0) if len(masks) else np.ones(image.shape[:2], bool), bg)
    image[...] = from_lab(lab, image_format)

