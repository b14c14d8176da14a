"""CityPersons readers (real .mat / JSON samples), the join with Cityscapes instance masks
(hand-made PNG and the real downsampled frame), the converter CLI, and bad-input errors."""

import json
import os
import shutil

import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest
import scipy.io
from common import ASSETS
from detectron2.data import DatasetCatalog, MetadataCatalog

from occpose_d2.data.convert_citypersons import main as convert_main
from occpose_d2.data.datasets import (
    DatasetLayoutError,
    load_citypersons,
    match_instance_masks,
    read_citypersons_annotations,
)

FRAME = "frankfurt_000000_000294_leftImg8bit.png"


def _write_mat(path, records):
    """Write CityPersons-style .mat: 1 x N cells of (cityname, im_name, bbs) structs."""
    cells = np.empty((1, len(records)), dtype=object)
    for i, (city, name, bbs) in enumerate(records):
        rec = np.empty((1, 1), dtype=[("cityname", "O"), ("im_name", "O"), ("bbs", "O")])
        rec[0, 0] = (np.array([city]), np.array([name]), np.asarray(bbs, dtype=np.float64))
        cells[0, i] = rec
    scipy.io.savemat(path, {"anno_val_aligned": cells})


def _cityscapes_tree(root, ids_map, image_hw):
    d_img = os.path.join(root, "leftImg8bit", "val", "frankfurt")
    d_gt = os.path.join(root, "gtFine", "val", "frankfurt")
    os.makedirs(d_img)
    os.makedirs(d_gt)
    cv2.imwrite(os.path.join(d_img, FRAME), np.zeros((*image_hw, 3), np.uint8))
    cv2.imwrite(os.path.join(d_gt, FRAME.replace("leftImg8bit", "gtFine_instanceIds")),
                ids_map.astype(np.uint16))


def test_read_official_mat_and_json():
    recs = read_citypersons_annotations(os.path.join(ASSETS, "citypersons", "anno_val.mat"))
    rows = np.concatenate([r.boxes for r in recs])
    assert len(recs) == 500 and rows.shape == (5795, 10)
    assert np.bincount(rows[:, 0].astype(int)).tolist() == [1631, 3157, 509, 185, 87, 226]
    assert recs[0].city == "frankfurt" and recs[0].im_name == FRAME
    assert rows[0].tolist() == [1, 947, 406, 17, 40, 24000, 950, 407, 14, 39]
    js = read_citypersons_annotations(os.path.join(ASSETS, "citypersons", "val_gt_first3.json"))
    assert [r.im_name for r in js] == [r.im_name for r in recs[:3]]
    for r_js, r_mat in zip(js, recs[:3]):
        assert np.array_equal(r_js.boxes[:, [1, 2, 3, 4, 6, 7, 8, 9]],
                              r_mat.boxes[:, [1, 2, 3, 4, 6, 7, 8, 9]])
        # the official JSON has no class per box: pedestrians stay 1, the rest become ignore
        assert np.array_equal(r_js.boxes[:, 0] == 1, r_mat.boxes[:, 0] == 1)


def test_join_on_hand_made_instance_png(tmp_path):
    ids = np.zeros((60, 100), np.int64)
    ids[10:50, 10:20] = 24000  # pedestrian with its instance id in the annotation
    ids[12:52, 40:52] = 24001  # pedestrian annotated without id: matched by overlap
    ids[5:25, 70:95] = 26000  # a car: never matched
    ids[30:40, 60:62] = 24002  # a person instance no box overlaps
    rows = np.array([
        [1, 9, 8, 12, 44, 24000, 10, 10, 10, 40],
        [1, 39, 10, 14, 44, 0, 40, 12, 12, 40],
        [2, 70, 5, 25, 20, 0, 70, 5, 25, 20],  # rider box on the car: IoU with persons < 0.5
        [0, 80, 40, 10, 10, 0, 80, 40, 10, 10],  # ignore region: no mask
    ], dtype=np.float64)
    masks, how = match_instance_masks(ids, rows)
    assert how == ["id", "overlap", "none", "skip"]
    assert np.array_equal(masks[0], ids == 24000) and np.array_equal(masks[1], ids == 24001)
    assert masks[2] is None and masks[3] is None

    root = str(tmp_path / "cityscapes")
    _cityscapes_tree(root, ids, ids.shape)
    mat = str(tmp_path / "anno_val.mat")
    _write_mat(mat, [("frankfurt", FRAME, rows)])
    (d,) = load_citypersons(mat, root, "val")
    assert (d["height"], d["width"], d["domain"], d["image_id"]) == (60, 100, "pd", 1)
    anns = d["annotations"]
    assert [a["iscrowd"] for a in anns] == [0, 0, 1, 1]
    assert [a["cp_class"] for a in anns] == [1, 1, 2, 0]
    assert anns[0]["vis_ratio"] == pytest.approx(400 / (12 * 44))
    assert mask_util.decode(anns[1]["segmentation"]).sum() == (ids == 24001).sum()
    assert anns[2]["segmentation"] == [[70, 5, 95, 5, 95, 25, 70, 25]]  # visible-box rectangle
    assert "segmentation" not in anns[3]


