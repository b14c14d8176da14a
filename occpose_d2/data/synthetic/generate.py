"""Write the synthetic two-domain data set: PNG images + COCO-format JSON per split.

Layout under ``out``::

    {pe,pd}/{train,val}/images/000000.png
    annotations/synth_{pe,pd}_{train,val}.json    (target files carry no keypoints)
    annotations/synth_pd_val_kp.json              (target val WITH keypoints, measurement only)
    annotations/synth_pd_train_kp.json            (target train WITH keypoints, the oracle only)

Each image is drawn from its own generator seeded with ``(seed, domain, split, index)``, so the
output is identical for a given seed whatever the number of worker processes.

Annotation fields (pixel units): ``bbox`` full-body box [x, y, w, h] (tight box of the whole
silhouette, drawn or hidden); ``vis_bbox`` tight box of the visible mask; ``segmentation``
visible mask (COCO RLE); ``area`` visible pixels; ``full_area`` silhouette pixels;
``vis_ratio`` = area / full_area (pixel visibility, not the CityPersons box-area ratio);
``keypoints`` 13 x (x, y, v) with v = 2 visible / 1 occluded (the joint's pixel is covered by
another person or object); ``fully_visible``; ``occluded_by_person`` (some silhouette pixel is
covered by another person); ``cp_class`` = 1 (pedestrian); ``iscrowd`` = 1 for a person left
less visible than the domain's minimum (an ignore region).
"""

import json
import logging
import multiprocessing as mp
import os
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_util

from ...domains import DOMAIN_SOURCE, DOMAIN_TARGET, DOMAINS
from ...keypoints import KEYPOINT_CONNECTION_RULES, KEYPOINT_NAMES
from .scene import Person, render_scene

__all__ = ["generate_synthetic", "write_previews", "DOMAIN_IDS", "SPLIT_IDS"]

logger = logging.getLogger(__name__)

# Seed component of each domain (its position in DOMAINS: "pe" 0, "pd" 1).
DOMAIN_IDS = {d: i for i, d in enumerate(DOMAINS)}
SPLIT_IDS = {"train": 0, "val": 1}
_TARGET_ONLY_DROP = ("keypoints", "num_keypoints", "fully_visible")


def _xywh(mask: np.ndarray) -> List[float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1)]


