"""CityPersons MR^-2: hand-built cases, official reference numbers, command, evaluator."""

import json
import math
import os

import numpy as np
import pytest
import scipy.io as sio
import torch
from common import ASSETS
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances

from occpose_d2.evaluation import (
    CityPersonsEvaluator,
    MRDetections,
    MRGroundTruth,
    build_occpose_evaluators,
    evaluate_miss_rate,
)
from occpose_d2.evaluation.citypersons import main
from occpose_d2.evaluation.citypersons_evaluation import load_citypersons_gt, load_detections_json

MAT = os.path.join(ASSETS, "citypersons", "anno_val.mat")
B1 = os.path.join(ASSETS, "citypersons", "b1_drop30pct.json")
SHARED_JSON = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data",
                           "citypersons", "evaluation", "val_gt.json")
# Printed by the official CityPersons code for b1 (how b1 was made: tests/assets/README.md).
B1_OFFICIAL = {"R": 27.87, "R_small": 31.05, "HO": 25.17, "All": 29.08, "R+HO": 28.63}
B1_NUM_GT = {"R": 1579, "R_small": 351, "HO": 735, "All": 2875, "R+HO": 2312}


def _gt(num_images, anns):
    """anns: list of (image_id, [x, y, w, h], vis_ratio, ignore)."""
    return MRGroundTruth(
        image_ids=np.arange(1, num_images + 1),
        ann_image_ids=np.array([a[0] for a in anns]),
        boxes=np.array([a[1] for a in anns], dtype=float).reshape(-1, 4),
        vis_ratio=np.array([a[2] for a in anns], dtype=float),
        ignore=np.array([a[3] for a in anns], dtype=bool),
    )


def _dt(dets):
    """dets: list of (image_id, [x, y, w, h], score)."""
    return MRDetections(
        image_ids=np.array([d[0] for d in dets]),
        boxes=np.array([d[1] for d in dets], dtype=float).reshape(-1, 4),
        scores=np.array([d[2] for d in dets], dtype=float),
    )


def _ped(img, x, h=100, vis=1.0, ignore=False):
    return (img, [x, 100, h * 0.4, h], vis, ignore)


def _mr_from_recalls(recalls):
    with np.errstate(divide="ignore"):
        return 100 * math.exp(np.mean(np.log(1 - np.asarray(recalls, dtype=float))))


def test_perfect_detections_give_zero():
    anns = [_ped(i, 10 * i) for i in range(1, 11)]
    res = evaluate_miss_rate(_gt(10, anns), _dt([(a[0], a[1], 1.0) for a in anns]))
    assert res["R"]["MR"] == 0.0 and res["R+HO"]["MR"] == 0.0
    assert res["R"]["num_gt"] == 10
    assert math.isnan(res["HO"]["MR"])  # no heavily occluded pedestrian at all


def test_single_missed_pedestrian():
    anns = [_ped(i, 10 * i) for i in range(1, 11)]
    res = evaluate_miss_rate(_gt(10, anns), _dt([(a[0], a[1], 1.0) for a in anns[1:]]))
    assert res["R"]["MR"] == pytest.approx(10.0)  # recall 0.9 at every FPPI point


def test_false_positives_at_known_fppi():
    # 100 images, 11 pedestrians (one never detected); scores: 5 TP, then 5 FP, then 5 TP.
    anns = [_ped(i, 300) for i in range(1, 12)]
    dets = [(i, anns[i - 1][1], 0.9) for i in range(1, 6)]
    dets += [(i, [1000, 100, 40, 100], 0.8) for i in range(20, 25)]  # FPPI 0.01 .. 0.05
    dets += [(i, anns[i - 1][1], 0.7) for i in range(6, 11)]
    res = evaluate_miss_rate(_gt(100, anns), _dt(dets))
    # FPPI points 0.01, 0.0178, 0.0316 see 5 TPs; 0.0562 and above see all 10.
    expected = _mr_from_recalls([5 / 11] * 3 + [10 / 11] * 6)
    assert res["R"]["MR"] == pytest.approx(expected)
    assert res["R"]["MR"] == pytest.approx(100 * math.exp((3 * math.log(6 / 11)
                                                           + 6 * math.log(1 / 11)) / 9))


def test_detection_on_ignore_region_is_not_counted():
    # one image, 3 pedestrians, one ignore region (e.g. cp_class 0) at x=1000.
    anns = [_ped(1, 0), _ped(1, 100), _ped(1, 200), (1, [1000, 0, 200, 300], 1.0, True)]
    on_region = [(1, [1050, 50, 40, 100], 0.8), (1, [1100, 60, 40, 100], 0.75)]  # IoA 1, IoU < .5
    tps = [(1, anns[0][1], 0.9), (1, anns[1][1], 0.7)]
    res = evaluate_miss_rate(_gt(1, anns), _dt(tps + on_region))
    assert res["R"]["MR"] == pytest.approx(100 / 3)  # recall 2/3, no FP
    # The same detections away from the region are false positives (FPPI 2 after the first TP).
    away = [(1, [1500, 50, 40, 100], 0.8), (1, [1600, 60, 40, 100], 0.75)]
    res = evaluate_miss_rate(_gt(1, anns), _dt(tps + away))
    assert res["R"]["MR"] == pytest.approx(_mr_from_recalls([1 / 3] * 9))


