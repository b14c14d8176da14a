"""CityPersons boxes joined with Cityscapes instance masks and images ("pd" domain).

Training practice (as in CityPersons/Pedestron): class 1 (pedestrian) boxes train as persons;
every other class (0 ignore region, 2 rider, 3 sitting, 4 other, 5 group) is kept with
``iscrowd = 1``, an ignore region that D2's mapper drops and the MR evaluator ignores. No
height/visibility filter is applied: heavily occluded pedestrians are what the paper is about.

Masks: a box whose ``instance_id`` (the .mat files carry it) exists in the image's
``gtFine_instanceIds.png`` gets that instance's mask. Otherwise (the official JSON has no ids,
or the id is absent) it gets the unused person/rider instance (Cityscapes ids 24xxx/25xxx) whose
mask box best overlaps its visible box (IoU >= 0.5). Boxes of classes 1-4 left unmatched get
their visible box as a rectangle mask; one log line per dataset counts each case. Classes 0 and
5 get no mask. ``vis_ratio`` is CityPersons' definition: visible-box area / full-box area.
"""

import logging
import os
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_util
from cityscapesscripts.helpers.labels import name2label
from detectron2.structures import BoxMode

from ...domains import DOMAIN_TARGET
from .citypersons_annotations import (
    PEDESTRIAN,
    CityPersonsImage,
    image_ids,
    read_citypersons_annotations,
    visible_ratios,
)
from .common import DatasetLayoutError, clip_boxes_to_images

__all__ = ["load_citypersons", "cityscapes_files", "match_instance_masks", "MATCH_IOU"]

logger = logging.getLogger(__name__)

MATCH_IOU = 0.5  # min IoU (mask box vs visible box) of a best-overlap match
_PERSON_LIKE = (1, 2, 3, 4)
_CITYSCAPES_PERSON_LABELS = (name2label["person"].id, name2label["rider"].id)  # 24, 25


def cityscapes_files(root: str, split: str, city: str, im_name: str) -> Tuple[str, str]:
    """(leftImg8bit image, gtFine instanceIds PNG) of one CityPersons image under ``root``."""
    stem = im_name.replace("_leftImg8bit.png", "")
    return (os.path.join(root, "leftImg8bit", split, city, im_name),
            os.path.join(root, "gtFine", split, city, f"{stem}_gtFine_instanceIds.png"))


