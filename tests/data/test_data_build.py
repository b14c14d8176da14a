"""Mapper (13-joint flip, domain fields, augmentations) and the two-domain training loader."""

import itertools

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.data import transforms as T

from occpose_d2 import add_occpose_config
from occpose_d2.data import (
    GaussianBlurTransform,
    GaussianNoiseTransform,
    OccPoseDatasetMapper,
    RandomGaussianBlur,
    RandomGaussianNoise,
    build_two_domain_train_loader,
    domain_batch_sizes,
)
from occpose_d2.keypoints import KEYPOINT_NAMES, flip_indices

LS, RS = KEYPOINT_NAMES.index("left_shoulder"), KEYPOINT_NAMES.index("right_shoulder")


def _cfg(ims=4, fraction=0.5, target=("synth_pd_train",)):
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.merge_from_file("configs/Base-OccPose.yaml")
    cfg.DATASETS.TRAIN = ("synth_pe_train",)
    cfg.DATASETS.TRAIN_TARGET = target
    cfg.SOLVER.IMS_PER_BATCH = ims
    cfg.DATALOADER.TARGET_FRACTION = fraction
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.INPUT.MIN_SIZE_TRAIN = (128,)
    cfg.INPUT.MAX_SIZE_TRAIN = 256
    return cfg


def _mapper(cfg, augs):
    m = OccPoseDatasetMapper(cfg, is_train=True)
    m.augmentations = T.AugmentationList(augs)
    return m


@pytest.mark.parametrize("fraction,split", [(0.5, (2, 2)), (0.25, (3, 1))])
def test_paired_loader_ratio_every_step(synthetic_root, fraction, split):
    cfg = _cfg(fraction=fraction)
    assert domain_batch_sizes(4, fraction) == split
    loader = build_two_domain_train_loader(cfg)
    for batch in itertools.islice(iter(loader), 6):  # 6 x 3 > 8 source images: infinite
        assert [d["domain"] for d in batch] == ["pe"] * split[0] + ["pd"] * split[1]
        for d in batch:
            inst = d["instances"]
            assert d["image"].dtype == torch.uint8 and d["image"].shape[0] == 3
            assert inst.has("gt_masks") and inst.has("gt_keypoints") == (d["domain"] == "pe")
            assert inst.has("gt_vis_boxes") == (d["domain"] == "pd")


def test_one_domain_loader_and_bad_ratio(synthetic_root):
    batch = next(iter(build_two_domain_train_loader(_cfg(ims=3, target=()))))
    assert [d["domain"] for d in batch] == ["pe"] * 3
    with pytest.raises(ValueError, match="TARGET_FRACTION"):
        build_two_domain_train_loader(_cfg(ims=2, fraction=0.1))


def test_flip_swaps_left_right_joints(synthetic_root):
    cfg = _cfg()
    plain = _mapper(cfg, [])
    assert plain.keypoint_hflip_indices.tolist() == flip_indices()
    flip = _mapper(cfg, [T.RandomFlip(prob=1.0)])
    d = next(x for x in DatasetCatalog.get("synth_pe_train") if x["annotations"])
    a, b = plain(d)["instances"], flip(d)["instances"]
    w = d["width"]
    kp, kf = a.gt_keypoints.tensor, b.gt_keypoints.tensor
    perm = flip_indices()
    assert torch.allclose(kf[:, :, 0], w - kp[:, perm, 0])
    assert torch.equal(kf[:, :, 1:], kp[:, perm, 1:])
    # figures face the camera: a person's left shoulder is right of the right one, flipped too
    for k in (kp, kf):
        assert (k[:, LS, 0] > k[:, RS, 0]).all()
    assert torch.allclose(b.gt_boxes.tensor[:, [0, 2]], w - a.gt_boxes.tensor[:, [2, 0]])
    assert torch.equal(b.gt_masks.tensor, a.gt_masks.tensor.flip(-1))
    assert torch.equal(a.gt_fully_visible, b.gt_fully_visible)
    assert a.gt_fully_visible.tolist() == [x["fully_visible"] for x in d["annotations"]
                                           if not x["iscrowd"]]


def test_target_fields_and_no_keypoint_leak(synthetic_root):
    cfg = _cfg()
    d = next(x for x in DatasetCatalog.get("synth_pd_val_kp") if x["annotations"])
    assert "keypoints" in d["annotations"][0]
    a = _mapper(cfg, [])(d)["instances"]
    b = _mapper(cfg, [T.RandomFlip(prob=1.0)])(d)["instances"]
    assert not a.has("gt_keypoints") and not a.has("gt_fully_visible")
    vis = np.array([x["vis_bbox"] for x in d["annotations"] if not x["iscrowd"]], np.float32)
    vis[:, 2:] += vis[:, :2]
    assert np.allclose(a.gt_vis_boxes.tensor.numpy(), vis)
    w = d["width"]
    assert torch.allclose(b.gt_vis_boxes.tensor[:, [0, 2]], w - a.gt_vis_boxes.tensor[:, [2, 0]])
    # visible boxes lie inside the full-body boxes
    fb, vb = a.gt_boxes.tensor, a.gt_vis_boxes.tensor
    assert (vb[:, :2] >= fb[:, :2]).all() and (vb[:, 2:] <= fb[:, 2:]).all()


