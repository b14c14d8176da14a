"""Cross-domain person paste (beyond the paper; ``INPUT.PERSON_PASTE``): in training, fully
visible source ("pe") persons, cut out by their masks, are pasted into target ("pd") images
behind the target's own persons, and keep their pose labels there.

Why: the target's pose gap is not its look (re-colouring a trained model's target images to the
source's clothes does not help it) nor the number of source labels (2.4 times as many change
nothing), while target pose labels do help (the oracle). What target labels show and source
labels do not is the target's scenes as the target detector sees them: persons in groups, half
behind others, cut by the image border, at the target's sizes. A pasted person brings exact
source labels into exactly those layouts, through the target detector and the target's
training stream; no target label is used. It is the instance-level, occlusion-aware form of
cross-domain mixing (DACS, Tranheden et al., "Domain Adaptation via Cross-domain Mixed
Sampling", WACV 2021, pastes source pixels with their labels into target images for
segmentation).

How, per target training image (after its augmentations), with ``prob``: 1 to ``max_persons``
source persons are drawn (a random fully visible person of a random source training image, its
full-body box cropped, mirrored with probability 0.5) and each is placed beside a random target
person (the *anchor*, full-body box ``w x h`` px):

- height ``h x U(0.85, 1.15)``, aspect ratio kept;
- feet at the anchor's bottom ``+ h x U(-0.05, 0.05)``;
- centre ``w x U(0.3, 1.2)`` to the left or right of the anchor's centre;

or, in an image without persons, ``U(0.4, 0.8)`` of the image's height tall, feet in its lowest
fifth. The person goes *behind* everything annotated: it only takes pixels outside every
visible mask of the image (target persons and the persons pasted before it). A placement that
leaves less than ``min_visible`` of its silhouette visible (in the image and not covered) is
drawn again (3 tries) and otherwise skipped.

With ``style_prob`` (``INPUT.PERSON_PASTE.STYLE_PROB``), a pasted person is also re-coloured to
its anchor's look: the Lab mean and spread of its silhouette are moved to those of the anchor's
visible mask in this image (the per-region Reinhard transfer of :mod:`.target_style`), so that
labeled persons both stand in the target's scenes and are dressed like the target person beside
them. Geometry and labels do not change.

With ``match_camera`` (``INPUT.PERSON_PASTE.MATCH_CAMERA``), each pasted person is then degraded
to its host's camera (:func:`.camera_match.match_camera`): blurred by what its edges lack against
its anchor's, and given the noise that it lacks against the rest of the image, so that a pasted
person is not told apart by its crispness.

Labels of a pasted person, in the image: ``gt_boxes`` its full-body box, clipped to the image
(as D2 clips annotated boxes); ``gt_masks`` its visible pixels; ``gt_vis_boxes`` their bounding
box; ``gt_keypoints`` its source joints, a visible one (v = 2) becoming occluded-but-labeled
(v = 1) where an annotated mask covers it and unlabeled (v = 0) outside the image (D2's rule);
``gt_pasted`` True. The image's own target persons are unchanged, with ``gt_keypoints`` all
unlabeled (unless the oracle kept theirs) and ``gt_pasted`` False, so that the pose loss
(:func:`occpose_d2.modeling.instance_heads.pose_supervised`) reaches the pasted persons only.
"""

from dataclasses import dataclass
from typing import Callable, List, NamedTuple, Sequence, Tuple

import cv2
import numpy as np
import torch
from detectron2.data import detection_utils as utils
from detectron2.structures import BitMasks, Boxes, BoxMode, Instances, Keypoints

from ..keypoints import NUM_KEYPOINTS, flip_indices, occlude_covered_joints
from .camera_match import match_camera as degrade_to_host
from .target_style import (
    MIN_REGION_PIXELS,
    from_lab,
    lab_stats,
    region_masks,
    to_lab,
    transfer_region,
)

__all__ = ["SourcePerson", "SourcePersonBank", "paste_source_persons", "restyle_to_anchor"]

_TRIES = 3


