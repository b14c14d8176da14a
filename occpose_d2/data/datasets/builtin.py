"""Predefined splits of occpose_d2, registered on import under ``$DETECTRON2_DATASETS``
(default ``datasets``). Registration is lazy: missing files raise a
:class:`~.common.DatasetLayoutError` showing the expected tree only on ``DatasetCatalog.get``.
Layouts and how to get the data: ``datasets/README.md``.
"""

import os
from typing import Dict, List, Tuple

from ...domains import DOMAIN_SOURCE, DOMAIN_TARGET
from .citypersons import load_citypersons
from .coco_person13 import load_coco_person13_json
from .common import dataset_metadata, register_lazy, require_paths
from .synthetic import load_synthetic_json

__all__ = ["register_all_coco_person13", "register_all_citypersons", "register_all_synthetic",
           "register_all", "citypersons_annotation_file"]

# name -> (image root, annotation JSON), relative to the dataset root.
_COCO_PERSON13: Dict[str, Tuple[str, str]] = {
    f"coco_2017_{s}_person13": (f"coco/{s}2017", f"coco/annotations/person_keypoints_{s}2017.json")
    for s in ("train", "val")
}
_COCO_LAYOUT = """  coco/annotations/person_keypoints_{train,val}2017.json
  coco/{train,val}2017/*.jpg"""

# name -> Cityscapes split.
_CITYPERSONS: Dict[str, str] = {"citypersons_train": "train", "citypersons_val": "val"}
# Annotation files tried in this order (converter output first: masks already joined).
_CITYPERSONS_ANNOTATIONS = ("citypersons_{split}.json", "anno_{split}.mat", "{split}_gt.json")
_CITYPERSONS_LAYOUT = """  citypersons/annotations/anno_{train,val}.mat
      (or the official {train,val}_gt.json, or the converter's citypersons_{train,val}.json)
  cityscapes/leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  cityscapes/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png"""

# name -> (domain, split folder, annotation JSON, evaluator type).
_SYNTHETIC: Dict[str, Tuple[str, str, str, str]] = {
    "synth_pe_train": (DOMAIN_SOURCE, "train", "synth_pe_train.json", "occpose_coco"),
    "synth_pe_val": (DOMAIN_SOURCE, "val", "synth_pe_val.json", "occpose_coco"),
    "synth_pd_train": (DOMAIN_TARGET, "train", "synth_pd_train.json", "synth_pd"),
    "synth_pd_val": (DOMAIN_TARGET, "val", "synth_pd_val.json", "synth_pd"),
    "synth_pd_val_kp": (DOMAIN_TARGET, "val", "synth_pd_val_kp.json", "occpose_coco"),
    # Target train WITH keypoints: only for the oracle (POSE_HEAD.SUPERVISE_TARGET).
    "synth_pd_train_kp": (DOMAIN_TARGET, "train", "synth_pd_train_kp.json", "occpose_coco"),
}
_SYNTHETIC_LAYOUT = """  synthetic/{pe,pd}/{train,val}/images/*.png
  synthetic/annotations/synth_{pe,pd}_{train,val}.json, synth_pd_{train,val}_kp.json
  (make it: python datasets/prepare_synthetic.py --out $DETECTRON2_DATASETS/synthetic)"""


def register_all_coco_person13(root: str) -> None:
    """Register ``coco_2017_{train,val}_person13`` (13-joint COCO persons, source domain)."""
    for name, (image_dir, json_rel) in _COCO_PERSON13.items():
        image_root, json_file = os.path.join(root, image_dir), os.path.join(root, json_rel)

        def load(name=name, image_root=image_root, json_file=json_file) -> List[Dict]:
            require_paths(name, [json_file, image_root], _COCO_LAYOUT)
            return load_coco_person13_json(json_file, image_root)

        # json_file is COCO's 17-joint file; occpose_d2's evaluator converts it to 13 joints.
        register_lazy(name, load, dataset_metadata(
            DOMAIN_SOURCE, "occpose_coco", json_file=json_file, image_root=image_root))


def citypersons_annotation_file(root: str, split: str) -> str:
    """The first existing CityPersons annotation file of ``split`` (else the ``.mat`` path)."""
    folder = os.path.join(root, "citypersons", "annotations")
    candidates = [os.path.join(folder, c.format(split=split)) for c in _CITYPERSONS_ANNOTATIONS]
    return next((c for c in candidates if os.path.isfile(c)), candidates[1])


def register_all_citypersons(root: str) -> None:
    """Register ``citypersons_{train,val}`` (CityPersons + Cityscapes masks, target domain)."""
    cityscapes = os.path.join(root, "cityscapes")
    for name, split in _CITYPERSONS.items():

        def load(name=name, split=split) -> List[Dict]:
            anno = citypersons_annotation_file(root, split)
            require_paths(name, [anno, os.path.join(cityscapes, "leftImg8bit", split)],
                          _CITYPERSONS_LAYOUT)
            return load_citypersons(anno, cityscapes, split, name)

        register_lazy(name, load, dataset_metadata(
            DOMAIN_TARGET, "citypersons", anno_file=citypersons_annotation_file(root, split),
            image_root=os.path.join(cityscapes, "leftImg8bit", split),
            gt_dir=os.path.join(cityscapes, "gtFine", split)))


def register_all_synthetic(root: str) -> None:
    """Register ``synth_{pe,pd}_{train,val}`` and ``synth_pd_{train,val}_kp`` under
    ``root/synthetic``."""
    base = os.path.join(root, "synthetic")
    for name, (domain, split, json_name, evaluator) in _SYNTHETIC.items():
        json_file = os.path.join(base, "annotations", json_name)
        image_root = os.path.join(base, domain, split, "images")

        def load(name=name, json_file=json_file, image_root=image_root, domain=domain):
            require_paths(name, [json_file, image_root], _SYNTHETIC_LAYOUT)
            return load_synthetic_json(json_file, image_root, domain)

        register_lazy(name, load, dataset_metadata(
            domain, evaluator, json_file=json_file, image_root=image_root))


def register_all(root: str) -> None:
    """Register every predefined split of occpose_d2 under ``root``."""
    register_all_coco_person13(root)
    register_all_citypersons(root)
    register_all_synthetic(root)
    try:
        from .occlusion_benchmarks import register_occlusion_benchmarks
    except ModuleNotFoundError as e:  # OCHuman / CrowdPose support is optional
        if e.name != f"{__package__}.occlusion_benchmarks":
            raise
        return
    register_occlusion_benchmarks(root)


if __name__.endswith(".builtin"):
    # Registered on import; D2's own builtin.py uses the same environment variable.
    register_all(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))
