"""train_net.py end to end on the tiny synthetic set: train, resume, eval-only; and demo.py."""

import json
import logging
import os

import cv2
import pytest
import torch
from common import REPO, load_project_script

CONFIG = os.path.join(REPO, "configs", "quick_schedules", "occpose_tiny_instant_test.yaml")


def _args(train_net, output_dir, *extra, opts=()):
    argv = ["--config-file", CONFIG, *extra, "OUTPUT_DIR", output_dir, *opts]
    return train_net.default_argument_parser().parse_args(argv)


@pytest.fixture(scope="module")
def trained(synthetic_root, tmp_path_factory):
    """Run 4 iterations with a checkpoint every 2; returns (train_net module, output dir)."""
    train_net = load_project_script("train_net")
    out = str(tmp_path_factory.mktemp("train_net"))
    torch.manual_seed(0)
    train_net.main(_args(train_net, out, opts=["SOLVER.CHECKPOINT_PERIOD", "2",
                                               "TEST.OCCLUSION_EVAL", "False"]))
    return train_net, out


def test_training_writes_checkpoints_and_metrics(trained):
    _, out = trained
    for name in ("model_0000001.pth", "model_final.pth", "last_checkpoint", "metrics.json"):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, "metrics.json")) as f:
        records = [json.loads(line) for line in f]
    losses = [r for r in records if "total_loss" in r]
    assert losses and all(torch.isfinite(torch.tensor(r["total_loss"])) for r in losses)
    assert any("loss_pose" in r and "loss_domain" in r and "loss_seg" in r for r in losses)


def test_resume_continues_at_the_right_iteration_and_mask_ratio(trained):
    train_net, out = trained
    # pretend the run was killed after the checkpoint of iteration 1 (the 2nd iteration)
    with open(os.path.join(out, "last_checkpoint"), "w") as f:
        f.write("model_0000001.pth")
    ratio_at = {}
    cfg = train_net.setup(_args(train_net, out, "--resume", opts=[
        "SOLVER.MAX_ITER", "3", "TEST.OCCLUSION_EVAL", "False",
        "MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER", "4",
        "MODEL.OCCPOSE.MASK_AND_PREDICT.RATIO_END", "0.4"]))
    trainer = train_net.OccPoseTrainer(cfg)
    trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 2
    masking = trainer.model.instance_heads.mask_and_predict
    original = masking.set_ratio

    def spy(p):
        ratio_at[trainer.iter] = p
        original(p)

    masking.set_ratio = spy
    trainer.train()
    assert sorted(ratio_at) == [2]  # only the missing iteration ran
    assert ratio_at[2] == pytest.approx(0.2)  # 0.4 * 2 / 4: follows the iteration
    assert masking.ratio == pytest.approx(0.2)


def test_eval_only_prints_metrics(trained, capsys):
    train_net, out = trained
    weights = os.path.join(out, "model_final.pth")
    results = train_net.main(_args(train_net, out, "--eval-only",
                                   opts=["MODEL.WEIGHTS", weights]))
    assert "keypoints" in results and "AP" in results["keypoints"]
    assert 0.0 <= results["keypoints"]["AP"] <= 100.0
    assert "keypoints" in capsys.readouterr().out + str(results)


def test_demo_writes_an_output_image(trained, synthetic_root, tmp_path):
    _, out = trained
    demo = load_project_script("demo")
    image_dir = os.path.join(synthetic_root, "pd", "val", "images")
    first = sorted(os.listdir(image_dir))[0]
    demo.main(["--config-file", CONFIG, "--input", os.path.join(image_dir, first),
               "--output", str(tmp_path), "--confidence-threshold", "0.0",
               "--opts", "MODEL.WEIGHTS", os.path.join(out, "model_final.pth")])
    written = tmp_path / first
    assert written.is_file() and written.stat().st_size > 0

    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({first: [[10, 10, 60, 120]]}))
    demo.main(["--config-file", CONFIG, "--input", image_dir, "--boxes", str(boxes),
               "--output", str(tmp_path / "given")])
    assert sorted(os.listdir(tmp_path / "given")) == [first]  # images without boxes are skipped

    boxes.write_text(json.dumps({first: [[5000, 10, 5050, 120]]}))  # right of the image
    with pytest.raises(SystemExit, match=f"{first}: boxes .* do not overlap"):
        demo.main(["--config-file", CONFIG, "--input", image_dir, "--boxes", str(boxes),
                   "--output", str(tmp_path / "outside")])


