"""Training mapper of occpose_d2: D2's ``DatasetMapper`` plus the two domains' extra fields.

Adds to D2's output ``Instances``: ``gt_fully_visible`` (bool (N,), source "pe"; the dict's
flag, False when an augmentation such as a crop left a joint outside the image) and
``gt_vis_boxes`` (``Boxes`` (N, 4) XYXY, visible boxes in the augmented image, target "pd").
Keypoints are kept for the source only: target dicts lose theirs in training, so no pose label
of the target can leak into unsupervised adaptation (except for the oracle,
``MODEL.OCCPOSE.POSE_HEAD.SUPERVISE_TARGET``, which keeps them). Full-body boxes are amodal and
are never recomputed from the (visible) masks. Augmentations (training): D2's resize / crop /
flip from ``INPUT.*``, then ``RandomBrightness(*INPUT.BRIGHTNESS)``, ``RandomContrast(
*INPUT.CONTRAST)``, ``RandomSaturation(*INPUT.SATURATION)`` (each only when its range is not
(1, 1)), ``RandomGaussianBlur(INPUT.BLUR_PROB, INPUT.BLUR_SIGMA)`` and, when
``INPUT.NOISE_PROB`` > 0, ``RandomGaussianNoise(INPUT.NOISE_PROB, INPUT.NOISE_SIGMA)``, in both
domains. Horizontal flips swap
left/right joints with the 13-joint flip map (``keypoint_hflip_indices``). With
``INPUT.OCCLUDERS.PROB > 0``, source images then get copy-paste occluders cut from the target's
training images (:mod:`.occluders`); before that, with ``INPUT.TARGET_STYLE.PROB > 0``, source
images may be re-coloured to the colour statistics of a random target training image
(:mod:`.target_style`). With ``INPUT.PERSON_PASTE.PROB > 0``, target images get fully visible
source persons pasted behind their own persons (:mod:`.person_paste`; with
``INPUT.PERSON_PASTE.STYLE_PROB > 0`` re-coloured to the person they stand beside, with
``INPUT.PERSON_PASTE.MATCH_CAMERA`` degraded to the image's blur and noise); only those
pasted persons carry pose labels (``gt_keypoints``, ``gt_pasted``) in a target image; with
``INPUT.PERSON_PASTE.OCCLUDER_PROB > 0`` each pasted person may then get a copy-paste occluder
of its own (:mod:`.occluders`).
"""

from typing import Optional

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Boxes, BoxMode

from ..domains import DOMAIN_SOURCE, DOMAIN_TARGET
from ..keypoints import flip_indices
from .occluders import PatchSampler, paste_occluders
from .person_paste import SourcePersonBank, paste_source_persons
from .target_style import TargetStyleBank, apply_target_style
from .transforms import RandomGaussianBlur, RandomGaussianNoise

__all__ = ["OccPoseDatasetMapper"]


