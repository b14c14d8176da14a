"""13-joint COCO AP: conversion, perfect predictions, one joint moved, CrowdPose."""

import contextlib
import io
import json
import math
import os

import numpy as np
import pytest
import torch
from common import ASSETS
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json
from detectron2.structures import Boxes, BoxMode, Instances
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from occpose_d2.evaluation import COCO13Evaluator
from occpose_d2.evaluation.coco_gt import crowd_index, keypoint_json_to_13
from occpose_d2.keypoints import (
    KEYPOINT_OKS_SIGMAS,
    coco17_to_13,
    crowdpose14_to_13,
    keypoint_metadata,
)

COCO_JSON = os.path.join(ASSETS, "coco", "test_coco.json")
COCO_DETS = os.path.join(ASSETS, "coco", "test_coco_det_AP_H_56.json")
CROWDPOSE_JSON = os.path.join(ASSETS, "crowdpose", "test_crowdpose.json")
CROWDPOSE_DETS = os.path.join(ASSETS, "crowdpose", "test_crowdpose_det_AP_40.json")


def _register(name, loader, **meta):
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, loader)
        MetadataCatalog.get(name).set(thing_classes=["person"], **keypoint_metadata(), **meta)
    return DatasetCatalog.get(name)


def _load_13(json_file, name, to13):
    def load():
        dicts = load_coco_json(json_file, ASSETS, name)
        for d in dicts:
            for a in d["annotations"]:
                a["keypoints"] = to13(a["keypoints"]).reshape(-1).tolist()
        return dicts
    return load


def _instances(h, w, boxes_xyxy, scores, keypoints=None):
    inst = Instances((h, w))
    inst.pred_boxes = Boxes(torch.tensor(boxes_xyxy, dtype=torch.float32).reshape(-1, 4))
    inst.scores = torch.tensor(scores, dtype=torch.float32)
    inst.pred_classes = torch.zeros(len(scores), dtype=torch.int64)
    if keypoints is not None:
        kps = np.asarray(keypoints, dtype=np.float32).reshape(-1, 13, 3)
        inst.pred_keypoints = torch.from_numpy(kps)
    return inst


def _run(ev, dicts, make):
    ev.reset()
    for d in dicts:
        ev.process([{"image_id": d["image_id"]}], [{"instances": make(d)}])
    with contextlib.redirect_stdout(io.StringIO()):
        return ev.evaluate()


@pytest.fixture(scope="module")
def coco_dicts():
    return _register("eval_test_coco13", _load_13(COCO_JSON, "eval_test_coco13", coco17_to_13),
                     json_file=COCO_JSON)


def _gt_as_predictions(d):
    anns = [a for a in d["annotations"] if np.asarray(a["keypoints"])[2::3].any()]
    boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns]
    return _instances(d["height"], d["width"], boxes, [1.0] * len(anns),
                      [a["keypoints"] for a in anns])


def test_17_joint_json_converted_and_cached(coco_dicts, tmp_path):
    ev = COCO13Evaluator("eval_test_coco13", output_dir=str(tmp_path), distributed=False)
    cached = tmp_path / "eval_test_coco13_coco13_format.json"
    assert cached.is_file()
    data = json.loads(cached.read_text())
    assert all(len(a["keypoints"]) == 39 for a in data["annotations"])
    assert data["categories"][0]["keypoints"][0] == "head"
    assert ev._kpt_oks_sigmas == KEYPOINT_OKS_SIGMAS
    res = _run(ev, coco_dicts, _gt_as_predictions)
    assert res["keypoints"]["AP"] == pytest.approx(100.0)
    # 12 of the 14 boxes (those with labeled joints) at precision 1: recall points 0..0.85 of 101.
    assert res["bbox"]["AP"] == pytest.approx(100 * 86 / 101)


def test_prediction_keypoints_not_modified(coco_dicts, tmp_path):
    ev = COCO13Evaluator("eval_test_coco13", output_dir=str(tmp_path), distributed=False)
    d = coco_dicts[0]
    inst = _gt_as_predictions(d)
    before = inst.pred_keypoints.clone()
    ev.reset()
    ev.process([{"image_id": d["image_id"]}], [{"instances": inst}])
    assert torch.equal(inst.pred_keypoints, before)  # D2 alone would subtract 0.5 in place