def test_trainer_checkpoints_atomically(trained, tmp_path):
    from detectron2.engine.hooks import PeriodicCheckpointer

    from occpose_d2.engine import AtomicDetectionCheckpointer

    train_net, _ = trained
    trainer = train_net.OccPoseTrainer(train_net.setup(_args(train_net, str(tmp_path))))
    assert isinstance(trainer.checkpointer, AtomicDetectionCheckpointer)
    assert trainer.checkpointer.checkpointables.keys() == {"trainer"}
    periodic = [h for h in trainer._hooks if isinstance(h, PeriodicCheckpointer)]
    assert len(periodic) == 1 and periodic[0].checkpointer is trainer.checkpointer


def test_detector_pretraining_stage_loads_into_the_full_model(synthetic_root, tmp_path):
    """The paper's first stage (detectors only) and loading its weights for the second."""
    from detectron2.checkpoint import DetectionCheckpointer

    train_net = load_project_script("train_net")
    out = str(tmp_path / "pretrain")
    train_net.main(_args(train_net, out, opts=[
        "MODEL.OCCPOSE.DETECTORS_ONLY", "True", "SOLVER.MAX_ITER", "2", "DATASETS.TEST", "()"]))
    with open(os.path.join(out, "metrics.json")) as f:
        records = [json.loads(line) for line in f]
    assert any("loss_cls_pe" in r and "loss_cls_pd" in r for r in records)
    assert not any("loss_pose" in r for r in records)

    cfg = train_net.setup(_args(train_net, str(tmp_path / "full"), opts=[
        "MODEL.WEIGHTS", os.path.join(out, "model_final.pth")]))
    model = train_net.OccPoseTrainer.build_model(cfg)
    DetectionCheckpointer(model).resume_or_load(cfg.MODEL.WEIGHTS, resume=False)
    saved = torch.load(os.path.join(out, "model_final.pth"), weights_only=False)["model"]
    for key, value in model.state_dict().items():
        if key.startswith("detectors."):
            torch.testing.assert_close(value, saved[key].to(value.dtype), msg=key)



PLUGIN = ["MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "MODEL.ROI_HEADS.NAME", "OccPoseROIHeads",
          "MODEL.MASK_ON", "True", "MODEL.KEYPOINT_ON", "True",
          "MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS", "13",
          "MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER", "4",
          "MODEL.OCCPOSE.MASK_AND_PREDICT.RATIO_END", "0.4"]


@pytest.fixture(scope="module")
def plugin_run(synthetic_root, tmp_path_factory):
    """README's plugin mode (stock GeneralizedRCNN + OccPoseROIHeads): 2 iterations through
    train_net.py, evaluated on synth_pe_val; returns (train_net module, output dir)."""
    train_net = load_project_script("train_net")
    out = str(tmp_path_factory.mktemp("plugin"))
    torch.manual_seed(0)
    train_net.main(_args(train_net, out, opts=PLUGIN + ["SOLVER.MAX_ITER", "2"]))
    return train_net, out


def test_occpose_log_lines_reach_log_txt(plugin_run):
    _, out = plugin_run
    with open(os.path.join(out, "log.txt")) as f:
        text = f.read()
    for line in ("occpose_d2.data.build INFO: pe (synth_pe_train): 8 training images",
                 "occpose_d2.engine.hooks INFO: Curriculum masking: ratio 0.00 -> 0.40",
                 "starting at iteration 0 with 0.000",
                 "occpose_d2.evaluation.build INFO: synth_pe_val: occlusion AP skipped"):
        assert line in text, line


