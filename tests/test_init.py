"""Importing occpose_d2 registers everything it defines, idempotently."""

import importlib
import os
import subprocess
import sys

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY, ROI_HEADS_REGISTRY

import occpose_d2
from occpose_d2.keypoints import KEYPOINT_NAMES

DATASETS = [
    "coco_2017_train_person13", "coco_2017_val_person13", "citypersons_train", "citypersons_val",
    "synth_pe_train", "synth_pe_val", "synth_pd_train", "synth_pd_val", "synth_pd_val_kp",
    "synth_pd_train_kp",
    "ochuman_val", "crowdpose_test",
]


def test_models_and_backbones_are_registered():
    assert META_ARCH_REGISTRY.get("OccPoseRCNN") is occpose_d2.OccPoseRCNN
    assert ROI_HEADS_REGISTRY.get("OccPoseROIHeads") is occpose_d2.OccPoseROIHeads
    for name in ("build_occpose_tiny_fpn_backbone", "build_vgg_fpn_backbone"):
        assert BACKBONE_REGISTRY.get(name) is not None
    from occpose_d2.modeling import (
        COMMON_ENCODER_REGISTRY,
        CONTEXT_DECODER_REGISTRY,
        DOMAIN_HEAD_REGISTRY,
        POSE_HEAD_REGISTRY,
        SEG_HEAD_REGISTRY,
    )
    assert COMMON_ENCODER_REGISTRY.get("ConvCommonEncoder")
    assert SEG_HEAD_REGISTRY.get("DeconvSegHead")
    assert DOMAIN_HEAD_REGISTRY.get("ConvDomainClassifier")
    assert CONTEXT_DECODER_REGISTRY.get("DeconvContextDecoder")
    assert POSE_HEAD_REGISTRY.get("EncoderDecoderPoseHead")


def test_datasets_are_registered_with_keypoint_metadata():
    registered = set(DatasetCatalog.list())
    for name in DATASETS:
        assert name in registered, name
        meta = MetadataCatalog.get(name)
        assert tuple(meta.keypoint_names) == KEYPOINT_NAMES
        assert meta.thing_classes == ["person"]
        assert meta.evaluator_type in ("occpose_coco", "citypersons", "synth_pd")
    assert MetadataCatalog.get("synth_pd_train").domain == "pd"
    assert MetadataCatalog.get("synth_pe_train").domain == "pe"


def test_importing_again_changes_nothing():
    before = (set(DatasetCatalog.list()), set(META_ARCH_REGISTRY._obj_map))
    importlib.import_module("occpose_d2")
    from occpose_d2.data.datasets import builtin

    builtin.register_all(os.environ["DETECTRON2_DATASETS"])  # same splits again: a no-op
    assert (set(DatasetCatalog.list()), set(META_ARCH_REGISTRY._obj_map)) == before


def test_imports_alongside_detectron2_builtins_in_a_fresh_interpreter():
    code = (
        "import detectron2.data, detectron2.modeling, detectron2.evaluation\n"
        "import occpose_d2, occpose_d2\n"
        "from detectron2.data import DatasetCatalog\n"
        "assert 'coco_2017_val' in DatasetCatalog.list()\n"
        "assert 'synth_pd_val_kp' in DatasetCatalog.list()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
