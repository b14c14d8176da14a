"""The synthetic two-domain generator: determinism, geometry of the annotations, visibility
flags read from the rendering, and the registered synthetic datasets."""

import filecmp
import json
import os

import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from occpose_d2.data.synthetic import generate_synthetic, write_previews
from occpose_d2.keypoints import NUM_KEYPOINTS


def _load(root, name):
    with open(os.path.join(root, "annotations", f"{name}.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same seed rendered twice (in-process and with 2 workers) and another seed."""
    a = str(tmp_path_factory.mktemp("a"))
    b = str(tmp_path_factory.mktemp("b"))
    c = str(tmp_path_factory.mktemp("c"))
    generate_synthetic(a, seed=3, num_train=6, num_val=3, workers=0)
    generate_synthetic(b, seed=3, num_train=6, num_val=3, workers=2)
    generate_synthetic(c, seed=4, num_train=6, num_val=3, workers=0)
    return a, b, c


def test_same_seed_same_bytes_other_seed_differs(pair):
    a, b, c = pair
    for name in ("synth_pe_train", "synth_pe_val", "synth_pd_train", "synth_pd_val",
                 "synth_pd_val_kp"):
        assert filecmp.cmp(os.path.join(a, "annotations", f"{name}.json"),
                           os.path.join(b, "annotations", f"{name}.json"), shallow=False)
    for sub in ("pe/train", "pd/val"):
        names = sorted(os.listdir(os.path.join(a, sub, "images")))
        assert len(names) == (6 if sub.endswith("train") else 3)
        for n in names:
            ia = cv2.imread(os.path.join(a, sub, "images", n))
            ib = cv2.imread(os.path.join(b, sub, "images", n))
            assert np.array_equal(ia, ib)
    ia = cv2.imread(os.path.join(a, "pe/train/images/000000.png"))
    ic = cv2.imread(os.path.join(c, "pe/train/images/000000.png"))
    assert ia.shape == ic.shape and not np.array_equal(ia, ic)


@pytest.mark.parametrize("name", ["synth_pe_train", "synth_pd_val_kp"])
def test_annotation_geometry_and_visibility(pair, name):
    data = _load(pair[0], name)
    sizes = {im["id"]: (im["height"], im["width"]) for im in data["images"]}
    assert data["annotations"]
    for a in data["annotations"]:
        h, w = sizes[a["image_id"]]
        m = mask_util.decode(a["segmentation"]).astype(bool)
        assert m.shape == (h, w)
        x, y, bw, bh = a["bbox"]
        vx, vy, vw, vh = a["vis_bbox"]
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
        # visible box inside the full box, mask inside the visible box (tight)
        assert x <= vx and y <= vy and vx + vw <= x + bw and vy + vh <= y + bh
        ys, xs = np.nonzero(m)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (vx, vy, vx + vw, vy + vh)
        # visibility = visible mask pixels / whole-silhouette pixels
        assert a["area"] == m.sum() and 0 < a["area"] <= a["full_area"] <= bw * bh
        assert a["vis_ratio"] == pytest.approx(a["area"] / a["full_area"])
        kp = np.asarray(a["keypoints"]).reshape(NUM_KEYPOINTS, 3)
        assert set(kp[:, 2]) <= {1.0, 2.0}
        px, py = kp[:, 0].astype(int), kp[:, 1].astype(int)
        assert ((px >= x) & (px < x + bw) & (py >= y) & (py < y + bh)).all()
        # v = 2 exactly where the joint's pixel is still the person's (not drawn over)
        assert np.array_equal(m[py, px], kp[:, 2] == 2)
        assert a["fully_visible"] == bool((kp[:, 2] == 2).all() and not a["iscrowd"])


def test_domains_differ_and_target_has_no_keypoints(pair):
    a = pair[0]
    pe, pd = _load(a, "synth_pe_train"), _load(a, "synth_pd_train")
    assert {(i["height"], i["width"]) for i in pe["images"]} == {(192, 192)}
    assert {(i["height"], i["width"]) for i in pd["images"]} == {(128, 256)}
    for name in ("synth_pd_train", "synth_pd_val"):
        for ann in _load(a, name)["annotations"]:
            assert "keypoints" not in ann and "fully_visible" not in ann
    assert "keypoints" not in _load(a, "synth_pd_train")["categories"][0]
    kp = _load(a, "synth_pd_val_kp")
    assert all(len(ann["keypoints"]) == 3 * NUM_KEYPOINTS for ann in kp["annotations"])
    assert len(kp["annotations"]) == len(_load(a, "synth_pd_val")["annotations"])
    # the target is darker and more occluded than the source (style + layout differ)
    img_pe = cv2.imread(os.path.join(a, "pe/train/images/000000.png")).astype(float)
    img_pd = cv2.imread(os.path.join(a, "pd/train/images/000000.png")).astype(float)
    assert img_pd.mean() < img_pe.mean()
    vis_pe = np.mean([x["vis_ratio"] for x in pe["annotations"]])
    vis_pd = np.mean([x["vis_ratio"] for x in pd["annotations"]])
    assert vis_pd < vis_pe


def test_previews_written(pair):
    paths = write_previews(pair[0], num=2)
    for p in paths:
        img = cv2.imread(p)
        assert img is not None and img.shape[0] >= 128 * 2


def test_registered_synthetic_datasets(synthetic_root):
    pe = DatasetCatalog.get("synth_pe_train")
    pd = DatasetCatalog.get("synth_pd_val")
    kp = DatasetCatalog.get("synth_pd_val_kp")
    assert len(pe) == 8 and len(pd) == 4 and len(kp) == 4
    a = pe[0]["annotations"][0]
    assert pe[0]["domain"] == "pe" and a["category_id"] == 0 and len(a["keypoints"]) == 39
    assert "fully_visible" in a and "vis_bbox" not in a
    b = pd[0]["annotations"][0]
    assert pd[0]["domain"] == "pd" and "keypoints" not in b
    assert {"vis_bbox", "vis_ratio", "cp_class"} <= set(b) and b["cp_class"] == 1
    assert "keypoints" in kp[0]["annotations"][0] and kp[0]["domain"] == "pd"
    # the measurement set keeps the flag the occlusion AP selects its persons by
    assert all(isinstance(c["fully_visible"], bool) for d in kp for c in d["annotations"])
    meta = MetadataCatalog.get("synth_pd_val")
    assert meta.evaluator_type == "synth_pd" and meta.domain == "pd"
    assert MetadataCatalog.get("synth_pd_val_kp").evaluator_type == "occpose_coco"
    assert len(MetadataCatalog.get("synth_pe_val").keypoint_names) == NUM_KEYPOINTS
    assert os.path.isfile(MetadataCatalog.get("synth_pe_val").json_file)
