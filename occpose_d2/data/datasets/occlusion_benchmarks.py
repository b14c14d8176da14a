"""OCHuman and CrowdPose (real heavily occluded / crowded people) as 13-joint D2 datasets.

Both ship COCO-style person keypoint JSONs; they are loaded with D2's ``load_coco_json`` and
mapped to the 13 joints of :mod:`occpose_d2.keypoints`:

* OCHuman uses COCO's 17 keypoints in COCO order -> ``coco17_to_13`` (face points -> ``head``).
* CrowdPose has 14 -> ``crowdpose14_to_13`` (``head_top`` -> ``head``, ``neck`` dropped; the
  offset between the top of the skull and the face centre is a limit of this benchmark).

Expected layout under ``root`` (``$DETECTRON2_DATASETS``)::

    ochuman/images/*.jpg
    ochuman/annotations/ochuman_coco_format_{val,test}_range_0.00_1.00.json
    crowdpose/images/*.jpg
    crowdpose/annotations/crowdpose_{val,test}.json

Registration is lazy: a missing file raises ``FileNotFoundError`` naming the expected layout
only when ``DatasetCatalog.get`` is called.
"""

import logging
import os
from typing import Any, Dict, List

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json

from ...domains import DOMAIN_SOURCE
from ...keypoints import is_fully_visible, keypoint_metadata, to_13_keypoints

__all__ = ["OCCLUSION_BENCHMARKS", "register_occlusion_benchmarks"]

logger = logging.getLogger(__name__)

# name -> (image dir, annotation json, keypoint layout), relative to the dataset root.
OCCLUSION_BENCHMARKS: Dict[str, tuple] = {
    "ochuman_val": (
        "ochuman/images", "ochuman/annotations/ochuman_coco_format_val_range_0.00_1.00.json",
        "coco17"),
    "ochuman_test": (
        "ochuman/images", "ochuman/annotations/ochuman_coco_format_test_range_0.00_1.00.json",
        "coco17"),
    "crowdpose_val": ("crowdpose/images", "crowdpose/annotations/crowdpose_val.json", "crowdpose"),
    "crowdpose_test": ("crowdpose/images", "crowdpose/annotations/crowdpose_test.json",
                       "crowdpose"),
}

def _load(name: str, root: str) -> List[Dict[str, Any]]:
    image_dir, json_rel, _ = OCCLUSION_BENCHMARKS[name]
    json_file, image_root = os.path.join(root, json_rel), os.path.join(root, image_dir)
    if not os.path.isfile(json_file):
        raise FileNotFoundError(
            f"{name}: annotation file {json_file} not found. Expected layout under {root}: "
            f"{image_dir}/*.jpg and {json_rel} (see occpose_d2/data/datasets/"
            "occlusion_benchmarks.py)."
        )
    dicts = load_coco_json(json_file, image_root, name)
    for d in dicts:
        for ann in d.get("annotations", []):
            kps = ann.get("keypoints")
            if kps:
                # load_coco_json added 0.5 to x, y; the mapping is affine per joint, so it holds.
                kp13 = to_13_keypoints(kps, f"{json_file} image {d['image_id']}")
                ann["keypoints"] = [float(v) for v in kp13.reshape(-1)]
                ann["fully_visible"] = not ann.get("iscrowd", 0) and is_fully_visible(kp13)
            else:
                ann["fully_visible"] = False
    return dicts


def register_occlusion_benchmarks(root: str) -> None:
    """Register ``ochuman_{val,test}`` and ``crowdpose_{val,test}`` under ``root`` (lazy).

    Metadata: our keypoint fields, ``thing_classes ["person"]``, ``domain "pe"``,
    ``evaluator_type "occpose_coco"``, ``json_file`` (the original JSON; the evaluator converts
    it to 13 joints) and, for CrowdPose, ``crowd_index_subsets=True`` (AP easy/medium/hard).
    Already-registered names are left alone.
    """
    for name, (image_dir, json_rel, layout) in OCCLUSION_BENCHMARKS.items():
        if name in DatasetCatalog.list():
            continue
        DatasetCatalog.register(name, lambda n=name: _load(n, root))
        MetadataCatalog.get(name).set(
            thing_classes=["person"],
            thing_dataset_id_to_contiguous_id={1: 0},
            json_file=os.path.join(root, json_rel),
            image_root=os.path.join(root, image_dir),
            evaluator_type="occpose_coco",
            domain=DOMAIN_SOURCE,
            crowd_index_subsets=layout == "crowdpose",
            **keypoint_metadata(),
        )
