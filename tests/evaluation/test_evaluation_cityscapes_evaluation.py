"""Cityscapes person/rider instance AP (evaluation/cityscapes_evaluation.py) on a real frame."""

import contextlib
import io
import os

import numpy as np
import pytest
import torch
from common import ASSETS
from detectron2.data import MetadataCatalog
from detectron2.structures import Instances
from PIL import Image

from occpose_d2.evaluation import CityscapesPersonRiderEvaluator


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
    assert res["AP_person"] == pytest.approx(100.0) and res["AP50_person"] == pytest.approx(100.0)
    assert np.isnan(res["AP_rider"])  # the frame has no rider
    # D2's summary (print_csv_format) leaves out every key with a "-" (per-category metrics)
    assert list(res) == ["AP_person", "AP50_person", "AP_rider", "AP50_rider"]