def _iou_xywh(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _mask_box(mask: np.ndarray) -> List[float]:
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return [float(xs[0]), float(ys[0]), float(xs[-1] - xs[0] + 1), float(ys[-1] - ys[0] + 1)]


def match_instance_masks(
    instance_ids: np.ndarray, rows: np.ndarray
) -> Tuple[List[Optional[np.ndarray]], List[str]]:
    """Attach Cityscapes instance masks to CityPersons rows.

    Args:
        instance_ids: (H, W) Cityscapes instanceIds map (``label * 1000 + index``).
        rows: (N, 10) CityPersons rows (see ``citypersons_annotations``).

    Returns:
        (masks, how): per row a bool (H, W) mask or None, and "id", "overlap", "none" (person-like
        row without a mask) or "skip" (classes 0 and 5).
    """
    present = set(np.unique(instance_ids).tolist())
    candidates = sorted(i for i in present if i // 1000 in _CITYSCAPES_PERSON_LABELS)
    boxes: Dict[int, List[float]] = {}
    used = set()
    masks: List[Optional[np.ndarray]] = [None] * len(rows)
    how = ["skip"] * len(rows)
    order = sorted(range(len(rows)), key=lambda k: rows[k, 5] == 0)  # id matches first
    for k in order:
        cls, iid = int(rows[k, 0]), int(rows[k, 5])
        if cls not in _PERSON_LIKE:
            continue
        if iid and iid in present and iid not in used:
            masks[k], how[k] = instance_ids == iid, "id"
            used.add(iid)
            continue
        best, best_iou = None, MATCH_IOU
        for c in candidates:
            if c in used:
                continue
            if c not in boxes:
                boxes[c] = _mask_box(instance_ids == c)
            iou = _iou_xywh(boxes[c], rows[k, 6:10])
            if iou >= best_iou:
                best, best_iou = c, iou
        if best is None:
            how[k] = "none"
        else:
            masks[k], how[k] = instance_ids == best, "overlap"
            used.add(best)
    return masks, how


def _rle(mask: np.ndarray) -> Dict:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _annotation(row: np.ndarray, segmentation) -> Dict:
    cls = int(row[0])
    box, vis = [float(v) for v in row[1:5]], [float(v) for v in row[6:10]]
    ann = {
        "bbox": box, "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0,
        "iscrowd": int(cls != PEDESTRIAN), "vis_bbox": vis,
        "vis_ratio": float(visible_ratios(row[None])[0]),
        "cp_class": cls, "instance_id": int(row[5]),
    }
    if segmentation is not None:
        ann["segmentation"] = segmentation
    return ann


def _image_dict(rec: CityPersonsImage, image_id: int, root: str, split: str,
                counts: Dict[str, int]) -> Dict:
    image_file, ids_file = cityscapes_files(root, split, rec.city, rec.im_name)
    if rec.segmentations is not None:  # already joined (converter output)
        segms, (h, w) = rec.segmentations, (rec.height, rec.width)
        counts["joined"] += len(segms)
    else:
        ids = cv2.imread(ids_file, cv2.IMREAD_UNCHANGED)
        if ids is None:
            raise DatasetLayoutError(f"cannot read Cityscapes instanceIds PNG '{ids_file}'")
        h, w = ids.shape[:2]
        masks, how = match_instance_masks(ids.astype(np.int64), rec.boxes)
        segms = []
        for row, m, hw in zip(rec.boxes, masks, how):
            counts[hw] += 1
            x, y, bw, bh = row[6:10]
            rect = [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]
            segms.append(_rle(m) if m is not None else (rect if hw == "none" else None))
    return {
        "file_name": image_file, "image_id": image_id,
        "height": int(h), "width": int(w), "domain": DOMAIN_TARGET,
        "annotations": [_annotation(r, s) for r, s in zip(rec.boxes, segms)],
    }


def load_citypersons(anno_file: str, cityscapes_root: str, split: str, name: str = "citypersons"
                     ) -> List[Dict]:
    """Load CityPersons as D2 dicts of the target domain.

    Args:
        anno_file: ``anno_{split}.mat``, the official JSON, or a converter JSON (already joined).
        cityscapes_root: folder with ``leftImg8bit/`` and ``gtFine/``.
        split: "train" or "val" (Cityscapes sub-folder).
        name: dataset name for the log line.

    Returns:
        D2 dicts (``domain = "pd"``; ``image_id`` = the JSON's id, else the 1-based position in
        the file as in the official evaluation; annotations with ``bbox`` full box, ``vis_bbox``,
        ``vis_ratio``, ``cp_class``, ``instance_id``, ``iscrowd``, ``segmentation``).

    Raises:
        DatasetLayoutError: an image or instanceIds PNG is missing (first one named).
        ValueError: boxes lie mostly outside their image (see :func:`clip_boxes_to_images`).
    """
    records = read_citypersons_annotations(anno_file)
    missing = []
    for r in records:
        image_file, ids_file = cityscapes_files(cityscapes_root, split, r.city, r.im_name)
        needed = [image_file] if r.segmentations is not None else [image_file, ids_file]
        missing += [p for p in needed if not os.path.isfile(p)]
    if missing:
        raise DatasetLayoutError(
            f"{name}: {len(missing)} Cityscapes file(s) named by '{anno_file}' are missing under "
            f"'{cityscapes_root}', e.g. '{missing[0]}' (see datasets/README.md)")
    counts = {"id": 0, "overlap": 0, "none": 0, "skip": 0, "joined": 0}
    dicts = [_image_dict(r, i, cityscapes_root, split, counts)
             for r, i in zip(records, image_ids(records))]
    clip_boxes_to_images(dicts, anno_file, name)
    boxes = sum(len(r.boxes) for r in records)
    peds = sum(int((r.boxes[:, 0] == PEDESTRIAN).sum()) for r in records)
    logger.info(
        f"{name}: {len(dicts)} images, {boxes} boxes ({peds} pedestrians); masks by instance id: "
        f"{counts['id']}, by best overlap: {counts['overlap']}, unmatched (visible-box "
        f"rectangle): {counts['none']}, pre-joined: {counts['joined']}, no mask (ignore/group): "
        f"{counts['skip']}")
    return dicts