class OccPoseDatasetMapper(DatasetMapper):
    """``DatasetMapper`` for both domains (mapped-dict contract in ``occpose_d2/data``)."""

    @configurable
    def __init__(self, is_train: bool = True, *, keep_target_keypoints: bool = False,
                 occluder_prob: float = 0.0, occluder_min_visible: float = 0.35,
                 occluder_patches: Optional[PatchSampler] = None, target_style_prob: float = 0.0,
                 target_styles: Optional[TargetStyleBank] = None, person_paste_prob: float = 0.0,
                 person_paste_max: int = 2, person_paste_min_visible: float = 0.35,
                 source_persons: Optional[SourcePersonBank] = None,
                 paste_occluder_prob: float = 0.0, person_paste_style_prob: float = 0.0,
                 person_paste_match_camera: bool = False, **kwargs):
        """
        Args:
            is_train, kwargs: as D2's ``DatasetMapper``.
            keep_target_keypoints: keep the keypoints of target ("pd") dicts (the oracle only).
            occluder_prob, occluder_min_visible: copy-paste occluders on source images
                (:func:`.occluders.paste_occluders`; 0 = off).
            occluder_patches: where their content comes from (needed when ``occluder_prob > 0``).
            target_style_prob: probability that a source image is re-coloured to a target style
                (:func:`.target_style.apply_target_style`; 0 = off).
            target_styles: where the styles come from (needed when ``target_style_prob > 0``).
            person_paste_prob, person_paste_max, person_paste_min_visible: source persons
                pasted into target images (:func:`.person_paste.paste_source_persons`; 0 = off).
            source_persons: the persons pasted (needed when ``person_paste_prob > 0``).
            paste_occluder_prob: probability that each pasted person also gets a copy-paste
                occluder (content from ``occluder_patches``, least visible fraction
                ``occluder_min_visible``; 0 = off).
            person_paste_style_prob: probability that a pasted person is re-coloured to the
                target person it stands beside (:func:`.person_paste.restyle_to_anchor`;
                0 = off; needs ``INPUT.FORMAT`` "BGR" or "RGB").
            person_paste_match_camera: degrade each pasted person to its host image's blur and
                noise (:func:`.camera_match.match_camera`).
        """
        super().__init__(is_train, **kwargs)
        self.keep_target_keypoints = keep_target_keypoints
        if (occluder_prob > 0 or paste_occluder_prob > 0) and occluder_patches is None:
            raise ValueError("occluder_prob > 0 or paste_occluder_prob > 0 needs occluder_patches")
        self.occluder_prob = occluder_prob
        self.occluder_min_visible = occluder_min_visible
        self.occluder_patches = occluder_patches
        if target_style_prob > 0 and target_styles is None:
            raise ValueError("target_style_prob > 0 needs target_styles")
        self.target_style_prob = target_style_prob
        self.target_styles = target_styles
        if person_paste_prob > 0 and source_persons is None:
            raise ValueError("person_paste_prob > 0 needs source_persons")
        self.person_paste_prob = person_paste_prob
        self.person_paste_max = person_paste_max
        self.person_paste_min_visible = person_paste_min_visible
        self.source_persons = source_persons
        self.paste_occluder_prob = paste_occluder_prob
        self.person_paste_style_prob = person_paste_style_prob
        self.person_paste_match_camera = person_paste_match_camera

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = super().from_config(cfg, is_train)
        ret["use_keypoint"] = True
        ret["keep_target_keypoints"] = cfg.MODEL.OCCPOSE.POSE_HEAD.SUPERVISE_TARGET
        # From the training sets' metadata (all share the 13-joint flip map), like D2.
        ret["keypoint_hflip_indices"] = np.asarray(
            utils.create_keypoint_hflip_indices(cfg.DATASETS.TRAIN) if cfg.DATASETS.TRAIN
            else flip_indices()
        )
        ret["recompute_boxes"] = False
        occ, style, paste = cfg.INPUT.OCCLUDERS, cfg.INPUT.TARGET_STYLE, cfg.INPUT.PERSON_PASTE
        paste_occluders = paste.PROB > 0 and paste.OCCLUDER_PROB > 0
        if is_train and (occ.PROB > 0 or style.PROB > 0 or paste_occluders):
            names = cfg.DATASETS.TRAIN_TARGET or cfg.DATASETS.TRAIN
            target_dicts = [d for name in names for d in DatasetCatalog.get(name)]
        if is_train and (occ.PROB > 0 or paste_occluders):
            files = [d["file_name"] for d in target_dicts]
            ret["occluder_prob"] = occ.PROB
            ret["occluder_min_visible"] = occ.MIN_VISIBLE
            ret["occluder_patches"] = PatchSampler(list(dict.fromkeys(files)), cfg.INPUT.FORMAT)
        if is_train and style.PROB > 0:
            ret["target_style_prob"] = style.PROB
            ret["target_styles"] = TargetStyleBank(target_dicts, cfg.INPUT.FORMAT)
        if is_train and paste.PROB > 0:
            source_dicts = [d for name in cfg.DATASETS.TRAIN for d in DatasetCatalog.get(name)]
            ret["person_paste_prob"] = paste.PROB
            ret["person_paste_max"] = paste.MAX_PERSONS
            ret["person_paste_min_visible"] = paste.MIN_VISIBLE
            ret["source_persons"] = SourcePersonBank(source_dicts, cfg.INPUT.FORMAT)
            ret["paste_occluder_prob"] = paste.OCCLUDER_PROB
            ret["person_paste_style_prob"] = paste.STYLE_PROB
            ret["person_paste_match_camera"] = paste.MATCH_CAMERA
        if is_train:
            for key, aug in (("BRIGHTNESS", T.RandomBrightness), ("CONTRAST", T.RandomContrast),
                             ("SATURATION", T.RandomSaturation)):
                lo, hi = cfg.INPUT[key]
                if (lo, hi) != (1.0, 1.0):
                    ret["augmentations"].append(aug(lo, hi))
            if cfg.INPUT.BLUR_PROB > 0:
                ret["augmentations"].append(
                    RandomGaussianBlur(cfg.INPUT.BLUR_PROB, tuple(cfg.INPUT.BLUR_SIGMA)))
            if cfg.INPUT.NOISE_PROB > 0:
                ret["augmentations"].append(
                    RandomGaussianNoise(cfg.INPUT.NOISE_PROB, tuple(cfg.INPUT.NOISE_SIGMA)))
        return ret

    def __call__(self, dataset_dict):
        """D2's mapping; an image that cannot be read (e.g. truncated) is an ``OSError`` naming
        its file."""
        try:
            out = super().__call__(dataset_dict)
        except (OSError, SyntaxError) as e:  # PIL: truncated or not an image
            raise OSError(f"{dataset_dict.get('file_name')}: {e}") from e
        if not (self.is_train and "instances" in out):
            return out
        image = out["image"].permute(1, 2, 0).numpy()  # (H, W, C) view of the CHW tensor
        if out.get("domain") == DOMAIN_TARGET:
            if self.person_paste_prob > 0 and np.random.uniform() < self.person_paste_prob:
                out["instances"] = paste_source_persons(
                    image, out["instances"], self.person_paste_max,
                    self.person_paste_min_visible, self.source_persons.sample, np.random,
                    self.person_paste_style_prob, self.image_format,
                    self.person_paste_match_camera)
                if self.paste_occluder_prob > 0 and out["instances"].has("gt_pasted"):
                    paste_occluders(image, out["instances"], self.paste_occluder_prob,
                                    self.occluder_min_visible, self.occluder_patches, np.random,
                                    aims=out["instances"].gt_pasted)
            return out
        if out.get("domain") != DOMAIN_SOURCE:
            return out
        if self.target_style_prob > 0 and np.random.uniform() < self.target_style_prob:
            apply_target_style(image, out["instances"], self.image_format,
                               self.target_styles.sample(np.random), np.random)
        if self.occluder_prob > 0:
            paste_occluders(image, out["instances"], self.occluder_prob,
                            self.occluder_min_visible, self.occluder_patches, np.random)
        return out

    @staticmethod
    def _fully_visible(anno) -> bool:
        """The dict's flag, withdrawn when an augmentation moved a joint out of the image."""
        kps = anno.get("keypoints")
        inside = kps is None or bool((np.asarray(kps)[:, 2] == 2).all())
        return bool(anno.get("fully_visible", False)) and inside

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        domain = dataset_dict.get("domain")
        annos = []
        for obj in dataset_dict.pop("annotations"):
            if obj.get("iscrowd", 0):
                continue
            if not self.use_instance_mask:
                obj.pop("segmentation", None)
            if domain == DOMAIN_TARGET and not self.keep_target_keypoints:
                obj.pop("keypoints", None)
            vis = obj.get("vis_bbox")
            obj = utils.transform_instance_annotations(
                obj, transforms, image_shape, keypoint_hflip_indices=self.keypoint_hflip_indices)
            if vis is not None:
                xyxy = BoxMode.convert(list(vis), BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
                xyxy = transforms.apply_box(np.asarray([xyxy], dtype=np.float64))[0]
                obj["vis_bbox"] = np.minimum(np.maximum(xyxy, 0), list(image_shape[::-1]) * 2)
            annos.append(obj)
        instances = utils.annotations_to_instances(
            annos, image_shape, mask_format=self.instance_mask_format)
        if domain == DOMAIN_SOURCE:
            instances.gt_fully_visible = torch.tensor(
                [self._fully_visible(a) for a in annos], dtype=torch.bool)
        if domain == DOMAIN_TARGET:
            boxes = [a.get("vis_bbox", a["bbox"]) for a in annos]
            instances.gt_vis_boxes = Boxes(torch.as_tensor(
                np.asarray(boxes, dtype=np.float32).reshape(-1, 4)))
        dataset_dict["instances"] = utils.filter_empty_instances(instances)
