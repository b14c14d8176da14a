"""occpose_d2.config: add_occpose_config defaults, validate_occpose_config errors, and every
YAML under configs/ merging onto get_cfg() + add_occpose_config consistently."""

from pathlib import Path

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone, build_model

import occpose_d2.modeling  # noqa: F401  (registers the model and the backbones)
from occpose_d2.config import add_occpose_config, validate_occpose_config

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
CONFIG_FILES = sorted(CONFIG_DIR.rglob("*.yaml"))


def _load(path: Path):
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.merge_from_file(str(path))
    return cfg


def test_config_tree_is_complete():
    names = {p.relative_to(CONFIG_DIR).as_posix() for p in CONFIG_FILES}
    assert {
        "Base-OccPose.yaml",
        "occpose_rcnn_R_50_FPN_1x.yaml",
        "occpose_rcnn_R_101_FPN_1x.yaml",
        "occpose_rcnn_X_101_32x8d_FPN_1x.yaml",
        "occpose_rcnn_VGG_19_FPN_1x.yaml",
        "Synthetic/OccPose-Tiny.yaml",
        "Synthetic/OccPose-Tiny-Cascade.yaml",
        "quick_schedules/occpose_tiny_instant_test.yaml",
    } <= names


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.relative_to(CONFIG_DIR).as_posix())
def test_config_merges_and_is_consistent(path: Path):
    cfg = _load(path)
    validate_occpose_config(cfg)
    assert cfg.MODEL.META_ARCHITECTURE == "OccPoseRCNN"
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 1
    assert cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS == 13
    assert cfg.MODEL.BACKBONE.NAME in BACKBONE_REGISTRY
    # Build the backbone without allocating weights: the FPN levels every consumer reads exist.
    with torch.device("meta"):
        backbone = build_backbone(cfg, ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN)))
    shapes = backbone.output_shape()
    assert {k: v.stride for k, v in shapes.items()} == {
        "p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64
    }
    assert {v.channels for v in shapes.values()} == {cfg.MODEL.FPN.OUT_CHANNELS}
    for key in ("RPN", "ROI_HEADS", "OCCPOSE"):
        assert set(cfg.MODEL[key].IN_FEATURES) <= set(shapes), key
    assert len(cfg.MODEL.ANCHOR_GENERATOR.SIZES) == len(cfg.MODEL.RPN.IN_FEATURES)
    assert cfg.SOLVER.MAX_ITER > 0 and all(s < cfg.SOLVER.MAX_ITER for s in cfg.SOLVER.STEPS)


def test_backbone_leaf_settings():
    x101 = _load(CONFIG_DIR / "occpose_rcnn_X_101_32x8d_FPN_1x.yaml")
    r = x101.MODEL.RESNETS
    assert (r.DEPTH, r.NUM_GROUPS, r.WIDTH_PER_GROUP, r.STRIDE_IN_1X1) == (101, 32, 8, False)
    assert x101.MODEL.PIXEL_STD == [57.375, 57.120, 58.395]
    assert _load(CONFIG_DIR / "occpose_rcnn_R_101_FPN_1x.yaml").MODEL.RESNETS.DEPTH == 101
    r50 = _load(CONFIG_DIR / "occpose_rcnn_R_50_FPN_1x.yaml")
    assert r50.MODEL.WEIGHTS.endswith("R-50.pkl") and r50.MODEL.RESNETS.DEPTH == 50
    vgg = _load(CONFIG_DIR / "occpose_rcnn_VGG_19_FPN_1x.yaml")
    assert (vgg.MODEL.BACKBONE.NAME, vgg.MODEL.VGG.DEPTH) == ("build_vgg_fpn_backbone", 19)


def test_tiny_configs_are_cpu_sized():
    tiny = _load(CONFIG_DIR / "Synthetic" / "OccPose-Tiny.yaml")
    assert tiny.MODEL.DEVICE == "cpu" and tiny.MODEL.WEIGHTS == ""
    assert tiny.DATASETS.TRAIN == ("synth_pe_train",)
    assert tiny.DATASETS.TRAIN_TARGET == ("synth_pd_train",)
    assert max(tiny.INPUT.MIN_SIZE_TRAIN) <= 256
    end = tiny.MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER
    assert 0 < end < tiny.SOLVER.MAX_ITER
    quick = _load(CONFIG_DIR / "quick_schedules" / "occpose_tiny_instant_test.yaml")
    assert quick.SOLVER.MAX_ITER <= 10
    assert quick.MODEL.BACKBONE.NAME == "build_occpose_tiny_fpn_backbone"


@pytest.mark.parametrize(
    "key, value",
    [("MODEL.VGG.DEPTH", 18), ("MODEL.OCCPOSE_TINY.STAGE_CHANNELS", [8, 8, 8]),
     ("MODEL.OCCPOSE_TINY.OUT_FEATURES", ["res6"])],
)
def test_bad_backbone_keys_are_named(key: str, value):
    cfg = _load(CONFIG_DIR / "Synthetic" / "OccPose-Tiny.yaml")
    cfg.merge_from_list([key, value])
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        validate_occpose_config(cfg)


def test_tiny_model_is_cpu_sized():
    """The full OccPoseRCNN of the tiny config: two tied detectors and the heads, under 8 M
    parameters."""
    cfg = _load(CONFIG_DIR / "quick_schedules" / "occpose_tiny_instant_test.yaml")
    torch.manual_seed(0)
    model = build_model(cfg)
    assert model.device.type == "cpu"
    n_params = sum(p.numel() for p in model.parameters())
    assert 1_000_000 < n_params < 8_000_000
    backbones = [m for m in model.modules() if type(m).__name__ == "TinyConvNet"]
    assert len(backbones) == 2  # one detector per domain, as in the paper
    assert model.detector_tie_weight > 0



