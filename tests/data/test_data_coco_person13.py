"""COCO person keypoints -> 13 joints on the real mmpose sample, and bad-input errors."""

import json
import os

import numpy as np
import pytest
from common import ASSETS
from detectron2.data import DatasetCatalog, MetadataCatalog

from occpose_d2.data.datasets import DatasetLayoutError, load_coco_person13_json
from occpose_d2.keypoints import KEYPOINT_FLIP_MAP, NUM_KEYPOINTS

COCO = os.path.join(ASSETS, "coco")
JSON = os.path.join(COCO, "test_coco.json")


def test_real_sample_converted_to_13_joints():
    dicts = load_coco_person13_json(JSON, COCO)
    with open(JSON) as f:
        raw = json.load(f)
    assert len(dicts) == 4 and sum(len(d["annotations"]) for d in dicts) == 14
    by_bbox = {tuple(a["bbox"]): a for a in raw["annotations"]}
    n_full = 0
    for d in dicts:
        assert d["domain"] == "pe" and os.path.dirname(d["file_name"]) == COCO
        for a in d["annotations"]:
            src = np.asarray(by_bbox[tuple(a["bbox"])]["keypoints"], float).reshape(17, 3)
            kp = np.asarray(a["keypoints"]).reshape(NUM_KEYPOINTS, 3)
            assert a["category_id"] == 0 and a["iscrowd"] == 0
            # body joints one to one (+0.5: D2's pixel-index -> continuous coordinates)
            assert np.allclose(kp[1:, 2], src[5:, 2])
            lab = src[5:, 2] > 0
            assert np.allclose(kp[1:][lab, :2], src[5:][lab, :2] + 0.5)
            face = src[:5][src[:5, 2] > 0]
            if len(face):
                assert np.allclose(kp[0, :2], face[:, :2].mean(0) + 0.5)
                assert kp[0, 2] == (2 if (face[:, 2] == 2).any() else 1)
            expect_full = bool((src[5:, 2] == 2).all() and (src[:5, 2] == 2).any())
            assert a["fully_visible"] == expect_full
            n_full += expect_full
    assert n_full == 4


def test_registered_metadata_and_missing_data():
    meta = MetadataCatalog.get("coco_2017_val_person13")
    assert meta.evaluator_type == "occpose_coco" and meta.domain == "pe"
    assert meta.thing_classes == ["person"] and tuple(meta.keypoint_flip_map) == KEYPOINT_FLIP_MAP
    assert meta.json_file.endswith("coco/annotations/person_keypoints_val2017.json")
    with pytest.raises(DatasetLayoutError, match=r"coco/annotations/person_keypoints_\{train"):
        DatasetCatalog.get("coco_2017_val_person13")


def test_corrupt_record_named(tmp_path):
    with open(JSON) as f:
        raw = json.load(f)
    raw["annotations"][1]["keypoints"] = raw["annotations"][1]["keypoints"][:-3]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"bad.json: image '.*000000040083.jpg' annotation #0.*"
                                         r"48 numbers"):
        load_coco_person13_json(str(bad), COCO)
