"""add_occpose_config defaults and validate_occpose_config errors."""

import pytest
from detectron2.config import get_cfg

from occpose_d2 import add_occpose_config, validate_occpose_config


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
    ],
)
def test_validation_names_the_key(cfg, key, value, match):
    cfg.merge_from_list([key, value])
    with pytest.raises(ValueError, match=match):
        validate_occpose_config(cfg)


def test_end_before_start_is_rejected(cfg):
    cfg.MODEL.OCCPOSE.MASK_AND_PREDICT.START_ITER = 100
    cfg.MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER = 10
    with pytest.raises(ValueError, match="END_ITER"):
        validate_occpose_config(cfg)