def test_height_and_visibility_ranges():
    # 40 px pedestrian: ignored in R (h < 50) but counted in All (h >= 20).
    anns = [_ped(1, 0, h=100), _ped(1, 300, h=40), _ped(1, 600, h=100, vis=0.65),
            _ped(1, 900, h=100, vis=0.4)]
    dets = [(1, anns[0][1], 0.9), (1, anns[2][1], 0.8), (1, anns[3][1], 0.7)]
    res = evaluate_miss_rate(_gt(1, anns), _dt(dets))
    assert res["R"]["num_gt"] == 2 and res["R"]["MR"] == 0.0  # vis 0.65 is inside R (closed)
    assert res["HO"]["num_gt"] == 2 and res["HO"]["MR"] == 0.0  # and inside HO [0.2, 0.65]
    assert res["All"]["num_gt"] == 4 and res["All"]["MR"] == pytest.approx(25.0)
    # A detection of the 40 px pedestrian is ignored in R (it matches an ignored box) ...
    res2 = evaluate_miss_rate(_gt(1, anns), _dt(dets + [(1, anns[1][1], 0.95)]))
    assert res2["R"]["MR"] == 0.0 and res2["All"]["MR"] == 0.0
    # ... and a 39 px detection is dropped before matching in R (h < 50 / 1.25), not an FP.
    # In All (h >= 20) it is kept and is a false positive between the first and second TP.
    small = (1, [1500, 100, 16, 39], 0.85)
    res3 = evaluate_miss_rate(_gt(1, anns), _dt(dets + [small]))
    assert res3["R"]["MR"] == 0.0
    assert res3["All"]["MR"] == pytest.approx(_mr_from_recalls([0.25] * 8 + [0.75]))


@pytest.fixture(scope="module")
def val_gt():
    return load_citypersons_gt(MAT)


def test_reference_numbers_reproduced(val_gt):
    res = evaluate_miss_rate(val_gt, load_detections_json(B1))
    for key, official in B1_OFFICIAL.items():
        assert round(res[key]["MR"], 2) == official, key
        assert res[key]["num_gt"] == B1_NUM_GT[key]


def test_reference_perfect_sets(val_gt):
    ped = ~val_gt.ignore
    a = MRDetections(val_gt.ann_image_ids[ped], val_gt.boxes[ped], np.ones(ped.sum()))
    a2 = MRDetections(val_gt.ann_image_ids, val_gt.boxes, np.ones(len(val_gt.boxes)))
    for dets in (a, a2):
        assert all(r["MR"] == 0.0 for r in evaluate_miss_rate(val_gt, dets).values())


def _assert_first_rows_agree(js, mat):
    """The JSON ground truth equals the first ``len(js.boxes)`` rows read from the .mat."""
    n = len(js.boxes)
    np.testing.assert_array_equal(js.ann_image_ids, mat.ann_image_ids[:n])
    np.testing.assert_array_equal(js.boxes, mat.boxes[:n])
    np.testing.assert_array_equal(js.ignore, mat.ignore[:n])
    np.testing.assert_allclose(js.vis_ratio, mat.vis_ratio[:n], rtol=0, atol=1e-11)


def test_json_subset_and_mat_ground_truth_agree(val_gt):
    js = load_citypersons_gt(os.path.join(ASSETS, "citypersons", "val_gt_first3.json"))
    assert len(js.boxes) == 24 and js.image_ids.tolist() == [1, 2, 3]
    _assert_first_rows_agree(js, val_gt)


@pytest.mark.skipif(not os.path.isfile(SHARED_JSON), reason="val_gt.json not available")
def test_json_and_mat_ground_truth_agree(val_gt):
    js = load_citypersons_gt(SHARED_JSON)
    assert len(js.boxes) == len(val_gt.boxes)
    _assert_first_rows_agree(js, val_gt)


def test_command_json_output(capsys):
    assert main(["--gt", MAT, "--dt", B1, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"R", "HO", "R+HO"} <= set(out)
    assert round(out["HO"], 2) == 25.17
    assert main(["--gt", MAT, "--dt", B1]) == 0
    text = capsys.readouterr().out
    assert "Reasonable_occ=heavy" in text and "27.87" in text


def test_command_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 1, "bbox": [0, 0, 1]}]))
    assert main(["--gt", MAT, "--dt", str(bad)]) == 2
    assert "record 0" in capsys.readouterr().err
    assert main(["--gt", str(tmp_path / "missing.mat"), "--dt", B1]) == 2


