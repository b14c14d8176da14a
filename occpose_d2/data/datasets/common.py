"""Helpers shared by the dataset loaders: metadata, lazy registration, missing-data errors,
boxes checked against their image."""

import difflib
import json
import logging
import math
import os
from numbers import Real
from typing import Any, Callable, Dict, List, Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from ...keypoints import keypoint_metadata

__all__ = ["dataset_metadata", "register_lazy", "require_paths", "DatasetLayoutError",
           "clip_boxes_to_images", "read_json", "xywh_box", "require_registered"]

logger = logging.getLogger(__name__)


class DatasetLayoutError(FileNotFoundError):
    """Files a registered dataset needs are missing; the message shows the expected layout."""


def dataset_metadata(domain: str, evaluator_type: str, **extra: Any) -> Dict[str, Any]:
    """``MetadataCatalog`` fields of every occpose_d2 dataset (one ``person`` class, 13 joints).

    The person's category id in COCO-format files is 1 (contiguous id 0), as in COCO.
    """
    return {"thing_classes": ["person"], "thing_dataset_id_to_contiguous_id": {1: 0},
            **keypoint_metadata(), "domain": domain, "evaluator_type": evaluator_type, **extra}


def register_lazy(name: str, loader: Callable[[], List[Dict]], metadata: Dict[str, Any]) -> None:
    """Register ``name`` once (again: no-op); ``loader`` runs on ``DatasetCatalog.get``."""
    if name in DatasetCatalog.list():
        return
    DatasetCatalog.register(name, loader)
    MetadataCatalog.get(name).set(**metadata)


def require_registered(names: Sequence[str], key: str) -> None:
    """Raise ``ValueError`` for the first of ``names`` (config ``key``, e.g. "DATASETS.TRAIN")
    that is not registered, listing the registered names closest to it."""
    registered = DatasetCatalog.list()
    for name in names:
        if name not in registered:
            close = difflib.get_close_matches(name, registered, n=3, cutoff=0.6)
            hint = (f"close matches: {', '.join(close)}" if close
                    else "no close match; DatasetCatalog.list() names them all")
            raise ValueError(f"{key}: dataset {name!r} is not registered ({hint})")


def require_paths(dataset_name: str, paths: Sequence[str], layout: str) -> None:
    """Raise :class:`DatasetLayoutError` naming the first missing path and the expected tree."""
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        root = os.environ.get("DETECTRON2_DATASETS", "datasets")
        raise DatasetLayoutError(
            f"Dataset '{dataset_name}': {len(missing)} required path(s) missing, e.g. "
            f"'{missing[0]}'.\nExpected layout under $DETECTRON2_DATASETS (now '{root}'):\n"
            f"{layout}\nSee datasets/README.md for how to get the data."
        )


def _inside_fraction(xyxy: Sequence[float], width: float, height: float) -> float:
    """Fraction of the (non-empty) box's area inside ``[0, width] x [0, height]``."""
    x0, y0, x1, y1 = xyxy
    area = (x1 - x0) * (y1 - y0)
    ix = max(0.0, min(x1, width) - max(x0, 0.0))
    iy = max(0.0, min(y1, height) - max(y0, 0.0))
    return ix * iy / area


def _clip_xywh(box: Sequence[float], mode: BoxMode, width: float, height: float) -> List[float]:
    x0, y0, x1, y1 = BoxMode.convert(list(box), mode, BoxMode.XYXY_ABS)
    x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
    y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
    return BoxMode.convert([x0, y0, x1, y1], BoxMode.XYXY_ABS, mode)


def clip_boxes_to_images(dicts: List[Dict], source: str, name: str) -> None:
    """Check every annotation's ``bbox`` against its image (``width`` x ``height`` pixels).

    Boxes without area (width or height <= 0) are dropped. A box with less than half of its area
    inside the image means that the annotations were made for another image size (e.g.
    CityPersons' 2048 x 1024 boxes on downscaled frames): an error. Boxes partly outside but at
    least half inside (amodal boxes of people cut by the frame: real CityPersons boxes reach up
    to 140 px past it) are clipped to the image in place (``bbox``, and ``vis_bbox`` when
    present). One log line counts the dropped and the clipped boxes.

    Args:
        dicts: D2 dataset dicts with ``height``, ``width`` and ``annotations`` (changed in place).
        source: the annotation file, named in the error.
        name: dataset name of the log line.

    Raises:
        ValueError: ``"<source>: image '<file_name>': K of N boxes lie mostly outside ..."``.
    """
    clipped = dropped = 0
    for d in dicts:
        width, height = d["width"], d["height"]
        anns = d.get("annotations", [])
        boxes = [BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns]
        kept = [(a, b) for a, b in zip(anns, boxes) if b[2] > b[0] and b[3] > b[1]]
        dropped += len(anns) - len(kept)
        outside = [b for _, b in kept if _inside_fraction(b, width, height) < 0.5]
        if outside:
            raise ValueError(
                f"{source}: image '{d['file_name']}': {len(outside)} of {len(anns)} boxes lie "
                f"mostly outside its {width}x{height} pixels (e.g. XYXY "
                f"{[round(v, 1) for v in outside[0]]}); were they made for another image size?")
        for a, (x0, y0, x1, y1) in kept:
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                clipped += 1
                a["bbox"] = _clip_xywh(a["bbox"], a["bbox_mode"], width, height)
                if "vis_bbox" in a:
                    a["vis_bbox"] = _clip_xywh(a["vis_bbox"], BoxMode.XYWH_ABS, width, height)
        if "annotations" in d:
            d["annotations"] = [a for a, _ in kept]
    if clipped or dropped:
        logger.info(f"{name}: {dropped} zero-area box(es) dropped, {clipped} box(es) partly "
                    "outside their image clipped to it")

def read_json(path: str) -> Any:
    """``json.load`` of ``path``; invalid JSON is a ``ValueError`` naming the file."""
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None


def xywh_box(value: Any, where: str, key: str = "bbox") -> List[float]:
    """``value`` as ``[x, y, w, h]``: four finite numbers with ``w, h >= 0``, else a
    ``ValueError`` naming ``where`` (file and record) and ``key``."""
    ok = (isinstance(value, (list, tuple)) and len(value) == 4
          and all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
                  for v in value))
    if not ok:
        raise ValueError(f"{where}: '{key}' must be four finite numbers [x, y, w, h], "
                         f"got {value!r}")
    if value[2] < 0 or value[3] < 0:
        raise ValueError(f"{where}: '{key}' {list(value)} has a negative width or height")
    return [float(v) for v in value]