@pytest.fixture
def cfg():
    c = get_cfg()
    add_occpose_config(c)
    return c


def test_defaults_follow_the_paper(cfg):
    o = cfg.MODEL.OCCPOSE
    assert o.SEG_HEAD.LOSS_WEIGHT == 0.5  # alpha
    assert o.DOMAIN_HEAD.LOSS_WEIGHT == 1.0  # beta
    assert o.POSE_HEAD.LOSS_WEIGHT == 1.0  # gamma
    assert o.POSE_HEAD.SUPERVISE == "fully_visible"
    assert o.TEST_DOMAIN == "pd"
    assert list(cfg.TEST.OCCLUSION_RATIOS) == [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    validate_occpose_config(cfg)


def test_idempotent_and_leaves_global_defaults_alone(cfg):
    add_occpose_config(cfg)  # second call is a no-op
    assert "OCCPOSE" not in get_cfg().MODEL


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("MODEL.OCCPOSE.MASK_AND_PREDICT.RATIO_END", 1.5, "RATIO_END"),
        ("MODEL.OCCPOSE.MASK_AND_PREDICT.TEST_RATIO", -0.1, "TEST_RATIO"),
        ("MODEL.OCCPOSE.TEST_DOMAIN", "coco", "TEST_DOMAIN"),
        ("MODEL.OCCPOSE.TRAIN_BOXES", "all", "TRAIN_BOXES"),
        ("MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE", "l1", "LOSS_TYPE"),
        ("MODEL.OCCPOSE.DOMAIN_HEAD.GRL_LAMBDA", -1.0, "GRL_LAMBDA"),
        ("DATALOADER.TARGET_FRACTION", 2.0, "TARGET_FRACTION"),
        ("TEST.KEYPOINT_OKS_SIGMAS", [0.1] * 17, "KEYPOINT_OKS_SIGMAS"),
        ("INPUT.SATURATION", (1.2, 0.8), "SATURATION"),
        ("INPUT.CONTRAST", (-0.5, 1.0), "CONTRAST"),
        ("MODEL.OCCPOSE.SELF_TRAINING.FLIP_AGREEMENT", -1.0, "FLIP_AGREEMENT"),
        ("MODEL.OCCPOSE.SELF_TRAINING.TARGETS", "argmax", "TARGETS"),
        ("MODEL.OCCPOSE.SELF_TRAINING.FEATURE_DROPOUT", 1.0, "FEATURE_DROPOUT"),
        ("INPUT.NOISE_PROB", 1.5, "NOISE_PROB"),
        ("INPUT.NOISE_SIGMA", (0.0, 4.0), "NOISE_SIGMA"),
        ("MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT", -1.0, "IMAGE_DOMAIN_HEAD"),
        ("MODEL.OCCPOSE.POSE_DOMAIN_HEAD.LOSS_WEIGHT", -1.0, "POSE_DOMAIN_HEAD"),
        ("MODEL.OCCPOSE.POSE_HEAD.RESCORE_BY", "oks", "RESCORE_BY"),
        ("MODEL.OCCPOSE.POSE_HEAD.DECODE", "mean", "DECODE"),
        ("MODEL.OCCPOSE.POSE_NMS.OKS_THRESH", 0.0, "OKS_THRESH"),
        ("MODEL.OCCPOSE.SEG_HEAD.NUM_CONV", 0, "SEG_HEAD.NUM_CONV"),
    ],
)
def test_validation_names_the_key(cfg, key, value, match):
    cfg.merge_from_list([key, value])
    with pytest.raises(ValueError, match=match):
        validate_occpose_config(cfg)


def test_soft_pseudo_targets_need_a_softmax_pose_head(cfg):
    cfg.merge_from_list(["MODEL.OCCPOSE.SELF_TRAINING.TARGETS", "soft",
                         "MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE", "mse"])
    with pytest.raises(ValueError, match="TARGETS"):
        validate_occpose_config(cfg)


def test_pose_domain_head_needs_a_softmax_pose_head_and_a_dividing_grid(cfg):
    cfg.merge_from_list(["MODEL.OCCPOSE.POSE_DOMAIN_HEAD.LOSS_WEIGHT", 0.5,
                         "MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE", "softmax_ce"])
    validate_occpose_config(cfg)
    cfg.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.GRID = 5  # 56 % 5 != 0
    with pytest.raises(ValueError, match="POSE_DOMAIN_HEAD.GRID"):
        validate_occpose_config(cfg)
    cfg.MODEL.OCCPOSE.POSE_DOMAIN_HEAD.GRID = 14
    cfg.MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE = "mse"
    with pytest.raises(ValueError, match="POSE_DOMAIN_HEAD.LOSS_WEIGHT"):
        validate_occpose_config(cfg)


@pytest.mark.parametrize("key", ["RESCORE_BY", "DECODE"])
def test_expected_oks_rescoring_and_decoding_need_a_softmax_pose_head(cfg, key):
    cfg.merge_from_list([f"MODEL.OCCPOSE.POSE_HEAD.{key}", "expected_oks",
                         "MODEL.OCCPOSE.POSE_HEAD.LOSS_TYPE", "mse"])
    with pytest.raises(ValueError, match=key):
        validate_occpose_config(cfg)


def test_end_before_start_is_rejected(cfg):
    cfg.MODEL.OCCPOSE.MASK_AND_PREDICT.START_ITER = 100
    cfg.MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER = 10
    with pytest.raises(ValueError, match="END_ITER"):
        validate_occpose_config(cfg)