@dataclass
class SourcePerson:
    """One source person cut out at its full-body box.

    Attributes:
        image: (h, w, C) uint8 pixels of the box.
        mask: (h, w) bool, its visible (here: whole) silhouette in the box.
        keypoints: (K, 3) float, x / y in px relative to the box's top-left corner and v.
    """

    image: np.ndarray
    mask: np.ndarray
    keypoints: np.ndarray

    def mirrored(self) -> "SourcePerson":
        """The same person flipped left-right (x -> w - x, as D2's ``HFlipTransform``; left and
        right joints swapped)."""
        kp = self.keypoints[flip_indices()].copy()
        kp[:, 0] = self.image.shape[1] - kp[:, 0]
        return SourcePerson(self.image[:, ::-1].copy(), self.mask[:, ::-1].copy(), kp)


class SourcePersonBank:
    """The fully visible, labeled persons of the source training set, cut out on demand."""

    def __init__(self, dataset_dicts: Sequence[dict], image_format: str):
        """
        Args:
            dataset_dicts: the source training set's D2 dicts; a person counts when its
                annotation has ``fully_visible``, a ``segmentation`` and ``keypoints``.
            image_format: D2's ``INPUT.FORMAT`` of the training images.
        """
        self.persons: List[Tuple[dict, dict]] = [
            (d, a) for d in dataset_dicts for a in d.get("annotations", ())
            if a.get("fully_visible") and a.get("segmentation") and a.get("keypoints")
            and not a.get("iscrowd", 0)]
        if not self.persons:
            raise ValueError("INPUT.PERSON_PASTE: the source training set has no fully visible "
                             "person with a mask and keypoints to paste")
        self.image_format = image_format

    def __len__(self) -> int:
        return len(self.persons)

    def cut(self, index: int) -> SourcePerson:
        """Person ``index`` cut out at its full-body box (rounded outwards to whole pixels)."""
        record, anno = self.persons[index]
        image = utils.read_image(record["file_name"], format=self.image_format)
        h, w = image.shape[:2]
        mask = region_masks([anno], h, w)[0]
        x0, y0, x1, y1 = BoxMode.convert(list(anno["bbox"]), anno["bbox_mode"],
                                         BoxMode.XYXY_ABS)
        x0, y0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        x1, y1 = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"{record['file_name']}: person {anno.get('id')} has an empty box")
        kp = np.asarray(anno["keypoints"], dtype=np.float32).reshape(-1, 3).copy()
        kp[:, :2] -= (x0, y0)
        return SourcePerson(np.ascontiguousarray(image[y0:y1, x0:x1]), mask[y0:y1, x0:x1], kp)

    def sample(self, rng) -> SourcePerson:
        """A random person, mirrored with probability 0.5 (``rng``: ``np.random`` or a
        ``RandomState``)."""
        person = self.cut(rng.randint(len(self.persons)))
        return person.mirrored() if rng.uniform() < 0.5 else person


def _placement(anchors: np.ndarray, image_hw: Tuple[int, int], person_hw: Tuple[int, int],
               rng) -> Tuple[float, float, float, int]:
    """(scale, left x, top y, anchor index) in px for a ``person_hw`` crop (see the module
    doc); the anchor index is -1 in an image without persons."""
    h_img, w_img = image_hw
    anchor = -1
    if len(anchors):
        anchor = rng.randint(len(anchors))
        x0, y0, x1, y1 = anchors[anchor]
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        height = h * rng.uniform(0.85, 1.15)
        bottom = y1 + h * rng.uniform(-0.05, 0.05)
        side = 1.0 if rng.uniform() < 0.5 else -1.0
        centre = (x0 + x1) / 2 + side * w * rng.uniform(0.3, 1.2)
    else:
        height = h_img * rng.uniform(0.4, 0.8)
        bottom = h_img * rng.uniform(0.8, 1.0)
        centre = w_img * rng.uniform()
    scale = height / person_hw[0]
    return scale, centre - person_hw[1] * scale / 2, bottom - height, anchor


