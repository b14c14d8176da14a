"""Dataset registration (on import) and loaders of occpose_d2."""

from . import builtin  # noqa: F401  register the predefined splits
from .citypersons import load_citypersons, match_instance_masks
from .citypersons_annotations import CityPersonsImage, read_citypersons_annotations
from .coco_person13 import load_coco_person13_json
from .common import DatasetLayoutError, dataset_metadata
from .synthetic import load_synthetic_json

__all__ = [
    "load_citypersons", "match_instance_masks", "CityPersonsImage",
    "read_citypersons_annotations", "load_coco_person13_json", "load_synthetic_json",
    "DatasetLayoutError", "dataset_metadata",
]
