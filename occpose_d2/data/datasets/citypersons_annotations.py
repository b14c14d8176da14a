"""Readers of the CityPersons annotation files: the ``.mat`` as distributed and COCO-style JSON.

Both give a list of :class:`CityPersonsImage`, one per image, each with an ``(N, 10)`` array of
rows ``[class_label, x1, y1, w, h, instance_id, x1_vis, y1_vis, w_vis, h_vis]`` (pixels of the
2048 x 1024 Cityscapes frame; class labels 0 ignore region, 1 pedestrian, 2 rider, 3 sitting,
4 other, 5 group; ``instance_id`` is the Cityscapes instanceId, 0 when unknown).

JSON flavours: the official ``val_gt.json`` (``im_name`` per image; boxes with ``bbox``,
``vis_bbox`` and ``ignore``) and this project's converter output (which also has
``cp_class`` and ``instance_id``). The official JSON has no class label per box: non-ignored
boxes are pedestrians (1) and ignored ones are read as class 0, so they become ignore regions
(which all non-pedestrian classes are in training anyway).
"""

import json
import os
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np
import scipy.io

__all__ = ["CityPersonsImage", "read_citypersons_annotations", "CLASS_NAMES"]

CLASS_NAMES = ("ignore", "pedestrian", "rider", "sitting", "other", "group")


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
    with open(path) as f:
        data = json.load(f)
    by_image = {}
    for i, a in enumerate(data.get("annotations", [])):
        try:
            cls = a.get("cp_class", a.get("class_label", 0 if a.get("ignore", 0) else 1))
            row = [cls, *a["bbox"], a.get("instance_id", 0), *a.get("vis_bbox", a["bbox"])]
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: annotation #{i} lacks a field: {e!r}") from e
        by_image.setdefault(a["image_id"], []).append((row, a))
    out = []
    for img in data["images"]:
        name = img.get("im_name", os.path.basename(img.get("file_name", "")))
        if not name:
            raise ValueError(f"{path}: image id {img.get('id')} has no 'im_name' / 'file_name'")
        anns = by_image.get(img["id"], [])
        rows = _check_rows([a[0] for a in anns], f"{path} image {name}")
        segms = [a[1].get("segmentation") for a in anns]
        joined = bool(anns) and all(s is not None for s in segms)
        out.append(CityPersonsImage(name.split("_")[0], name, rows, img.get("height"),
                                    img.get("width"), img["id"], segms if joined else None))
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
