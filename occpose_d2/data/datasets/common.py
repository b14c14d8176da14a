"""Helpers shared by the dataset loaders: metadata, lazy registration, missing-data errors."""

import os
from typing import Any, Callable, Dict, List, Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog

from ...keypoints import keypoint_metadata

__all__ = ["dataset_metadata", "register_lazy", "require_paths", "DatasetLayoutError"]


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
