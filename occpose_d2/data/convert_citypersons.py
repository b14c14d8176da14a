"""Convert CityPersons + Cityscapes into one COCO-format JSON that other tools can read.

Usage::

    python -m occpose_d2.data.convert_citypersons --citypersons anno_val.mat \\
        --cityscapes datasets/cityscapes --split val --out citypersons_val.json

Output: ``images`` (``id`` = 1-based position as in the official evaluation, ``file_name``
``<city>/<im_name>`` under ``leftImg8bit/<split>``, ``im_name``, ``height``, ``width``),
``categories`` (1 = person), ``annotations`` with ``bbox`` (full box, XYWH px), ``vis_bbox``,
``vis_ratio``, ``height`` (full-box height), ``cp_class`` (0-5), ``instance_id``,
``iscrowd`` = ``ignore`` = 1 for every class but pedestrian, ``segmentation`` (the joined
Cityscapes mask as RLE; the visible-box rectangle for ignore regions, groups and unmatched boxes)
and ``area`` (mask pixels). Saved as ``$DETECTRON2_DATASETS/citypersons/annotations/
citypersons_<split>.json`` it is what ``citypersons_<split>`` loads (no PNG decoding).
"""

import argparse
import json
import logging
import os
from typing import Dict, List

import pycocotools.mask as mask_util

from .datasets.citypersons import load_citypersons
from .datasets.citypersons_annotations import CLASS_NAMES

__all__ = ["citypersons_to_coco", "main"]

logger = logging.getLogger(__name__)


def _area(segm, h: int, w: int) -> float:
    rles = mask_util.frPyObjects(segm, h, w) if isinstance(segm, list) else [segm]
    return float(mask_util.area(mask_util.merge(rles)))


def citypersons_to_coco(dicts: List[Dict], image_root: str) -> Dict:
    """COCO-format dict (layout in the module docstring) from ``load_citypersons`` dicts."""
    images, anns = [], []
    for d in dicts:
        h, w = d["height"], d["width"]
        images.append({"id": d["image_id"], "im_name": os.path.basename(d["file_name"]),
                       "file_name": os.path.relpath(d["file_name"], image_root),
                       "height": h, "width": w})
        for a in d["annotations"]:
            x, y, bw, bh = a["vis_bbox"]
            segm = a.get("segmentation") or [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]
            anns.append({
                "id": len(anns) + 1, "image_id": d["image_id"], "category_id": 1,
                "iscrowd": a["iscrowd"], "ignore": a["iscrowd"], "bbox": a["bbox"],
                "vis_bbox": a["vis_bbox"], "vis_ratio": a["vis_ratio"], "height": a["bbox"][3],
                "cp_class": a["cp_class"], "instance_id": a["instance_id"],
                "segmentation": segm, "area": _area(segm, h, w),
            })
    return {"info": {"description": "CityPersons joined with Cityscapes gtFine by occpose_d2",
                     "cp_classes": list(CLASS_NAMES)},
            "images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citypersons", required=True, help="anno_<split>.mat or COCO-style JSON")
    parser.add_argument("--cityscapes", required=True, help="root with leftImg8bit/ and gtFine/")
    parser.add_argument("--split", required=True, choices=["train", "val"])
    parser.add_argument("--out", required=True, help="output JSON path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dicts = load_citypersons(args.citypersons, args.cityscapes, args.split,
                             name=f"citypersons_{args.split}")
    coco = citypersons_to_coco(dicts, os.path.join(args.cityscapes, "leftImg8bit", args.split))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(coco, f)
    os.replace(tmp, args.out)
    logger.info(f"wrote {args.out}: {len(coco['images'])} images, "
                f"{len(coco['annotations'])} boxes")


if __name__ == "__main__":
    main()