def _annotation(p: Person) -> Dict:
    rle = mask_util.encode(np.asfortranarray(p.mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    area, full = int(p.mask.sum()), int(p.amodal.sum())
    v = np.where(p.visible, 2, 1)
    kps = np.concatenate([p.joints.astype(np.float64), v[:, None]], axis=1)
    return {
        "category_id": 1,
        "iscrowd": int(p.ignore),
        "bbox": _xywh(p.amodal),
        "vis_bbox": _xywh(p.mask),
        "segmentation": rle,
        "area": area,
        "full_area": full,
        "vis_ratio": area / full,
        "cp_class": 1,
        "keypoints": [float(x) for x in kps.reshape(-1)],
        "num_keypoints": 13,
        "fully_visible": bool(not p.ignore and p.visible.all()),
        "occluded_by_person": p.occluded_by_person,
    }


def _render_one(job: Tuple[str, str, str, int, int]) -> Tuple[Dict, List[Dict]]:
    out, domain, split, index, seed = job
    rng = np.random.default_rng([seed, DOMAIN_IDS[domain], SPLIT_IDS[split], index])
    img, people = render_scene(rng, domain)
    name = f"{index:06d}.png"
    cv2.imwrite(os.path.join(out, domain, split, "images", name), img)
    image = {"id": index + 1, "file_name": name, "height": img.shape[0], "width": img.shape[1]}
    return image, [_annotation(p) for p in people]


def _coco(images: List[Dict], anns: List[Dict], keypoints: bool) -> Dict:
    cat = {"id": 1, "name": "person", "supercategory": "person"}
    if keypoints:
        index = {n: i + 1 for i, n in enumerate(KEYPOINT_NAMES)}
        cat["keypoints"] = list(KEYPOINT_NAMES)
        cat["skeleton"] = [[index[a], index[b]] for a, b, _ in KEYPOINT_CONNECTION_RULES]
    else:
        anns = [{k: v for k, v in a.items() if k not in _TARGET_ONLY_DROP} for a in anns]
    return {"info": {"description": "occpose_d2 synthetic"}, "images": images,
            "annotations": anns, "categories": [cat]}


def _dump(obj: Dict, path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def generate_synthetic(
    out: str, seed: int, num_train: int, num_val: int, workers: Optional[int] = None
) -> Dict[str, str]:
    """Render both domains' train/val splits under ``out`` (layout in the module docstring).

    Args:
        out: output folder (created).
        seed: base seed; same seed -> byte-identical JSON and pixels.
        num_train, num_val: images per split and domain.
        workers: processes (default: CPU count; 0 or 1 renders in this process).

    Returns:
        dict ``dataset name -> JSON path``.
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    os.makedirs(os.path.join(out, "annotations"), exist_ok=True)
    paths = {}
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        for domain in DOMAINS:
            for split, n in (("train", num_train), ("val", num_val)):
                os.makedirs(os.path.join(out, domain, split, "images"), exist_ok=True)
                jobs = [(out, domain, split, i, seed) for i in range(n)]
                results = (pool.imap(_render_one, jobs, chunksize=16) if pool
                           else map(_render_one, jobs))
                images, anns = [], []
                for image, image_anns in results:
                    images.append(image)
                    for a in image_anns:
                        anns.append({"id": len(anns) + 1, "image_id": image["id"], **a})
                name = f"synth_{domain}_{split}"
                paths[name] = os.path.join(out, "annotations", f"{name}.json")
                _dump(_coco(images, anns, keypoints=domain == DOMAIN_SOURCE), paths[name])
                if domain == DOMAIN_TARGET:
                    paths[name + "_kp"] = os.path.join(out, "annotations", f"{name}_kp.json")
                    _dump(_coco(images, anns, keypoints=True), paths[name + "_kp"])
                logger.info(f"{name}: {len(images)} images, {len(anns)} persons")
    finally:
        if pool:
            pool.close()
            pool.join()
    return paths


def _draw(img: np.ndarray, anns: List[Dict], scale: int) -> np.ndarray:
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    index = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    for a in anns:
        m = mask_util.decode(a["segmentation"])
        m = cv2.resize(m, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(img, contours, -1, (255, 255, 0), 1)
        for key, col in (("bbox", (0, 255, 0)), ("vis_bbox", (0, 255, 255))):
            x, y, w, h = (v * scale for v in a[key])
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), col, 1)
        kp = np.asarray(a["keypoints"]).reshape(-1, 3)
        pts = [(int(x * scale + scale // 2), int(y * scale + scale // 2)) for x, y, _ in kp]
        for na, nb, rgb in KEYPOINT_CONNECTION_RULES:
            cv2.line(img, pts[index[na]], pts[index[nb]], rgb[::-1], 1, cv2.LINE_AA)
        for (x, y), v in zip(pts, kp[:, 2]):
            if v == 2:
                cv2.circle(img, (x, y), 3, (255, 255, 255), -1)
            else:
                cv2.circle(img, (x, y), 4, (0, 0, 255), 2)
    return img


def write_previews(out: str, num: int = 4, scale: int = 2) -> List[str]:
    """Draw the first ``num`` val images of each domain with their annotations (full box green,
    visible box yellow, visible-mask outline cyan, joints white = visible / red ring = occluded)
    side by side, into ``out/preview_{pe,pd}.png``. Returns the written paths."""
    written = []
    for domain, json_name in ((DOMAIN_SOURCE, "synth_pe_val"), (DOMAIN_TARGET, "synth_pd_val_kp")):
        with open(os.path.join(out, "annotations", f"{json_name}.json")) as f:
            data = json.load(f)
        tiles = []
        for image in data["images"][:num]:
            img = cv2.imread(os.path.join(out, domain, "val", "images", image["file_name"]))
            anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
            tiles.append(_draw(img, anns, scale))
        path = os.path.join(out, f"preview_{domain}.png")
        cv2.imwrite(path, np.concatenate(tiles, axis=1 if domain == DOMAIN_SOURCE else 0))
        written.append(path)
    return written