def restyle_to_anchor(pixels: np.ndarray, silhouette: np.ndarray, image: np.ndarray,
                      anchor_mask: np.ndarray, image_format: str) -> bool:
    """Re-colour a rendered person to the look of its anchor, in place.

    Args:
        pixels: (H, W, 3) uint8, the person rendered into the image's frame (changed where
            ``silhouette``).
        silhouette: (H, W) bool, the person's pixels in ``pixels``.
        image: (H, W, 3) uint8, the target image, whose ``anchor_mask`` pixels are read.
        anchor_mask: (H, W) bool, the anchor's visible mask in ``image``.
        image_format: "BGR" or "RGB".

    Returns:
        False (nothing changed) when the anchor or the person has fewer than
        ``MIN_REGION_PIXELS`` pixels, else True.
    """
    if anchor_mask.sum() < MIN_REGION_PIXELS or silhouette.sum() < MIN_REGION_PIXELS:
        return False
    anchor_lab = to_lab(image[anchor_mask][:, None], image_format)  # (N, 1, 3)
    lab = to_lab(pixels[silhouette][:, None], image_format)  # (M, 1, 3)
    transfer_region(lab, np.ones(lab.shape[:2], bool),
                    lab_stats(anchor_lab, np.ones(anchor_lab.shape[:2], bool)))
    pixels[silhouette] = from_lab(lab, image_format)[:, 0]
    return True


class _Placed(NamedTuple):
    """A source person rendered into an image of size (H, W)."""

    pixels: np.ndarray  # (H, W, C) uint8, the person's pixels where ``silhouette``
    silhouette: np.ndarray  # (H, W) bool, its silhouette inside the image
    keypoints: np.ndarray  # (K, 3) float, joints in image px (v as the source's)
    box: np.ndarray  # (4,) float XYXY px, its full-body box (not clipped)
    area: int  # px of its whole silhouette, inside the image or not


