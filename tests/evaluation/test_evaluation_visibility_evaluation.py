"""AP by visibility bucket / person overlap, with detected and ground-truth boxes, on hand-built
persons whose predicted poses are chosen per person."""

import contextlib
import io

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances, pairwise_iou
from torch import nn

from occpose_d2.evaluation import COCO13Evaluator, VisibilityEvaluator, build_occpose_evaluators
from occpose_d2.evaluation.coco_gt import best_oks
from occpose_d2.keypoints import KEYPOINT_OKS_SIGMAS, keypoint_metadata

NAME = "eval_test_visibility"
# image id -> persons (box XYWH, vis_ratio, occluded_by_person, iscrowd); boxes never overlap.
PERSONS = {
    1: [((10, 10, 40, 90), 0.95, False, 0), ((70, 10, 40, 90), 0.7, True, 0),
        ((130, 10, 40, 90), 0.4, True, 0)],
    2: [((10, 20, 50, 120), 1.0, False, 0), ((80, 20, 40, 100), 0.5, False, 0),
        ((140, 20, 40, 100), 0.2, True, 1)],
    3: [((20, 30, 60, 150), 0.8, False, 0)],
}
SUBSETS = ("vis_ge_09", "vis_065_09", "vis_lt_065", "person_occluded")


def _dicts():
    rng = np.random.default_rng(0)
    dicts = []
    for image_id, persons in PERSONS.items():
        anns = []
        for (x, y, w, h), vis, by_person, crowd in persons:
            kp = np.stack([x + rng.uniform(0.1, 0.9, 13) * w, y + rng.uniform(0.1, 0.9, 13) * h,
                           rng.choice([1.0, 2.0], 13)], axis=1)
            anns.append({"bbox": [x, y, w, h], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0,
                         "iscrowd": crowd, "keypoints": kp.reshape(-1).tolist(),
                         "vis_ratio": vis, "occluded_by_person": by_person})
        dicts.append({"file_name": f"{image_id}.png", "image_id": image_id, "height": 200,
                      "width": 200, "annotations": anns})
    return dicts


if NAME not in DatasetCatalog.list():
    DatasetCatalog.register(NAME, _dicts)
    MetadataCatalog.get(NAME).set(thing_classes=["person"], evaluator_type="occpose_coco",
                                  thing_dataset_id_to_contiguous_id={1: 0}, **keypoint_metadata())


