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
                 "synth_pd_val_kp", "synth_pd_train_kp"):
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
    for split in ("val", "train"):
        kp = _load(a, f"synth_pd_{split}_kp")
        plain = _load(a, f"synth_pd_{split}")["annotations"]
        assert all(len(ann["keypoints"]) == 3 * NUM_KEYPOINTS for ann in kp["annotations"])
        assert all(isinstance(ann["fully_visible"], bool) for ann in kp["annotations"])
        # the same persons, boxes and masks as the file without keypoints
        stripped = [{k: v for k, v in ann.items()
                     if k not in ("keypoints", "num_keypoints", "fully_visible")}
                    for ann in kp["annotations"]]
        assert stripped == plain
    # the target is darker and more occluded than the source (style + layout differ)
    img_pe = cv2.imread(os.path.join(a, "pe/train/images/000000.png")).astype(float)
    img_pd = cv2.imread(os.path.join(a, "pd/train/images/000000.png")).astype(float)
    assert img_pd.mean() < img_pe.mean()
    vis_pe = np.mean([x["vis_ratio"] for x in pe["annotations"]])
    vis_pd = np.mean([x["vis_ratio"] for x in pd["annotations"]])
    assert vis_pd < vis_pe


@pytest.mark.parametrize("name", ["synth_pd_train_kp", "synth_pe_train"])
def test_occluded_by_person_flag(pair, name):
    """A joint drawn over by another person lies in that person's visible mask; its owner must
    be flagged. Flagged persons lost pixels; the overlapping target has both kinds."""
    data = _load(pair[0], name)
    flags = []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        masks = [mask_util.decode(a["segmentation"]).astype(bool) for a in anns]
        for i, a in enumerate(anns):
            kp = np.asarray(a["keypoints"]).reshape(NUM_KEYPOINTS, 3).astype(int)
            hidden = kp[kp[:, 2] == 1]
            under_person = any(m[hidden[:, 1], hidden[:, 0]].any()
                               for j, m in enumerate(masks) if j != i)
            assert not under_person or a["occluded_by_person"]
            assert not a["occluded_by_person"] or a["area"] < a["full_area"]
            flags.append(a["occluded_by_person"])
    if name.startswith("synth_pd"):
        assert any(flags) and not all(flags)


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
    assert {"vis_bbox", "vis_ratio", "cp_class", "occluded_by_person"} <= set(b)
    assert b["cp_class"] == 1
    assert "keypoints" in kp[0]["annotations"][0] and kp[0]["domain"] == "pd"
    oracle = DatasetCatalog.get("synth_pd_train_kp")
    assert len(oracle) == 8 and oracle[0]["domain"] == "pd"
    assert all(len(c["keypoints"]) == 39 for d in oracle for c in d["annotations"])
    assert not any("keypoints" in c for d in DatasetCatalog.get("synth_pd_train")
                   for c in d["annotations"])
    # the measurement set keeps the flag the occlusion AP selects its persons by
    assert all(isinstance(c["fully_visible"], bool) for d in kp for c in d["annotations"])
    meta = MetadataCatalog.get("synth_pd_val")
    assert meta.evaluator_type == "synth_pd" and meta.domain == "pd"
    assert MetadataCatalog.get("synth_pd_val_kp").evaluator_type == "occpose_coco"
    assert len(MetadataCatalog.get("synth_pe_val").keypoint_names) == NUM_KEYPOINTS
    assert os.path.isfile(MetadataCatalog.get("synth_pe_val").json_file)


def test_wrong_keypoint_count_names_the_file_image_and_annotation(synthetic_root, tmp_path):
    from occpose_d2.data.datasets import load_synthetic_json

    data = _load(synthetic_root, "synth_pe_val")
    data["annotations"][0]["keypoints"] = data["annotations"][0]["keypoints"][:36]
    path = tmp_path / "synth_pe_val.json"
    path.write_text(json.dumps(data))
    image = next(im["file_name"] for im in data["images"]
                 if im["id"] == data["annotations"][0]["image_id"])
    root = os.path.join(synthetic_root, "pe", "val", "images")
    with pytest.raises(ValueError) as e:
        load_synthetic_json(str(path), root, "pe")
    assert str(e.value) == (f"{path}: image '{os.path.join(root, image)}' annotation #0 has 36 "
                            "keypoint numbers (expected 39: 13 joints x (x, y, v))")
