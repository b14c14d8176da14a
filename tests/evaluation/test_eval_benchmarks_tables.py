"""OCHuman / CrowdPose loaders, Cityscapes person AP on a real frame, Markdown result tables."""

import contextlib
import io
import json
import os
import shutil

import numpy as np
import pytest
import torch
from common import ASSETS
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Instances
from PIL import Image

from occpose_d2.data.datasets.occlusion_benchmarks import (
    OCCLUSION_BENCHMARKS,
    register_occlusion_benchmarks,
)
from occpose_d2.evaluation import CityscapesPersonRiderEvaluator, write_markdown_tables
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


def test_cityscapes_person_ap_of_perfect_masks(tmp_path):
    png = os.path.join(ASSETS, "cityscapes", "gtFine", "val", "frankfurt",
                       "frankfurt_000000_000294_gtFine_instanceIds.png")
    gt = np.array(Image.open(png))
    # The sample is 8x downsampled; upsample so persons exceed the official 100 px minimum.
    gt = np.kron(gt, np.ones((8, 8), dtype=gt.dtype))
    city = tmp_path / "gtFine" / "val" / "frankfurt"
    city.mkdir(parents=True)
    Image.fromarray(gt).save(city / "frankfurt_000000_000294_gtFine_instanceIds.png")
    name = "eval_test_cityscapes_frame"
    if name in MetadataCatalog.list():
        MetadataCatalog.remove(name)
    MetadataCatalog.get(name).set(thing_classes=["person"],
                                  gt_dir=str(tmp_path / "gtFine" / "val"))
    ids = [i for i in np.unique(gt) if 24000 <= i < 25000]
    assert len(ids) == 4
    inst = Instances(gt.shape)
    inst.pred_masks = torch.from_numpy(np.stack([gt == i for i in ids]))
    inst.scores = torch.linspace(1.0, 0.7, len(ids))
    inst.pred_classes = torch.zeros(len(ids), dtype=torch.int64)
    ev = CityscapesPersonRiderEvaluator(name)
    ev.reset()
    ev.process([{"file_name": "x/frankfurt_000000_000294_leftImg8bit.png"}], [{"instances": inst}])
    cwd = os.getcwd()
    with contextlib.redirect_stdout(io.StringIO()):
        res = ev.evaluate()["cityscapes_instance"]
    assert os.getcwd() == cwd and not os.path.exists(os.path.join(cwd, "matches.json"))
    assert res["AP-person"] == pytest.approx(100.0) and res["AP50-person"] == pytest.approx(100.0)
    assert np.isnan(res["AP-rider"])  # the frame has no rider


def test_markdown_tables(tmp_path):
    results = {
        "coco_val": {"keypoints": {"AP": 61.234, "AP50": 80.0, "AP75": 66.0, "APm": 55.0,
                                   "APl": 70.0}},
        "citypersons_val": {"MR": {"R": 12.345, "HO": 45.6, "R+HO": 20.0, "R_small": 1.0,
                                   "All": 2.0},
                            "cityscapes_instance": {"AP-person": 30.0, "AP50-person": 50.0,
                                                    "AP-rider": float("nan"),
                                                    "AP50-rider": float("nan")}},
        "coco_val_occ": {"occlusion_ap": {"AP@20%": 50.0, "AP@30%": 45.0}},
    }
    path = write_markdown_tables(results, str(tmp_path))
    text = open(path).read()
    assert path.endswith("results_tables.md")
    assert "| AP | AP50 | AP75 | APM | APL |" in text and "| 61.23 | 80.00 |" in text
    assert "| R | HO | R+HO | R small | All |" in text and "| 12.35 | 45.60 | 20.00 |" in text
    assert "| Person | Rider |" in text and "| 30.00 | - |" in text
    assert "| AP@20% | AP@30% |" in text
    # a single dataset's results (no dataset level) work too
    single = open(write_markdown_tables(results["coco_val"], str(tmp_path))).read()
    assert "Table 1" in single and "coco_val" not in single
