"""OCHuman and CrowdPose (data/datasets/occlusion_benchmarks.py) load as 13-joint datasets."""

import json
import os
import shutil

import numpy as np
import pytest
from common import ASSETS
from detectron2.data import DatasetCatalog, MetadataCatalog

from occpose_d2.data.datasets.occlusion_benchmarks import (
    OCCLUSION_BENCHMARKS,
    register_occlusion_benchmarks,
)
from occpose_d2.keypoints import coco17_to_13


@pytest.fixture
def benchmark_root(tmp_path):
    """Sample OCHuman val / CrowdPose test files in the expected layout (test splits absent)."""
    for name in ("ochuman_val", "crowdpose_test"):
        src = {"ochuman_val": "ochuman/test_ochuman.json",
               "crowdpose_test": "crowdpose/test_crowdpose.json"}[name]
        dst = tmp_path / OCCLUSION_BENCHMARKS[name][1]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(ASSETS, src), dst)
    for n in OCCLUSION_BENCHMARKS:  # builtin may have registered them under $DETECTRON2_DATASETS
        if n in DatasetCatalog.list():
            DatasetCatalog.remove(n)
            MetadataCatalog.remove(n)
    register_occlusion_benchmarks(str(tmp_path))
    yield tmp_path
    for n in OCCLUSION_BENCHMARKS:
        DatasetCatalog.remove(n)
        MetadataCatalog.remove(n)
    register_occlusion_benchmarks(os.environ.get("DETECTRON2_DATASETS", "datasets"))


def test_ochuman_and_crowdpose_load_as_13_joints(benchmark_root):
    och = DatasetCatalog.get("ochuman_val")
    assert len(och) == 3 and sum(len(d["annotations"]) for d in och) == 5
    ann = och[0]["annotations"][0]
    assert len(ann["keypoints"]) == 39 and isinstance(ann["fully_visible"], bool)
    meta = MetadataCatalog.get("ochuman_val")
    assert meta.evaluator_type == "occpose_coco" and meta.keypoint_names[0] == "head"
    assert not meta.crowd_index_subsets
    assert MetadataCatalog.get("crowdpose_test").crowd_index_subsets

    raw = json.load(open(os.path.join(ASSETS, "ochuman", "test_ochuman.json")))
    raw_ann = next(a for a in raw["annotations"] if a["image_id"] == och[0]["image_id"])
    expected = coco17_to_13(raw_ann["keypoints"])
    expected[:, :2] += 0.5  # D2's pixel-centre convention of dataset dicts
    np.testing.assert_allclose(np.reshape(ann["keypoints"], (13, 3)), expected)

    cp = DatasetCatalog.get("crowdpose_test")
    raw = json.load(open(os.path.join(ASSETS, "crowdpose", "test_crowdpose.json")))
    kp14 = np.reshape(next(a for a in raw["annotations"] if a["image_id"] == cp[0]["image_id"])
                      ["keypoints"], (14, 3))
    kp13 = np.reshape(cp[0]["annotations"][0]["keypoints"], (13, 3))
    assert kp13[0, :2].tolist() == (kp14[12, :2] + 0.5).tolist()  # head_top -> head


def test_missing_files_fail_only_on_get(benchmark_root):
    assert "ochuman_test" in DatasetCatalog.list()  # registered although its file is absent
    with pytest.raises(FileNotFoundError, match="ochuman/annotations"):
        DatasetCatalog.get("ochuman_test")
