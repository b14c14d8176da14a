"""Occlusion AP (Table 2) with a fake model implementing OccPoseRCNN's inference signature."""

import contextlib
import io
import os

import numpy as np
import pytest
import torch
from common import ASSETS
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json
from detectron2.structures import Boxes, BoxMode, Instances
from torch import nn

from occpose_d2 import add_occpose_config
from occpose_d2.evaluation import COCO13Evaluator, OcclusionEvaluator, build_occpose_evaluators
from occpose_d2.keypoints import convert_coco_annotation, keypoint_metadata

COCO_JSON = os.path.join(ASSETS, "coco", "test_coco.json")
NAME = "eval_test_occlusion_coco"
NAME_FV = "eval_test_occlusion_coco_fully_visible"


def _load(only_fully_visible=False):
    dicts = load_coco_json(COCO_JSON, "", NAME)
    for d in dicts:
        anns = []
        for a in d["annotations"]:
            kps = list(a["keypoints"])  # load_coco_json added 0.5 to x, y
            conv = convert_coco_annotation(dict(a, keypoints=[v - 0.5 if i % 3 < 2 else v
                                                              for i, v in enumerate(kps)]))
            a["keypoints"] = [v + 0.5 if i % 3 < 2 else v
                              for i, v in enumerate(conv["keypoints"])]
            a["fully_visible"] = conv["fully_visible"]
            if a["fully_visible"] or not only_fully_visible:
                anns.append(a)
        d["annotations"] = anns
    return dicts


for _name, _fv in ((NAME, False), (NAME_FV, True)):
    if _name not in DatasetCatalog.list():
        DatasetCatalog.register(_name, lambda fv=_fv: _load(fv))
        MetadataCatalog.get(_name).set(thing_classes=["person"], evaluator_type="occpose_coco",
                                       **keypoint_metadata())


class FakePoseModel(nn.Module):
    """Returns the ground-truth pose of each given box, moved right by
    ``(offset + slope * mask_ratio) * box height`` (all joints), scored by box
    size so ranking is deterministic. Same signature as ``OccPoseRCNN.inference``."""

    def __init__(self, dataset_name, offset=0.0, slope=0.0):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.offset, self.slope = offset, slope
        self.poses = {}
        for d in DatasetCatalog.get(dataset_name):
            for a in d["annotations"]:
                box = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
                self.poses[(d["image_id"], tuple(np.round(box, 2)))] = a["keypoints"]
        self.calls = []

    @property
    def device(self):
        return self.anchor.device

    supports_test_masking = True  # as OccPoseRCNN

    def inference(self, batched_inputs, detected_instances=None, do_postprocess=True,
                  mask_ratio=None, mask_seed=None):
        self.calls.append((mask_ratio, mask_seed))
        outs = []
        for inp, given in zip(batched_inputs, detected_instances):
            boxes = given.pred_boxes.tensor.double().numpy()
            kps = []
            for b in boxes:
                kp = np.asarray(self.poses[(inp["image_id"], tuple(np.round(b, 2)))],
                                dtype=np.float64).reshape(13, 3).copy()
                shift = (self.offset + self.slope * mask_ratio) * (b[3] - b[1])
                kp[:, 0] += shift
                kp[:, 2] = (b[2] - b[0]) * (b[3] - b[1]) / 1e4  # joint "scores"
                kps.append(kp)
            inst = Instances(given.image_size)
            inst.pred_boxes = given.pred_boxes
            inst.scores = given.scores
            inst.pred_classes = given.pred_classes
            inst.pred_keypoints = torch.tensor(np.stack(kps), dtype=torch.float32)
            outs.append({"instances": inst})
        return outs


def _evaluate(ev, dataset_name):
    ev.reset()
    for d in DatasetCatalog.get(dataset_name):
        ev.process([{"image_id": d["image_id"], "height": d["height"], "width": d["width"]}], [{}])
    with contextlib.redirect_stdout(io.StringIO()):
        return ev.evaluate()


def test_ap_falls_with_masking_and_seed_is_passed():
    model = FakePoseModel(NAME, slope=0.3)
    ev = OcclusionEvaluator(NAME, model, ratios=[0.0, 0.2, 0.5, 0.7], seed=7, distributed=False)
    assert ev.num_persons == 4  # fully visible persons of the 4 sample images
    res = _evaluate(ev, NAME)["occlusion_ap"]
    assert list(res) == ["AP@0%", "AP@20%", "AP@50%", "AP@70%"]
    assert res["AP@0%"] == pytest.approx(100.0)
    values = list(res.values())
    assert all(a >= b for a, b in zip(values, values[1:])) and values[-1] < 50.0
    assert {s for _, s in model.calls} == {7}
    assert sorted({p for p, _ in model.calls}) == [0.0, 0.2, 0.5, 0.7]


def test_ratio_zero_equals_plain_ap_on_the_same_boxes(tmp_path):
    model = FakePoseModel(NAME, offset=0.02)
    occ = _evaluate(OcclusionEvaluator(NAME, model, ratios=[0.0], distributed=False), NAME)
    assert 0.0 < occ["occlusion_ap"]["AP@0%"] < 100.0  # the offset costs some AP
    # Plain 13-joint COCO AP of the same poses on a dataset holding only those persons.
    plain = COCO13Evaluator(NAME_FV, tasks=("keypoints",), output_dir=str(tmp_path),
                            distributed=False)
    plain.reset()
    for d in DatasetCatalog.get(NAME_FV):
        boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
                 for a in d["annotations"]]
        if not boxes:
            continue
        given = Instances((d["height"], d["width"]))
        given.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        given.scores = torch.ones(len(boxes))
        given.pred_classes = torch.zeros(len(boxes), dtype=torch.int64)
        out = model.inference([d], [given], mask_ratio=0.0, mask_seed=0)[0]
        out["instances"].scores = out["instances"].pred_keypoints[:, :, 2].mean(dim=1)
        plain.process([d], [out])
    with contextlib.redirect_stdout(io.StringIO()):
        ap = plain.evaluate()["keypoints"]["AP"]
    assert occ["occlusion_ap"]["AP@0%"] == pytest.approx(ap, abs=1e-6)


def test_build_dispatch_uses_config(tmp_path):
    out = str(tmp_path)
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.TEST.OCCLUSION_RATIOS = [0.3]
    cfg.TEST.OCCLUSION_SEED = 3
    evs = build_occpose_evaluators(cfg, NAME, out, model=FakePoseModel(NAME))
    assert [type(e).__name__ for e in evs] == ["COCO13Evaluator", "OcclusionEvaluator"]
    assert evs[1]._ratios == [0.3] and evs[1]._seed == 3
    # a model without test-time masking (e.g. stock GeneralizedRCNN) -> no occlusion AP
    evs = build_occpose_evaluators(cfg, NAME, out, model=nn.Linear(1, 1))
    assert [type(e).__name__ for e in evs] == ["COCO13Evaluator"]
    cfg.TEST.OCCLUSION_EVAL = False
    assert len(build_occpose_evaluators(cfg, NAME, out, model=FakePoseModel(NAME))) == 1