def test_oracle_switch_keeps_target_keypoints(synthetic_root):
    cfg = _cfg()
    d = next(x for x in DatasetCatalog.get("synth_pd_train_kp") if x["annotations"])
    assert not _mapper(cfg, [])(d)["instances"].has("gt_keypoints")
    cfg.MODEL.OCCPOSE.POSE_HEAD.SUPERVISE_TARGET = True
    inst = _mapper(cfg, [])(d)["instances"]
    kept = [a for a in d["annotations"] if not a["iscrowd"]]
    kp = np.array([a["keypoints"] for a in kept], np.float32).reshape(-1, 13, 3)
    assert np.allclose(inst.gt_keypoints.tensor.numpy(), kp)
    assert not inst.has("gt_fully_visible")


def test_blur_and_brightness_from_config(synthetic_root):
    cfg = _cfg()
    cfg.INPUT.BLUR_PROB = 1.0
    names = [type(x).__name__ for x in OccPoseDatasetMapper(cfg, True).augmentations.augs]
    assert names == ["ResizeShortestEdge", "RandomFlip", "RandomBrightness", "RandomGaussianBlur"]
    cfg.INPUT.CONTRAST = (0.6, 1.4)
    cfg.INPUT.SATURATION = (0.5, 1.5)
    names = [type(x).__name__ for x in OccPoseDatasetMapper(cfg, True).augmentations.augs]
    assert names[2:] == ["RandomBrightness", "RandomContrast", "RandomSaturation",
                         "RandomGaussianBlur"]
    img = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
    t = RandomGaussianBlur(1.0, (1.0, 2.0)).get_transform(img)
    assert isinstance(t, GaussianBlurTransform) and 1.0 <= t.sigma <= 2.0
    assert np.abs(t.apply_image(img).astype(float) - img).mean() > 1
    seg = np.eye(32, dtype=np.uint8)
    assert np.array_equal(t.apply_segmentation(seg), seg)
    pts = np.array([[3.0, 4.0]])
    assert np.array_equal(t.apply_coords(pts), pts)
    assert type(RandomGaussianBlur(0.0, (1.0, 2.0)).get_transform(img)).__name__ == "NoOpTransform"


def test_sensor_noise_from_config_adds_noise_of_its_sigma_and_keeps_geometry(synthetic_root):
    cfg = _cfg()
    assert "RandomGaussianNoise" not in [type(x).__name__ for x in
                                         OccPoseDatasetMapper(cfg, True).augmentations.augs]
    cfg.INPUT.NOISE_PROB = 0.5
    cfg.INPUT.NOISE_SIGMA = (3.0, 5.0)
    last = OccPoseDatasetMapper(cfg, True).augmentations.augs[-1]
    assert isinstance(last, RandomGaussianNoise) and last.sigma_range == (3.0, 5.0)
    img = np.full((64, 64, 3), 128, np.uint8)
    t = RandomGaussianNoise(1.0, (4.0, 4.0)).get_transform(img)
    assert isinstance(t, GaussianNoiseTransform) and t.sigma == 4.0
    out = t.apply_image(img)
    assert out.dtype == np.uint8 and out.shape == img.shape
    diff = out.astype(float) - 128
    assert abs(diff.mean()) < 0.3 and 3.7 < diff.std() < 4.3
    # The same transform gives the same noise (image and its copy); values stay in [0, 255].
    assert np.array_equal(t.apply_image(img.copy()), out)
    assert GaussianNoiseTransform(50.0, 0).apply_image(np.zeros((8, 8), np.uint8)).min() == 0
    pts = np.array([[3.0, 4.0]])
    assert np.array_equal(t.apply_coords(pts), pts)
    assert type(RandomGaussianNoise(0.0, (1.0, 2.0)).get_transform(img)).__name__ == "NoOpTransform"
    with pytest.raises(ValueError, match="RandomGaussianNoise: bad prob"):
        RandomGaussianNoise(0.5, (0.0, 2.0))


@pytest.mark.parametrize("key, name, message", [
    ("TRAIN", "synth_pe_trian", "DATASETS.TRAIN: dataset 'synth_pe_trian' is not registered "
                                "(close matches: synth_pe_train"),
    ("TRAIN_TARGET", "citypersons", "DATASETS.TRAIN_TARGET: dataset 'citypersons' is not "
                                    "registered (close matches: citypersons_val, "
                                    "citypersons_train)"),
    ("TRAIN", "my_data", "DATASETS.TRAIN: dataset 'my_data' is not registered (no close match; "
                         "DatasetCatalog.list() names them all)"),
])
def test_misspelled_dataset_name_is_not_registered_with_close_matches(key, name, message):
    cfg = _cfg()
    setattr(cfg.DATASETS, key, (name,))
    with pytest.raises(ValueError) as e:
        build_two_domain_train_loader(cfg)
    assert str(e.value).startswith(message)


def test_misspelled_test_dataset_is_not_registered():
    from occpose_d2 import OccPoseTrainer

    with pytest.raises(ValueError, match=r"^DATASETS.TEST: dataset 'synth_pe_vla' is not "
                                         r"registered \(close matches: synth_pe_val"):
        OccPoseTrainer.build_test_loader(_cfg(), "synth_pe_vla")


def test_truncated_training_image_names_its_file(synthetic_root, tmp_path):
    d = dict(DatasetCatalog.get("synth_pe_train")[0])
    with open(d["file_name"], "rb") as f:
        data = f.read()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(data[: len(data) // 2])
    d["file_name"] = str(truncated)
    with pytest.raises(OSError) as e:
        OccPoseDatasetMapper(_cfg(), is_train=True)(d)
    assert str(e.value) == f"{truncated}: image file is truncated"
