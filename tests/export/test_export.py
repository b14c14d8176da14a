"""Export: the ONNX file (run by ONNX Runtime) and the TorchScript file give PyTorch's answers on
synthetic images of several sizes, and a model without detections exports and runs."""

import os

import numpy as np
import onnxruntime
import pytest
import torch
from common import REPO, build_tiny_model, get_tiny_cfg, load_project_script, make_inputs
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.utils.events import EventStorage

from occpose_d2 import OccPoseONNXPredictor, OccPosePredictor
from occpose_d2.export import (
    OUTPUT_NAMES,
    OccPoseExportModule,
    export_onnx,
    export_torchscript,
)

# (height, width, person boxes): different sizes, aspect ratios and numbers of persons.
SCENES = [
    (96, 80, ((10, 8, 40, 80), (45, 20, 75, 90))),
    (120, 168, ((20, 10, 60, 100), (90, 30, 130, 115), (130, 5, 160, 70))),
    (75, 121, ((5, 5, 35, 70),)),
]


def _cfg():
    cfg = get_tiny_cfg()
    cfg.INPUT.MIN_SIZE_TEST = 112  # the predictors resize, as in deployment
    cfg.INPUT.MAX_SIZE_TEST = 200
    # as the synthetic config: joints placed and poses rescored by expected OKS (softmax
    # heatmaps), scores exported too
    cfg.MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE = "softmax_ce"
    cfg.MODEL.OCCPOSE.POSE_HEAD.RESCORE = True
    cfg.MODEL.OCCPOSE.POSE_HEAD.RESCORE_BY = "expected_oks"
    cfg.MODEL.OCCPOSE.POSE_HEAD.DECODE = "expected_oks"
    cfg.MODEL.OCCPOSE.POSE_HEAD.FLIP_TEST = True  # and its flip test
    # and pose NMS, at a threshold that makes the tiny model drop one of the first scene's two
    # detections (their poses have OKS 0.26)
    cfg.MODEL.OCCPOSE.POSE_NMS.ENABLED = True
    cfg.MODEL.OCCPOSE.POSE_NMS.OKS_THRESH = 0.2
    return cfg