def _render(person: SourcePerson, scale: float, left: float, top: float,
            image_hw: Tuple[int, int]) -> _Placed:
    """The person resized by ``scale`` with its top-left corner at (``left``, ``top``) px."""
    h_img, w_img = image_hw
    size = (max(int(round(person.image.shape[1] * scale)), 1),
            max(int(round(person.image.shape[0] * scale)), 1))
    pixels = cv2.resize(person.image, size, interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(person.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    xa, ya = int(round(left)), int(round(top))
    canvas = np.zeros((h_img, w_img, pixels.shape[2]), np.uint8)
    silhouette = np.zeros((h_img, w_img), bool)
    ix0, iy0 = max(xa, 0), max(ya, 0)
    ix1, iy1 = min(xa + size[0], w_img), min(ya + size[1], h_img)
    if ix1 > ix0 and iy1 > iy0:
        canvas[iy0:iy1, ix0:ix1] = pixels[iy0 - ya:iy1 - ya, ix0 - xa:ix1 - xa]
        silhouette[iy0:iy1, ix0:ix1] = mask[iy0 - ya:iy1 - ya, ix0 - xa:ix1 - xa]
    kp = person.keypoints.copy()
    kp[:, 0] = kp[:, 0] * size[0] / person.image.shape[1] + xa
    kp[:, 1] = kp[:, 1] * size[1] / person.image.shape[0] + ya
    box = np.asarray([xa, ya, xa + size[0], ya + size[1]], dtype=np.float32)
    return _Placed(canvas, silhouette, kp, box, int(mask.sum()))


def _joint_visibility(kp: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """``kp`` (K, 3) with v = 2 -> 1 where ``occupied`` (bool (H, W)) covers the joint, and
    every v -> 0 outside [0, W] x [0, H] (D2's rule for transformed keypoints)."""
    h, w = occupied.shape
    out = kp.copy()
    occlude_covered_joints(out, occupied)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] <= w) & (kp[:, 1] >= 0) & (kp[:, 1] <= h)
    out[~inside, 2] = 0
    return out


def paste_source_persons(image: np.ndarray, instances: Instances, max_persons: int,
                         min_visible: float, persons: Callable[..., SourcePerson],
                         rng, style_prob: float = 0.0, image_format: str = "BGR",
                         match_camera: bool = False) -> Instances:
    """Paste 1 to ``max_persons`` source persons into one augmented target training image.

    Args:
        image: (H, W, C) uint8 training image (changed in place).
        instances: its target ``Instances`` (``gt_boxes``, ``gt_classes``, ``gt_masks`` as
            ``BitMasks``, ``gt_vis_boxes``), not changed.
        max_persons: most persons pasted (>= 1).
        min_visible: least visible fraction of a pasted person's silhouette, in [0, 1].
        persons: ``persons(rng)`` -> a :class:`SourcePerson` (e.g. ``SourcePersonBank.sample``).
        rng: ``np.random`` or a ``np.random.RandomState``.
        style_prob: probability that a pasted person is re-coloured to its anchor
            (:func:`restyle_to_anchor`; 0 = off, and then ``rng`` is drawn as without it).
        image_format: "BGR" or "RGB", the image's channel order (read when ``style_prob > 0``).
        match_camera: degrade each pasted person to the image's blur and noise (module doc;
            False = off, and then ``rng`` is drawn as without it).

    Returns:
        ``instances`` followed by the pasted persons, with ``gt_keypoints`` and ``gt_pasted``
        added (module doc); ``instances`` itself (no new fields) when nothing could be pasted.
    """
    hw = image.shape[:2]
    if len(instances) == 0:  # (D2 gives an image without persons no gt_masks field)
        occupied = np.zeros(hw, bool)
    elif isinstance(instances.gt_masks, BitMasks):
        occupied = instances.gt_masks.tensor.any(dim=0).numpy()
    else:
        raise TypeError("INPUT.PERSON_PASTE needs INPUT.MASK_FORMAT 'bitmask'")
    anchors = instances.gt_boxes.tensor.numpy()
    boxes, masks, keypoints = [], [], []
    for _ in range(rng.randint(1, max_persons + 1)):
        person = persons(rng)
        for _ in range(_TRIES):
            scale, left, top, anchor = _placement(anchors, hw, person.mask.shape, rng)
            placed = _render(person, scale, left, top, hw)
            visible = placed.silhouette & ~occupied
            box = np.clip(placed.box, 0, [hw[1], hw[0]] * 2)
            if (box[2] > box[0] and box[3] > box[1] and visible.any()
                    and visible.sum() >= min_visible * placed.area):
                break
        else:
            continue
        if style_prob > 0 and anchor >= 0 and rng.uniform() < style_prob:
            # (a paste never covers an annotated mask, so the anchor's pixels are its own)
            restyle_to_anchor(placed.pixels, placed.silhouette, image,
                              instances.gt_masks.tensor[anchor].numpy(), image_format)
        image[visible] = placed.pixels[visible]
        if match_camera:
            degrade_to_host(image, visible, occupied, None if anchor < 0 else
                            instances.gt_masks.tensor[anchor].numpy(), rng)
        keypoints.append(_joint_visibility(placed.keypoints, occupied))
        occupied = occupied | visible
        boxes.append(box)
        masks.append(visible)
    if not boxes:
        return instances
    return _with_pasted(instances, boxes, masks, keypoints)


def _with_pasted(instances: Instances, boxes: List[np.ndarray], masks: List[np.ndarray],
                 keypoints: List[np.ndarray]) -> Instances:
    """``instances`` (no pose labels) followed by the pasted persons (module doc); the pasted
    persons alone when ``instances`` is empty."""
    n = len(instances)
    mine = Instances(instances.image_size)
    for name, value in instances.get_fields().items():
        mine.set(name, value)
    if not mine.has("gt_keypoints"):  # (the oracle's target persons keep theirs)
        mine.gt_keypoints = Keypoints(torch.zeros((n, NUM_KEYPOINTS, 3)))
    mine.gt_pasted = torch.zeros(n, dtype=torch.bool)
    pasted = Instances(instances.image_size)
    pasted.gt_boxes = Boxes(torch.as_tensor(np.stack(boxes), dtype=torch.float32))
    pasted.gt_classes = torch.zeros(len(boxes), dtype=torch.int64)
    pasted.gt_masks = BitMasks(torch.from_numpy(np.stack(masks)))
    if instances.has("gt_vis_boxes"):
        pasted.gt_vis_boxes = pasted.gt_masks.get_bounding_boxes()
    pasted.gt_keypoints = Keypoints(torch.as_tensor(np.stack(keypoints), dtype=torch.float32))
    pasted.gt_pasted = torch.ones(len(boxes), dtype=torch.bool)
    return Instances.cat([mine, pasted]) if n else pasted