def test_join_real_frame_and_converter_roundtrip(tmp_path):
    """The first CityPersons val image on the real (8x downsampled) Cityscapes instance map."""
    root = str(tmp_path / "cityscapes")
    shutil.copytree(os.path.join(ASSETS, "cityscapes"), root)
    rec = read_citypersons_annotations(os.path.join(ASSETS, "citypersons", "anno_val.mat"))[0]
    rows = rec.boxes.copy()
    rows[:, [1, 2, 3, 4, 6, 7, 8, 9]] /= 8.0
    mat = str(tmp_path / "anno_val.mat")
    _write_mat(mat, [(rec.city, rec.im_name, rows)])
    (d,) = load_citypersons(mat, root, "val")
    ids = cv2.imread(os.path.join(root, "gtFine/val/frankfurt",
                                  FRAME.replace("leftImg8bit", "gtFine_instanceIds")), -1)
    peds = [a for a in d["annotations"] if a["cp_class"] == 1]
    assert (d["height"], d["width"]) == (128, 256) and len(peds) == 4
    for a in peds:
        m = mask_util.decode(a["segmentation"]).astype(bool)
        assert np.array_equal(m, ids == a["instance_id"])

    out = str(tmp_path / "citypersons_val.json")
    convert_main(["--citypersons", mat, "--cityscapes", root, "--split", "val", "--out", out])
    with open(out) as f:
        coco = json.load(f)
    assert coco["images"][0]["file_name"] == f"frankfurt/{FRAME}"
    assert len(coco["annotations"]) == len(d["annotations"])
    assert all("segmentation" in a and a["category_id"] == 1 for a in coco["annotations"])
    assert sum(a["ignore"] == 0 for a in coco["annotations"]) == 4
    # the converter's JSON loads back (no PNG decoding) to the same annotations
    (d2,) = load_citypersons(out, root, "val")
    for a, b in zip(d["annotations"], d2["annotations"]):
        assert a["bbox"] == b["bbox"] and a["cp_class"] == b["cp_class"]
        if a["cp_class"] == 1:
            assert a["segmentation"] == b["segmentation"]


def test_missing_and_corrupt_data(tmp_path):
    mat = os.path.join(ASSETS, "citypersons", "anno_val.mat")
    with pytest.raises(DatasetLayoutError, match="frankfurt_000000_000294_leftImg8bit.png"):
        load_citypersons(mat, str(tmp_path / "nowhere"), "val")
    with pytest.raises(DatasetLayoutError, match="citypersons/annotations/anno_val.mat"):
        DatasetCatalog.get("citypersons_val")
    assert MetadataCatalog.get("citypersons_val").evaluator_type == "citypersons"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "im_name": FRAME}],
                               "annotations": [{"image_id": 1, "vis_bbox": [0, 0, 1, 1]}]}))
    with pytest.raises(ValueError, match="bad.json: annotation #0 lacks"):
        read_citypersons_annotations(str(bad))
    bad_mat = str(tmp_path / "bad.mat")
    _write_mat(bad_mat, [("frankfurt", FRAME, [[7, 0, 0, 1, 1, 0, 0, 0, 1, 1]])])
    with pytest.raises(ValueError, match="unknown class label"):
        read_citypersons_annotations(bad_mat)


def test_boxes_outside_the_image_are_an_error_and_slightly_outside_ones_are_clipped(
        tmp_path, caplog):
    """CityPersons rows at 2048 x 1024 on the 8x downsampled frame: most boxes miss the image."""
    root = str(tmp_path / "cityscapes")
    shutil.copytree(os.path.join(ASSETS, "cityscapes"), root)
    rec = read_citypersons_annotations(os.path.join(ASSETS, "citypersons", "anno_val.mat"))[0]
    mat = str(tmp_path / "anno_val.mat")
    _write_mat(mat, [(rec.city, rec.im_name, rec.boxes)])
    with pytest.raises(ValueError, match=rf"anno_val.mat: image '.*{FRAME}': \d+ of "
                                         rf"{len(rec.boxes)} boxes lie mostly outside its 256x128"):
        load_citypersons(mat, root, "val")

    rows = np.array([[1, 250, 20, 10, 40, 0, 250, 20, 10, 40],    # 6 of 10 px inside: clipped
                     [1, 20, 20, 10, 40, 0, 20, 20, 10, 40],
                     [0, 500, 20, 0, 40, 0, 500, 20, 0, 40]], np.float64)  # no area: dropped
    _write_mat(mat, [(rec.city, rec.im_name, rows)])
    with caplog.at_level("INFO", logger="occpose_d2"):
        (d,) = load_citypersons(mat, root, "val", name="cp_small")
    assert [a["bbox"] for a in d["annotations"]] == [[250, 20, 6, 40], [20, 20, 10, 40]]
    assert d["annotations"][0]["vis_bbox"] == [250, 20, 6, 40]
    assert ("cp_small: 1 zero-area box(es) dropped, 1 box(es) partly outside their image "
            "clipped to it") in caplog.text


_IMAGES = [{"id": 1, "im_name": FRAME}]


@pytest.mark.parametrize("content, message", [
    ({"annotations": []}, "not a CityPersons COCO-style file (no 'images' list)"),
    ({"images": [{"im_name": FRAME}], "annotations": []}, "image #0 lacks 'id'"),
    ({"images": _IMAGES, "annotations": [{"bbox": [0, 0, 1, 2]}]},
     "annotation #0 lacks ['image_id']"),
    ({"images": _IMAGES, "annotations": [{"image_id": 1}]}, "annotation #0 lacks ['bbox']"),
    ({"images": _IMAGES, "annotations": [{"image_id": 1, "bbox": [0, 0, 1]}]},
     "annotation #0: 'bbox' must be four finite numbers [x, y, w, h], got [0, 0, 1]"),
    ({"images": _IMAGES, "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1],
                                          "vis_bbox": "0 0 1 1"}]},
     "annotation #0: 'vis_bbox' must be four finite numbers [x, y, w, h], got '0 0 1 1'"),
    ("[1, 2", "not valid JSON (Expecting ',' delimiter: line 1 column 6 (char 5))"),
])
def test_json_reader_names_the_file_and_record(tmp_path, content, message):
    path = tmp_path / "cp.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError) as e:
        read_citypersons_annotations(str(path))
    assert str(e.value) == f"{path}: {message}"