def _images():
    """BGR uint8 H x W x 3 images with brighter persons, one per scene."""
    return [make_inputs(("pe",), size=(h, w), boxes=boxes, fully_visible=[True] * len(boxes),
                        seed=k)[0]["image"].permute(1, 2, 0).numpy()
            for k, (h, w, boxes) in enumerate(SCENES)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny model trained 30 SGD steps (so its outputs are not degenerate), its checkpoint,
    and its ONNX and TorchScript exports."""
    cfg = _cfg()
    model = build_tiny_model(cfg, seed=0).train()
    model.instance_heads.grl.set_lambda(0.0)
    inputs = make_inputs(("pe", "pd"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    with EventStorage():
        for step in range(30):
            torch.manual_seed(step)
            loss = sum(model(inputs).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    out = tmp_path_factory.mktemp("export")
    DetectionCheckpointer(model, save_dir=str(out)).save("model")
    cfg.MODEL.WEIGHTS = os.path.join(out, "model.pth")
    module = OccPoseExportModule(model)
    sample = torch.as_tensor(_images()[0].astype("float32")).permute(2, 0, 1).contiguous()
    return {
        "cfg": cfg, "model": model, "module": module,
        "onnx": export_onnx(module, sample, os.path.join(out, "model.onnx")),
        "ts": export_torchscript(module, sample, os.path.join(out, "model.ts")),
    }


def _mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def test_onnx_predictor_matches_pytorch_predictor(exported):
    cfg = exported["cfg"]
    torch_predictor = OccPosePredictor(cfg)
    onnx_predictor = OccPoseONNXPredictor(cfg, exported["onnx"], num_threads=1)
    counts = []
    for image in _images():
        ref = torch_predictor(image)["instances"]
        got = onnx_predictor(image)["instances"]
        assert got.image_size == ref.image_size == image.shape[:2]
        assert set(got.get_fields()) == set(ref.get_fields())
        assert len(got) == len(ref)
        counts.append(len(ref))
        torch.testing.assert_close(got.pred_boxes.tensor, ref.pred_boxes.tensor, atol=0.01,
                                   rtol=0)
        torch.testing.assert_close(got.scores, ref.scores, atol=1e-4, rtol=0)
        assert torch.equal(got.pred_classes, ref.pred_classes)
        torch.testing.assert_close(got.pred_keypoints[..., :2], ref.pred_keypoints[..., :2],
                                   atol=0.5, rtol=0)
        torch.testing.assert_close(got.pred_keypoints[..., 2], ref.pred_keypoints[..., 2],
                                   atol=1e-3, rtol=0)
        assert torch.equal(got.pred_keypoint_visible, ref.pred_keypoint_visible)
        assert got.pred_masks.dtype == ref.pred_masks.dtype == torch.bool
        assert (_mask_iou(got.pred_masks, ref.pred_masks) >= 0.99).all()
    # the number of detections varies (zero included) in a graph traced with detections
    assert sum(n > 0 for n in counts) >= 2 and len(set(counts)) > 1, counts


def test_exports_follow_the_model_on_other_sizes(exported):
    """Eager ``OccPoseRCNN.inference`` = the export wrapper = TorchScript (same numbers)
    = ONNX Runtime (float tolerance) on network inputs of sizes other than the traced one."""
    model, module = exported["model"], exported["module"]
    traced = torch.jit.load(exported["ts"])
    session = onnxruntime.InferenceSession(exported["onnx"], providers=["CPUExecutionProvider"])
    for image in _images()[1:]:
        image = torch.as_tensor(image.astype("float32")).permute(2, 0, 1).contiguous()
        with torch.no_grad():
            ref = model.inference([{"image": image}], do_postprocess=False)[0]
            wrapped = module(image)
            scripted = traced(image)
        onnx_out = session.run(None, {"image": image.numpy()})
        fields = (ref.pred_boxes.tensor, ref.scores, ref.pred_classes, ref.pred_masks,
                  ref.pred_keypoints, ref.pred_keypoint_heatmaps, ref.pred_keypoint_visible)
        for name, expected, a, b, c in zip(OUTPUT_NAMES, fields, wrapped, scripted, onnx_out):
            assert torch.equal(a, expected), name
            assert torch.equal(b, expected), name
            torch.testing.assert_close(torch.as_tensor(c), expected, atol=1e-3, rtol=1e-3,
                                       msg=name)


def test_model_without_detections_exports_and_runs(tmp_path):
    cfg = _cfg()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 1.0  # no box scores above 1
    model = build_tiny_model(cfg).eval()
    module = OccPoseExportModule(model, "pe")
    path = export_onnx(module, torch.rand(3, 64, 96) * 255, str(tmp_path / "model.onnx"))
    traced = torch.jit.load(export_torchscript(module, torch.rand(3, 64, 96) * 255,
                                               str(tmp_path / "model.ts")))
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    for h, w in ((64, 96), (100, 72)):
        image = torch.rand(3, h, w) * 255
        for outputs in (session.run(None, {"image": image.numpy()}), traced(image)):
            shapes = [tuple(o.shape) for o in outputs]
            assert shapes == [(0, 4), (0,), (0,), (0, 1, 14, 14), (0, 13, 3), (0, 13, 28, 28),
                              (0, 13)]
    cfg.MODEL.WEIGHTS = ""
    got = OccPoseONNXPredictor(cfg, path)(np.zeros((90, 70, 3), np.uint8))["instances"]
    assert len(got) == 0 and got.image_size == (90, 70)
    assert got.pred_masks.shape == (0, 90, 70)


def test_onnx_predictor_reports_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.onnx"):
        OccPoseONNXPredictor(_cfg(), str(tmp_path / "nothing.onnx"))


def test_export_and_demo_commands(tmp_path):
    """export_model.py writes a model.onnx that demo.py --onnx draws with; a wrong flag mix is
    a one-line error."""
    import cv2

    config = os.path.join(REPO, "configs", "Synthetic", "OccPose-Tiny.yaml")
    small = ["INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "160"]
    load_project_script("export_model").main(
        ["--config-file", config, "--output", str(tmp_path / "export"), *small])
    onnx_path = tmp_path / "export" / "model.onnx"
    assert onnx_path.is_file()
    cv2.imwrite(str(tmp_path / "a.png"), _images()[1])
    demo = load_project_script("demo")
    demo.main(["--config-file", config, "--onnx", str(onnx_path), "--input",
               str(tmp_path / "a.png"), "--output", str(tmp_path / "vis"), "--opts", *small])
    assert (tmp_path / "vis" / "a.png").is_file()
    with pytest.raises(SystemExit, match="--boxes and --domain"):
        demo.main(["--config-file", config, "--onnx", str(onnx_path), "--domain", "pe",
                   "--input", str(tmp_path / "a.png"), "--output", str(tmp_path / "vis")])