def _citypersons_dicts():
    cells = sio.loadmat(MAT)["anno_val_aligned"]
    dicts = []
    for i in range(cells.shape[1]):
        anns = []
        for r in cells[0, i][0, 0]["bbs"].astype(float):
            anns.append({"bbox": r[1:5].tolist(), "bbox_mode": BoxMode.XYWH_ABS,
                         "category_id": 0, "iscrowd": int(r[0] != 1), "cp_class": int(r[0]),
                         "vis_ratio": r[8] * r[9] / (r[3] * r[4])})
        dicts.append({"file_name": f"{i}.png", "image_id": i + 1, "height": 1024, "width": 2048,
                      "annotations": anns})
    return dicts


def test_evaluator_on_dataset_dicts_matches_command(tmp_path):
    name = "eval_test_citypersons_val_mr"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, _citypersons_dicts)
        MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="synth_pd")
    from detectron2.config import get_cfg

    from occpose_d2 import add_occpose_config

    cfg = get_cfg()
    add_occpose_config(cfg)
    (ev,) = build_occpose_evaluators(cfg, name, str(tmp_path))
    assert isinstance(ev, CityPersonsEvaluator)
    ev.reset()
    dets = json.load(open(B1))
    for i in range(1, 501):
        mine = [d for d in dets if d["image_id"] == i]
        inst = Instances((1024, 2048))
        xyxy = [BoxMode.convert(d["bbox"], BoxMode.XYWH_ABS, BoxMode.XYXY_ABS) for d in mine]
        inst.pred_boxes = Boxes(torch.tensor(xyxy, dtype=torch.float64).reshape(-1, 4))
        inst.scores = torch.tensor([d["score"] for d in mine])
        ev.process([{"image_id": i}], [{"instances": inst}])
    res = ev.evaluate()["MR"]
    assert {k: round(v, 2) for k, v in res.items()} == B1_OFFICIAL
    assert os.path.isfile(tmp_path / "citypersons_results.json")


_GT_OK_IMAGES = [{"id": 1, "im_name": "a.png"}]
_DT = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 20], "score": 0.5}


@pytest.mark.parametrize("which, content, message", [
    ("gt", {"annotations": []}, "gt.json: not a CityPersons COCO-style file (no 'images' list)"),
    ("gt", {"images": [{"im_name": "a.png"}], "annotations": []}, "gt.json: image #0 lacks 'id'"),
    ("gt", {"images": _GT_OK_IMAGES, "annotations": [{"id": 5, "bbox": [0, 0, 1, 2],
                                                      "vis_ratio": 1}]},
     "gt.json: annotation #0 lacks ['image_id']"),
    ("gt", {"images": _GT_OK_IMAGES, "annotations": [{"id": 5, "image_id": 1, "bbox": [0, 0, 1],
                                                      "vis_ratio": 1}]},
     "gt.json: annotation #0: 'bbox' must be four finite numbers [x, y, w, h], got [0, 0, 1]"),
    ("gt", "{not json", "gt.json: not valid JSON (Expecting property name enclosed in double "
                        "quotes: line 1 column 2 (char 1))"),
    ("dt", [dict(_DT, score=float("nan"))], "dt.json: record 0: 'score' must be a finite number, "
                                             "got nan"),
    ("dt", [dict(_DT, score=float("inf"))], "dt.json: record 0: 'score' must be a finite number, "
                                             "got inf"),
    ("dt", [dict(_DT, score="high")], "dt.json: record 0: 'score' must be a finite number, "
                                       "got 'high'"),
    ("dt", [dict(_DT, bbox=[0, float("nan"), 10, 20])],
     "dt.json: record 0: 'bbox' must be four finite numbers [x, y, w, h], got [0, nan, 10, 20]"),
    ("dt", [dict(_DT, bbox=[0, 0, -10, 20])],
     "dt.json: record 0: 'bbox' [0, 0, -10, 20] has a negative width or height"),
    ("dt", [dict(_DT, bbox=["0", "0", "10", "20"])],
     "dt.json: record 0: 'bbox' must be four finite numbers [x, y, w, h], got "
     "['0', '0', '10', '20']"),
    ("dt", [{"image_id": 1, "bbox": [0, 0, 1, 1]}],
     "dt.json: record 0 lacks ['score']: {'image_id': 1, 'bbox': [0, 0, 1, 1]}"),
    ("dt", "[{]", "dt.json: not valid JSON (Expecting property name enclosed in double quotes: "
                  "line 1 column 3 (char 2))"),
])
def test_command_names_the_file_and_record_of_bad_input(tmp_path, capsys, which, content,
                                                        message):
    path = tmp_path / f"{which}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    gt, dt = (str(path), B1) if which == "gt" else (MAT, str(path))
    assert main(["--gt", gt, "--dt", dt]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path}/{message}"
