"""The reader of the CityPersons annotation files: the ``.mat`` as distributed and COCO-style
JSON. Both the dataset loader (:mod:`.citypersons`) and the miss-rate evaluation
(:mod:`occpose_d2.evaluation.citypersons_evaluation`) read them through this module.

Both formats give a list of :class:`CityPersonsImage`, one per image, each with an ``(N, 10)``
array of rows ``[class_label, x1, y1, w, h, instance_id, x1_vis, y1_vis, w_vis, h_vis]`` (pixels
of the 2048 x 1024 Cityscapes frame; class labels 0 ignore region, 1 pedestrian, 2 rider, 3 sitting,
4 other, 5 group; ``instance_id`` is the Cityscapes instanceId, 0 when unknown).

JSON flavours: the official ``val_gt.json`` (``im_name`` per image; boxes with ``bbox``,
``vis_bbox`` and ``ignore``) and this project's converter output (which also has
``cp_class`` and ``instance_id``). The official JSON has no class label per box: non-ignored
boxes are pedestrians (1) and ignored ones (``ignore`` or ``iscrowd``) are read as class 0, so
they become ignore regions (which all non-pedestrian classes are in training anyway). Image ids
are the JSON's ``id``, else (``.mat``) the 1-based position in the file, as in the official
evaluation's ``val_gt.json``.
"""

import os
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np
import scipy.io

from .common import read_json, xywh_box

__all__ = ["CityPersonsImage", "read_citypersons_annotations", "CLASS_NAMES", "PEDESTRIAN",
           "image_ids", "visible_ratios"]

CLASS_NAMES = ("ignore", "pedestrian", "rider", "sitting", "other", "group")
PEDESTRIAN = CLASS_NAMES.index("pedestrian")  # the class that counts; the others are ignored


@dataclass
class CityPersonsImage:
    """One image's annotations. ``boxes``: float64 (N, 10) rows as in the module docstring."""

    city: str
    im_name: str
    boxes: np.ndarray
    height: Optional[int] = None
    width: Optional[int] = None
    image_id: Optional[int] = None
    # Per-row visible masks (COCO RLE/polygons) when the file is already joined (converter output).
    segmentations: Optional[List[Any]] = None
    # Per-row visibility as stored in a JSON file (``vis_ratio``), float64 (N,); None otherwise.
    vis_ratio: Optional[np.ndarray] = None


def image_ids(records: List[CityPersonsImage]) -> List[int]:
    """Each record's image id: the JSON's ``id``, else its 1-based position in the file."""
    return [r.image_id if r.image_id is not None else i + 1 for i, r in enumerate(records)]


def visible_ratios(rows: np.ndarray) -> np.ndarray:
    """CityPersons' visibility of ``(N, 10)`` rows: visible-box area / full-box area, float64
    (N,); 0 for an empty full box."""
    area = rows[:, 3] * rows[:, 4]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(area > 0, rows[:, 8] * rows[:, 9] / area, 0.0)


def _check_rows(rows: np.ndarray, where: str) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 10) if np.size(rows) else np.zeros(
        (0, 10))
    if not np.isfinite(rows).all() or (rows[:, [3, 4, 8, 9]] < 0).any():
        raise ValueError(f"{where}: non-finite or negative box sizes in {rows.tolist()[:3]}...")
    bad = ~np.isin(rows[:, 0], np.arange(len(CLASS_NAMES)))
    if bad.any():
        raise ValueError(f"{where}: unknown class label(s) {sorted(set(rows[bad, 0]))}")
    return rows


def _read_mat(path: str) -> List[CityPersonsImage]:
    mat = scipy.io.loadmat(path)
    keys = [k for k in mat if not k.startswith("__")]
    if len(keys) != 1:
        raise ValueError(f"{path}: expected one annotation cell array, found variables {keys}")
    cells = mat[keys[0]]
    out = []
    for i in range(cells.shape[1]):
        try:
            rec = cells[0, i][0, 0]
            city, name, bbs = str(rec["cityname"][0]), str(rec["im_name"][0]), rec["bbs"]
        except (IndexError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: record #{i} is not (cityname, im_name, bbs): {e}") from e
        out.append(CityPersonsImage(city, name, _check_rows(bbs, f"{path} record #{i} {name}")))
    return out


def _read_json(path: str) -> List[CityPersonsImage]:
    data = read_json(path)
    for key in ("images", "annotations"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise ValueError(f"{path}: not a CityPersons COCO-style file (no '{key}' list)")
    by_image = {}
    for i, a in enumerate(data["annotations"]):
        where = f"{path}: annotation #{i}"
        missing = [k for k in ("image_id", "bbox") if k not in a]
        if missing:
            raise ValueError(f"{where} lacks {missing}")
        box = xywh_box(a["bbox"], where)
        vis_box = xywh_box(a["vis_bbox"], where, "vis_bbox") if "vis_bbox" in a else box
        ignored = a.get("ignore", 0) or a.get("iscrowd", 0)
        cls = a.get("cp_class", a.get("class_label", 0 if ignored else PEDESTRIAN))
        row = [cls, *box, a.get("instance_id", 0), *vis_box]
        by_image.setdefault(a["image_id"], []).append((row, a))
    out = []
    for i, img in enumerate(data["images"]):
        if "id" not in img:
            raise ValueError(f"{path}: image #{i} lacks 'id'")
        name = img.get("im_name", os.path.basename(img.get("file_name", "")))
        if not name:
            raise ValueError(f"{path}: image id {img.get('id')} has no 'im_name' / 'file_name'")
        anns = by_image.get(img["id"], [])
        rows = _check_rows([a[0] for a in anns], f"{path} image {name}")
        segms = [a[1].get("segmentation") for a in anns]
        joined = bool(anns) and all(s is not None for s in segms)
        vis = [a[1].get("vis_ratio") for a in anns]
        stored = bool(anns) and all(v is not None for v in vis)
        out.append(CityPersonsImage(name.split("_")[0], name, rows, img.get("height"),
                                    img.get("width"), img["id"], segms if joined else None,
                                    np.asarray(vis, dtype=np.float64) if stored else None))
    return out


def read_citypersons_annotations(path: str) -> List[CityPersonsImage]:
    """Read a CityPersons ``.mat`` (``anno_{train,val}.mat``) or COCO-style ``.json`` file.

    Raises:
        ValueError: naming the file and record when a record is malformed.
    """
    if path.endswith(".mat"):
        return _read_mat(path)
    if path.endswith(".json"):
        return _read_json(path)
    raise ValueError(f"{path}: CityPersons annotations must be a .mat or .json file")