def test_bbox_ap_of_sample_detections_matches_pycocotools(coco_dicts, tmp_path):
    dets = json.load(open(COCO_DETS))
    ev = COCO13Evaluator("eval_test_coco13", tasks=("bbox",), output_dir=str(tmp_path),
                         distributed=False)

    def make(d):
        mine = [x for x in dets if x["image_id"] == d["image_id"]]
        boxes = [BoxMode.convert(x["bbox"], BoxMode.XYWH_ABS, BoxMode.XYXY_ABS) for x in mine]
        return _instances(d["height"], d["width"], boxes, [x["score"] for x in mine])

    res = _run(ev, coco_dicts, make)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(COCO_JSON)
        ref = COCOeval(gt, gt.loadRes(COCO_DETS), "bbox")
        ref.evaluate()
        ref.accumulate()
        ref.summarize()
    assert res["bbox"]["AP"] == pytest.approx(ref.stats[0] * 100, abs=1e-4)
    assert 70 < res["bbox"]["AP"] < 90  # 78.9 on these 4 images


def _one_person():
    kps = np.zeros((13, 3))
    kps[:, 0] = np.linspace(20, 80, 13)
    kps[:, 1] = np.linspace(10, 190, 13)
    kps[:, 2] = 2
    return [{"file_name": "x.png", "image_id": 1, "height": 240, "width": 120, "annotations": [
        {"bbox": [10.0, 5.0, 100.0, 200.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0,
         "iscrowd": 0, "keypoints": kps.reshape(-1).tolist(), "fully_visible": True}]}]


@pytest.mark.parametrize("joint,dist", [(0, 18.0), (0, 30.0), (11, 40.0), (5, 0.0)])
def test_one_joint_moved_by_known_distance(tmp_path, joint, dist):
    dicts = _register("eval_test_one_person", _one_person)
    ann = dicts[0]["annotations"][0]
    kps = np.asarray(ann["keypoints"]).reshape(13, 3).copy()
    kps[joint, 0] += dist
    # OKS = mean_j exp(-d_j^2 / (2 s^2 (2 sigma_j)^2)), s^2 = area = 100 * 200 (no mask).
    k = 2 * KEYPOINT_OKS_SIGMAS[joint]
    oks = (12 + math.exp(-dist**2 / (2 * 20000.0 * k**2))) / 13
    thresholds = np.linspace(0.5, 0.95, 10)
    expected = 100 * float(np.mean(oks >= thresholds))
    ev = COCO13Evaluator("eval_test_one_person", output_dir=str(tmp_path), distributed=False)
    res = _run(ev, dicts, lambda d: _instances(240, 120, [[10, 5, 110, 205]], [1.0], [kps]))
    assert res["keypoints"]["AP"] == pytest.approx(expected)
    assert res["keypoints"]["AP50"] == pytest.approx(100.0)
    if (joint, dist) == (0, 18.0):  # OKS 0.930: every threshold but 0.95
        assert oks == pytest.approx(0.9302, abs=1e-4) and expected == pytest.approx(90.0)
    if (joint, dist) == (0, 30.0):  # OKS 0.924 (the moved head counts ~0)
        assert expected == pytest.approx(90.0)
    if (joint, dist) == (5, 0.0):
        assert expected == 100.0


def test_crowdpose_head_top_becomes_head_and_crowd_subsets(tmp_path):
    raw = json.load(open(CROWDPOSE_JSON))
    kp14 = np.asarray(raw["annotations"][0]["keypoints"]).reshape(14, 3)
    kp13 = crowdpose14_to_13(kp14.reshape(-1))
    np.testing.assert_array_equal(kp13[0], kp14[12])  # head_top -> head
    np.testing.assert_array_equal(kp13[1:], kp14[:12])  # limbs unchanged, neck dropped
    conv = keypoint_json_to_13(raw)
    assert [im["crowdIndex"] for im in conv["images"]] == [0.33, 0.39]

    name = "eval_test_crowdpose13"
    dicts = _register(name, _load_13(CROWDPOSE_JSON, name, crowdpose14_to_13),
                      json_file=CROWDPOSE_JSON, crowd_index_subsets=True)
    ev = COCO13Evaluator(name, output_dir=str(tmp_path), distributed=False)
    res = _run(ev, dicts, _gt_as_predictions)["keypoints"]
    assert res["AP"] == pytest.approx(100.0)
    assert res["AP_medium"] == pytest.approx(100.0)  # both images have crowd index in [.2, .8)
    assert math.isnan(res["AP_easy"]) and math.isnan(res["AP_hard"])


def test_crowd_index_definition():
    # A (2 joints) has 2 of B's joints in its box: 2/2; B (4 joints) has none of A's: 0/4.
    a = {"bbox": [0, 0, 10, 10], "keypoints": [1, 1, 2, 2, 2, 2, 0, 0, 0]}
    b = {"bbox": [5, 0, 20, 10], "keypoints": [6, 5, 2, 8, 5, 2, 30, 5, 2, 7, 20, 1]}
    a["keypoints"] += [0, 0, 0]
    assert crowd_index([a, b]) == pytest.approx(0.5)
    assert crowd_index([]) == 0.0