def test_plugin_model_trains_and_resumes_with_the_curriculum(plugin_run):
    """The curriculum reaches the plugin's MaskAndPredict; without a domain head there is no
    gradient reversal to schedule."""
    from occpose_d2.modeling import MaskAndPredict

    train_net, out = plugin_run
    with open(os.path.join(out, "metrics.json")) as f:
        records = [json.loads(line) for line in f]
    trained = [r for r in records if "total_loss" in r]
    assert trained[-1]["iteration"] == 1 and "loss_pose" in trained[-1]
    assert trained[-1]["occpose/mask_ratio"] == pytest.approx(0.1)  # 0.4 * 1 / 4
    assert not any("occpose/grl_lambda" in r for r in records)

    trainer = train_net.OccPoseTrainer(train_net.setup(_args(
        train_net, out, "--resume", opts=PLUGIN + ["SOLVER.MAX_ITER", "4", "DATASETS.TEST", "()"])))
    trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 2
    trainer.train()
    (masking,) = [m for m in trainer.model.modules() if isinstance(m, MaskAndPredict)]
    assert masking.ratio == pytest.approx(0.3)  # 0.4 * 3 / 4, set before the last iteration


@pytest.mark.parametrize("content, message", [
    ('{"a.png": [[10, 10, 60]]}', "boxes of 'a.png' must be a list of [x1, y1, x2, y2] with "
                                  "x2 > x1, y2 > y1; got [[10, 10, 60]]"),
    ('{"a.png": [["10", "10", "60", "120"]]}',
     "boxes of 'a.png' must be a list of [x1, y1, x2, y2] with x2 > x1, y2 > y1; got "
     "[['10', '10', '60', '120']]"),
    ('{"a.png": "10 10 60 120"}', "boxes of 'a.png' must be a list of [x1, y1, x2, y2] with "
                                  "x2 > x1, y2 > y1; got '10 10 60 120'"),
    ('{"a.png": [[10, 10, 60, 120]', "not valid JSON (Expecting ',' delimiter: line 1 column 29 "
                                     "(char 28))"),
])
def test_demo_bad_boxes_file_is_one_line_naming_the_file(tmp_path, content, message):
    demo = load_project_script("demo")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(content)
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(SystemExit) as e:
        demo.main(["--config-file", CONFIG, "--input", str(tmp_path / "a.png"),
                   "--boxes", str(boxes), "--output", str(tmp_path / "out")])
    assert str(e.value) == f"{boxes}: {message}"


def test_demo_skips_unreadable_images_and_draws_at_scale(trained, synthetic_root, tmp_path,
                                                         caplog):
    _, out = trained
    demo = load_project_script("demo")
    image_dir = os.path.join(synthetic_root, "pd", "val", "images")
    first = sorted(os.listdir(image_dir))[0]
    inputs = tmp_path / "in"
    inputs.mkdir()
    data = open(os.path.join(image_dir, first), "rb").read()
    (inputs / "good.png").write_bytes(data)
    (inputs / "truncated.png").write_bytes(data[: len(data) // 2])
    demo_logger = logging.getLogger("occpose_d2.demo")
    demo_logger.addHandler(caplog.handler)  # the occpose_d2 logger does not propagate to root
    try:
        demo.main(["--config-file", CONFIG, "--input", str(inputs), "--output",
                   str(tmp_path / "out"), "--scale", "0.5", "--opts", "MODEL.WEIGHTS",
                   os.path.join(out, "model_final.pth")])
    finally:
        demo_logger.removeHandler(caplog.handler)
    assert os.listdir(tmp_path / "out") == ["good.png"]
    assert (f"{inputs / 'truncated.png'}: cannot read the image (image file is truncated), "
            "skipped") in caplog.text
    assert "1 of 2 input images could not be read and were skipped" in caplog.text
    h, w = cv2.imread(str(inputs / "good.png")).shape[:2]
    assert cv2.imread(str(tmp_path / "out" / "good.png")).shape[:2] == (h // 2, w // 2)