def _predicted(wrong=lambda a: False):
    """Per image, (XYXY boxes, poses, box scores): the ground-truth pose of every non-crowd
    person, moved one box width right when ``wrong(annotation)``; wrong poses score lower."""
    out = {}
    for d in DatasetCatalog.get(NAME):
        boxes, poses, scores = [], [], []
        for a in d["annotations"]:
            if a["iscrowd"]:
                continue
            box = BoxMode.convert(list(a["bbox"]), BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
            kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(13, 3).copy()
            bad = wrong(a)
            kp[:, 0] += a["bbox"][2] * 1.5 if bad else 0.0
            kp[:, 2] = 0.3 if bad else 0.9  # joint scores
            boxes.append(box)
            poses.append(kp)
            scores.append(0.5 if bad else 0.95)
        out[d["image_id"]] = (boxes, poses, scores)
    return out


class GivenBoxPoseModel(nn.Module):
    """``OccPoseRCNN.inference``'s signature: the chosen pose of each given ground-truth box."""

    def __init__(self, predicted):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.poses = {(i, tuple(np.round(b, 2))): k for i, (bs, ks, _) in predicted.items()
                      for b, k in zip(bs, ks)}
        self.ratios = set()

    def inference(self, batched_inputs, detected_instances=None, do_postprocess=True,
                  mask_ratio=None, mask_seed=None):
        self.ratios.add(mask_ratio)
        outs = []
        for inp, given in zip(batched_inputs, detected_instances):
            kps = [self.poses[(inp["image_id"], tuple(np.round(b, 2)))]
                   for b in given.pred_boxes.tensor.double().numpy()]
            inst = Instances(given.image_size)
            inst.pred_keypoints = torch.tensor(np.stack(kps), dtype=torch.float32)
            outs.append({"instances": inst})
        return outs


def _outputs(predicted, image_id):
    boxes, poses, scores = predicted[image_id]
    inst = Instances((200, 200))
    inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    inst.scores = torch.tensor(scores)
    inst.pred_classes = torch.zeros(len(boxes), dtype=torch.int64)
    inst.pred_keypoints = torch.tensor(np.stack(poses), dtype=torch.float32)
    return [{"instances": inst}]


def _run(evaluator, predicted):
    evaluator.reset()
    for d in DatasetCatalog.get(NAME):
        inp = {"image_id": d["image_id"], "height": 200, "width": 200}
        evaluator.process([inp], _outputs(predicted, d["image_id"]))
    with contextlib.redirect_stdout(io.StringIO()):
        return evaluator.evaluate()


def _visibility_ap(predicted):
    model = GivenBoxPoseModel(predicted)
    res = _run(VisibilityEvaluator(NAME, model, distributed=False), predicted)["visibility_ap"]
    assert model.ratios == {0.0}
    return res


def test_perfect_poses_give_100_in_every_subset():
    res = _visibility_ap(_predicted())
    expected = ["AP", "AP_gt_boxes", "AP_matched_boxes", "AP_oracle_ranking"] + [
        f"AP{b}_{s}" for s in SUBSETS for b in ("", "_matched_boxes", "_gt_boxes")]
    assert list(res) == expected
    for key, value in res.items():
        assert value == pytest.approx(100.0), key


@pytest.mark.parametrize("wrong_subset", ["vis_lt_065", "vis_065_09"])
def test_wrong_poses_in_one_bucket_drop_only_that_bucket(wrong_subset):
    lo, hi = {"vis_lt_065": (0.0, 0.65), "vis_065_09": (0.65, 0.9)}[wrong_subset]
    res = _visibility_ap(_predicted(lambda a: lo <= a["vis_ratio"] < hi))
    for prefix in ("AP_", "AP_matched_boxes_", "AP_gt_boxes_"):
        assert res[prefix + wrong_subset] == pytest.approx(0.0)
        for other in ("vis_ge_09", "vis_065_09", "vis_lt_065"):
            if other != wrong_subset:
                assert res[prefix + other] == pytest.approx(100.0), prefix + other
    assert 0.0 < res["AP"] < 100.0 and 0.0 < res["AP_gt_boxes"] < 100.0
    # the person-overlap subset holds one person of each partly visible bucket
    assert 0.0 < res["AP_person_occluded"] < 100.0


NAME_MASKS = NAME + "_masks"


def _dicts_with_masks():
    """:func:`_dicts` with each person's box as its visible-mask polygon."""
    dicts = _dicts()
    for d in dicts:
        for a in d["annotations"]:
            x, y, w, h = a["bbox"]
            a["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    return dicts


if NAME_MASKS not in DatasetCatalog.list():
    DatasetCatalog.register(NAME_MASKS, _dicts_with_masks)
    MetadataCatalog.get(NAME_MASKS).set(thing_classes=["person"], evaluator_type="occpose_coco",
                                        thing_dataset_id_to_contiguous_id={1: 0},
                                        **keypoint_metadata())


class MaskReadingPoseModel(GivenBoxPoseModel):
    """The right pose of a given box only when the box comes with its true visible mask
    (``gt_masks`` whose cropped area fills the box); else that pose moved off the person."""

    def __init__(self, right, wrong):
        super().__init__(right)
        self.wrong = GivenBoxPoseModel(wrong)

    def inference(self, batched_inputs, detected_instances=None, do_postprocess=True,
                  mask_ratio=None, mask_seed=None):
        given = detected_instances[0]
        if given.has("gt_masks"):
            boxes = given.pred_boxes.tensor
            filled = given.gt_masks.crop_and_resize(boxes, 8).float().mean(dim=(1, 2))
            assert len(given.gt_masks) == len(boxes) and bool((filled > 0.9).all())
            return super().inference(batched_inputs, detected_instances, do_postprocess,
                                     mask_ratio, mask_seed)
        return self.wrong.inference(batched_inputs, detected_instances, do_postprocess,
                                    mask_ratio, mask_seed)


def test_gt_masks_ap_gives_the_model_the_true_visible_masks():
    right, wrong = _predicted(), _predicted(lambda a: True)
    model = MaskReadingPoseModel(right, wrong)
    evaluator = VisibilityEvaluator(NAME_MASKS, model, distributed=False)
    evaluator.reset()
    for d in DatasetCatalog.get(NAME_MASKS):
        inp = {"image_id": d["image_id"], "height": 200, "width": 200}
        evaluator.process([inp], _outputs(right, d["image_id"]))
    with contextlib.redirect_stdout(io.StringIO()):
        res = evaluator.evaluate()["visibility_ap"]
    assert res["AP"] == pytest.approx(100.0)
    assert res["AP_gt_boxes"] == pytest.approx(0.0)
    assert res["AP_gt_boxes_gt_masks"] == pytest.approx(100.0)
    # without masks in the annotations the metric is absent (test_perfect_poses_...)


class BoxFramedPoseModel(GivenBoxPoseModel):
    """Reads a given box as its person's extent, as a pose head does: the pose of the
    ground-truth person it overlaps most, moved by the box's offset from that person's box."""

    def inference(self, batched_inputs, detected_instances=None, do_postprocess=True,
                  mask_ratio=None, mask_seed=None):
        outs = []
        for inp, given in zip(batched_inputs, detected_instances):
            gt = [(b, k) for (i, b), k in self.poses.items() if i == inp["image_id"]]
            gt_boxes = Boxes(torch.tensor([b for b, _ in gt], dtype=torch.float32))
            nearest = pairwise_iou(given.pred_boxes, gt_boxes).argmax(dim=1)
            kps = []
            for box, j in zip(given.pred_boxes.tensor.double().numpy(), nearest.tolist()):
                kp = gt[j][1].copy()
                kp[:, :2] += box[:2] - np.asarray(gt[j][0][:2])
                kps.append(kp)
            inst = Instances(given.image_size)
            inst.pred_keypoints = torch.tensor(np.stack(kps), dtype=torch.float32)
            outs.append({"instances": inst})
        return outs


def test_matched_boxes_ap_takes_in_the_geometry_of_the_detected_boxes():
    """The detections carry the right poses, but the heavily occluded persons' boxes sit 0.3 box
    widths to the right (IoU 0.54) and one near-visible person has no box: given its own
    detected box, each of those persons gets a pose moved with the box (lost), and the person
    without one gets none (half the bucket's recall)."""
    right = _predicted()
    model = BoxFramedPoseModel(right)
    detected = {}
    for d in DatasetCatalog.get(NAME):
        boxes, poses, scores = [], [], []
        persons = [a for a in d["annotations"] if not a["iscrowd"]]
        for a, box, pose, score in zip(persons, *right[d["image_id"]]):
            if a["vis_ratio"] == 0.95:
                continue
            box = list(box)
            if a["vis_ratio"] < 0.65:
                box[0] += 0.3 * a["bbox"][2]
                box[2] += 0.3 * a["bbox"][2]
            boxes.append(box)
            poses.append(pose)
            scores.append(score)
        detected[d["image_id"]] = (boxes, poses, scores)
    res = _run(VisibilityEvaluator(NAME, model, distributed=False), detected)["visibility_ap"]
    assert res["AP_gt_boxes"] == pytest.approx(100.0)
    assert res["AP_vis_lt_065"] == pytest.approx(100.0)  # the detections' own poses are right
    assert res["AP_matched_boxes_vis_lt_065"] == pytest.approx(0.0)
    assert res["AP_matched_boxes_vis_065_09"] == pytest.approx(100.0)
    # 101-point interpolated AP with half the persons found, all of them right: 51 / 101
    assert res["AP_matched_boxes_vis_ge_09"] == pytest.approx(100.0 * 51 / 101)
    assert res["AP_gt_boxes_vis_ge_09"] == pytest.approx(100.0)
    assert res["AP_matched_boxes"] < res["AP"] < res["AP_gt_boxes"]


def test_oracle_ranking_takes_out_the_ranking_only():
    """Every person gets its right pose and, scored higher, a wrong duplicate: the detected AP
    falls, a ranking by true OKS puts the right poses first again (100); a person whose only
    pose is wrong stays lost however it is ranked."""
    predicted = _predicted()
    wrong = _predicted(lambda a: True)
    for i, (boxes, poses, _) in predicted.items():
        wb, wp, _ = wrong[i]
        predicted[i] = (boxes + wb, poses + wp, [0.5] * len(boxes) + [0.9] * len(wb))
    res = _visibility_ap(predicted)
    assert res["AP"] < 60.0
    assert res["AP_oracle_ranking"] == pytest.approx(100.0)
    lost = _visibility_ap(_predicted(lambda a: a["vis_ratio"] == 0.5))
    assert lost["AP_oracle_ranking"] == pytest.approx(lost["AP"])
    assert lost["AP_oracle_ranking"] < 100.0


def test_best_oks_of_each_pose():
    gt_kp = np.array([[10.0 + j, 20.0 + 3 * j, 2.0] for j in range(13)])
    gts = [{"image_id": 1, "bbox": [5, 15, 30, 50], "keypoints": gt_kp.reshape(-1).tolist(),
            "area": 1500.0, "num_keypoints": 13, "iscrowd": 0},
           {"image_id": 1, "bbox": [100, 15, 30, 50], "keypoints": gt_kp.reshape(-1).tolist(),
            "area": 1500.0, "num_keypoints": 13, "iscrowd": 1}]
    far = gt_kp.copy()
    far[:, 0] += 300.0
    dts = [{"image_id": 1, "keypoints": far.reshape(-1).tolist(), "score": 0.9},
           {"image_id": 1, "keypoints": gt_kp.reshape(-1).tolist(), "score": 0.1},
           {"image_id": 2, "keypoints": gt_kp.reshape(-1).tolist(), "score": 0.5}]
    oks = best_oks(gts, dts, KEYPOINT_OKS_SIGMAS)
    assert oks[0] == pytest.approx(0.0, abs=1e-6)  # far from the one person (crowd: no match)
    assert oks[1] == pytest.approx(1.0)  # the person's own pose, whatever its score
    assert oks[2] == 0.0  # an image without persons
    assert best_oks(gts, [], KEYPOINT_OKS_SIGMAS) == []


def test_detected_ap_equals_the_coco_evaluators_keypoint_ap(tmp_path):
    def noisy(a):  # a few wrong, interleaved in score with the right ones
        return a["vis_ratio"] in (0.7, 0.5)

    predicted = _predicted(noisy)
    for i, (boxes, poses, scores) in predicted.items():
        predicted[i] = (boxes, poses, [s + 0.3 * (i - 2) for s in scores])
    vis = _visibility_ap(predicted)
    coco = COCO13Evaluator(NAME, tasks=("keypoints",), output_dir=str(tmp_path),
                           distributed=False)
    ap = _run(coco, predicted)["keypoints"]["AP"]
    assert 0.0 < ap < 100.0
    assert vis["AP"] == pytest.approx(ap, abs=1e-9)


def test_persons_without_visibility_are_an_error():
    name = NAME + "_no_vis"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: [dict(d, annotations=[
            {k: v for k, v in a.items() if k != "vis_ratio"} for a in d["annotations"]])
            for d in _dicts()])
    with pytest.raises(ValueError, match="without 'vis_ratio'"):
        VisibilityEvaluator(name, GivenBoxPoseModel({}), distributed=False)


def test_built_for_target_keypoint_sets_only(synthetic_root, tmp_path):
    from common import build_tiny_model, get_tiny_cfg

    cfg = get_tiny_cfg()
    model = build_tiny_model(cfg)
    kinds = {name: [type(e).__name__ for e in build_occpose_evaluators(cfg, name, str(tmp_path),
                                                                        model)]
             for name in ("synth_pd_val_kp", "synth_pe_val")}
    assert "VisibilityEvaluator" in kinds["synth_pd_val_kp"]
    assert "VisibilityEvaluator" not in kinds["synth_pe_val"]
    assert "VisibilityEvaluator" not in [
        type(e).__name__ for e in build_occpose_evaluators(cfg, "synth_pd_val_kp", str(tmp_path))]


def test_runs_on_the_model_over_the_synthetic_target(synthetic_root):
    from common import build_tiny_model, get_tiny_cfg
    from detectron2.evaluation import inference_on_dataset

    from occpose_d2 import OccPoseTrainer

    cfg = get_tiny_cfg()
    model = build_tiny_model(cfg).eval()
    loader = OccPoseTrainer.build_test_loader(cfg, "synth_pd_val_kp")
    evaluator = VisibilityEvaluator("synth_pd_val_kp", model, distributed=False)
    with contextlib.redirect_stdout(io.StringIO()):
        res = inference_on_dataset(model, loader, evaluator)["visibility_ap"]
    assert {"AP", "AP_gt_boxes", "AP_gt_boxes_gt_masks", "AP_vis_lt_065",
            "AP_gt_boxes_person_occluded"} <= set(res)
    assert all(np.isnan(v) or 0.0 <= v <= 100.0 for v in res.values())
