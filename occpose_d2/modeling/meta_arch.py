"""OccPoseRCNN: two domain-specific Faster R-CNNs + the shared occlusion-aware instance heads.

Training input: D2 dicts after the mapper, each with ``domain`` "pe" (source, poses) or "pd"
(target, no poses); a batch may mix both. Each domain's images go through that domain's
detector (backbone + RPN + box head, D2's own modules); its losses get a ``_pe`` / ``_pd``
suffix. Person boxes of both domains (see ``MODEL.OCCPOSE.TRAIN_BOXES``) are pooled from their
detector's features into F_raw and fed to :class:`OccPoseInstanceHeads`.
"""

import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_model
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import get_event_storage
from torch import nn

from ..config import validate_occpose_config
from ..domains import DOMAIN_LABELS, DOMAIN_SOURCE, DOMAIN_TARGET, DOMAINS
from .domain_norm import convert_to_domain_batchnorm, domain_batchnorm_layers, norm_domain
from .image_domain_head import build_image_domain_head
from .instance_heads import (
    OccPoseInstanceHeads,
    drop_duplicate_poses,
    mirror_boxes,
    pose_nms_thresh_from_config,
)
from .sampling import select_training_instances

__all__ = ["OccPoseRCNN", "build_domain_detector_cfg", "detector_loss_names", "DETECTOR_PARTS"]

# The sub-modules of a detector (a D2 GeneralizedRCNN) that MODEL.OCCPOSE.DETECTOR_TIE can tie.
DETECTOR_PARTS = ("backbone", "proposal_generator", "roi_heads")


def detector_loss_names(detector: nn.Module) -> Tuple[str, ...]:
    """The training losses of one domain's detector (a D2 GeneralizedRCNN): the RPN's and the box
    head's, one box-head pair per stage (``_stage<k>``) for D2's ``CascadeROIHeads``. In training
    each gets the domain's suffix, e.g. "loss_cls_pd"."""
    box = ("loss_cls", "loss_box_reg")
    stages = getattr(detector.roi_heads, "num_cascade_stages", None)
    if stages is not None:
        box = tuple(f"{name}_stage{k}" for k in range(stages) for name in box)
    return ("loss_rpn_cls", "loss_rpn_loc") + box


def build_domain_detector_cfg(cfg):
    """A clone of ``cfg`` describing one box-only Faster R-CNN (GeneralizedRCNN, no masks or
    keypoints; its ROI heads are ``MODEL.ROI_HEADS.NAME``, e.g. D2's StandardROIHeads or
    CascadeROIHeads, and StandardROIHeads when they were ours). ``cfg`` is left untouched."""
    det_cfg = cfg.clone()
    det_cfg.defrost()
    det_cfg.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    det_cfg.MODEL.MASK_ON = False
    det_cfg.MODEL.KEYPOINT_ON = False
    if det_cfg.MODEL.ROI_HEADS.NAME == "OccPoseROIHeads":
        det_cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    det_cfg.freeze()
    return det_cfg


@META_ARCH_REGISTRY.register()
class OccPoseRCNN(nn.Module):
    """The paper's Fig. 2 as a D2 meta-architecture (see the module docstring and
    docs/ARCHITECTURE.md)."""

    # inference() takes given boxes with a test-time masking ratio and seed (occlusion AP).
    supports_test_masking = True

    @configurable
    def __init__(
        self,
        *,
        detectors: nn.ModuleDict,
        instance_heads: OccPoseInstanceHeads,
        train_boxes: str = "gt",
        box_jitter: float = 0.0,
        max_train_instances: int = 32,
        detectors_only: bool = False,
        test_domain: str = DOMAIN_TARGET,
        test_score_thresh: float = 0.0,
        detector_tie_weight: float = 0.0,
        detector_tie_modules: Sequence[str] = ("backbone",),
        flip_test: bool = False,
        image_domain_head: Optional[nn.Module] = None,
        pose_nms_thresh: Optional[float] = None,
        source_via_target: float = 0.0,
    ):
        """
        Args:
            detectors: {"pe": GeneralizedRCNN, "pd": GeneralizedRCNN} box-only detectors (the
                same module twice to share them); they hold pixel_mean/std and preprocessing.
            instance_heads: the shared instance-level heads.
            train_boxes, box_jitter, max_train_instances: see :func:`select_training_instances`.
            detectors_only: train the detectors only (pre-training); the instance heads are
                frozen (``requires_grad=False``) so DDP and the optimizer skip them.
            test_domain: detector used at inference for inputs without a "domain".
            test_score_thresh: detections scoring below it are dropped at inference.
            detector_tie_weight: weight w of ``loss_detector_tie`` = w * sum of squared
                differences between the two detectors' parameters in ``detector_tie_modules``
                (soft weight sharing; 0 = off, and always 0 with shared detectors).
            detector_tie_modules: detector sub-modules tied ("backbone", "proposal_generator",
                "roi_heads").
            flip_test: at inference, also pool the mirrored boxes from the backbone features of
                the horizontally flipped input and let the instance heads average the two poses
                (see :meth:`OccPoseInstanceHeads.predict`). The whole padded input is flipped,
                so an image with padding sees it on its left in that pass.
            image_domain_head: optional image-level domain classifier on both detectors'
                backbone features (:mod:`.image_domain_head`; None: instance level only).
            pose_nms_thresh: at inference on detected boxes, drop a detection whose pose has
                OKS above it with a higher-scored one's (:func:`~.pose_head.pose_nms`, after
                rescoring, :func:`~.instance_heads.drop_duplicate_poses`; None: no pose NMS).
            source_via_target: probability per training step that the source images also go
                through the target detector's backbone: their chosen instances, pooled from it,
                join the instance heads' batch as source instances, so the source pose labels
                reach the target backbone (0 = never; no effect with shared detectors).
        """
        super().__init__()
        if set(detectors.keys()) != set(DOMAINS):
            raise ValueError(f"detectors must have keys {DOMAINS}, got {list(detectors.keys())}")
        self.detectors = detectors
        self.instance_heads = instance_heads
        self.train_boxes = train_boxes
        self.box_jitter = box_jitter
        self.max_train_instances = max_train_instances
        self.detectors_only = detectors_only
        self.test_domain = test_domain
        self.test_score_thresh = test_score_thresh
        shared = detectors[DOMAIN_SOURCE] is detectors[DOMAIN_TARGET]
        self.detector_tie_weight = 0.0 if shared else detector_tie_weight
        self.detector_tie_modules = tuple(detector_tie_modules)
        self.flip_test = flip_test
        self.image_domain_head = image_domain_head
        self.pose_nms_thresh = pose_nms_thresh
        self.source_via_target = 0.0 if shared else source_via_target
        # whether a backbone has per-domain BatchNorm statistics to pick (DOMAIN_NORM)
        self.domain_norm = bool(domain_batchnorm_layers(self.detectors))
        if detectors_only:
            instance_heads.requires_grad_(False)

    @classmethod
    def from_config(cls, cfg):
        validate_occpose_config(cfg)
        o = cfg.MODEL.OCCPOSE
        det_cfg = build_domain_detector_cfg(cfg)
        pe = build_model(det_cfg)
        # Two detectors start from the same weights, as the paper's do (both are pre-trained from
        # one set of ImageNet weights): from-scratch runs would otherwise begin with unrelated
        # feature spaces that instance-level alignment has to reconcile by chance.
        pd = pe if o.SHARE_DETECTORS else copy.deepcopy(pe)
        if o.DOMAIN_NORM:
            convert_to_domain_batchnorm(pe.backbone, len(DOMAINS))
            if not domain_batchnorm_layers(pe.backbone):
                raise ValueError("MODEL.OCCPOSE.DOMAIN_NORM: the backbone has no BatchNorm2d "
                                 "layer to keep per-domain statistics in (its NORM is not 'BN')")
        return {
            "detectors": nn.ModuleDict({DOMAIN_SOURCE: pe, DOMAIN_TARGET: pd}),
            "instance_heads": OccPoseInstanceHeads(cfg, pe.backbone.output_shape()),
            "train_boxes": o.TRAIN_BOXES,
            "box_jitter": o.BOX_JITTER,
            "max_train_instances": o.MAX_TRAIN_INSTANCES,
            "detectors_only": o.DETECTORS_ONLY,
            "test_domain": o.TEST_DOMAIN,
            "test_score_thresh": o.TEST_SCORE_THRESH,
            "detector_tie_weight": o.DETECTOR_TIE.WEIGHT,
            "detector_tie_modules": tuple(o.DETECTOR_TIE.MODULES),
            "flip_test": o.POSE_HEAD.FLIP_TEST,
            "image_domain_head": build_image_domain_head(cfg, pe.backbone.output_shape())
            if o.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT > 0 else None,
            "pose_nms_thresh": pose_nms_thresh_from_config(cfg),
            "source_via_target": o.SOURCE_VIA_TARGET,
        }

    @property
    def device(self) -> torch.device:
        return self.detectors[DOMAIN_SOURCE].pixel_mean.device

    def _group_by_domain(self, batched_inputs: List[dict]) -> Dict[str, List[int]]:
        """Input indices per domain; in training every input must say its "domain"."""
        groups: Dict[str, List[int]] = {d: [] for d in DOMAINS}
        for i, x in enumerate(batched_inputs):
            if self.training and "domain" not in x:
                raise ValueError(f"Training input {x.get('file_name', i)} has no 'domain' "
                                 f"(expected one of {DOMAINS}; the two-domain loader sets it)")
            d = x.get("domain", self.test_domain)
            if d not in groups:
                raise ValueError(f"Input {x.get('file_name', i)} has domain {d!r}, expected one "
                                 f"of {DOMAINS}")
            groups[d].append(i)
        return groups

    def forward(self, batched_inputs: List[dict]):
        """Training: dict of losses (see the module docstring); inference: :meth:`inference`."""
        if not self.training:
            return self.inference(batched_inputs)
        losses: Dict[str, torch.Tensor] = {}
        pooled, mirrored, instances, domains, image_domain = [], [], [], [], []
        st = self.instance_heads.self_training
        flip_teacher = st is not None and not self.detectors_only and st.wants_mirrored()
        groups = self._group_by_domain(batched_inputs)
        for d in DOMAINS:
            if not groups[d]:
                continue
            inputs = [batched_inputs[i] for i in groups[d]]
            if any("instances" not in x for x in inputs):
                raise ValueError("OccPoseRCNN training inputs need 'instances'")
            det, images, features = self._backbone_features(d, inputs)
            targets = [x["instances"].to(self.device) for x in inputs]
            proposals, rpn_losses = det.proposal_generator(images, features, targets)
            sampled, box_losses = det.roi_heads(images, features, proposals, targets)
            losses.update({f"{k}_{d}": v for k, v in {**rpn_losses, **box_losses}.items()})
            if self.image_domain_head is not None:
                labels = torch.full((len(inputs),), DOMAIN_LABELS[d], device=self.device)
                image_domain.append(self.image_domain_head.loss(features, labels))
            if self.detectors_only:
                continue
            chosen = select_training_instances(
                targets, sampled, train_boxes=self.train_boxes, box_jitter=self.box_jitter,
                max_instances=self.max_train_instances,
                num_classes=det.roi_heads.num_classes,
            )
            x = self.instance_heads.pool(features, [c.proposal_boxes for c in chosen])
            if len(x):
                # Per-domain F_raw statistics: how far apart the two detectors' features drift.
                storage = get_event_storage()
                storage.put_scalar(f"occpose/roi_feat_mean_{d}", x.detach().mean().item())
                storage.put_scalar(f"occpose/roi_feat_std_{d}", x.detach().std().item())
            pooled.append(x)
            if flip_teacher:
                # the self-training flip teacher reads target instances in the flipped images
                mirrored.append(
                    self._mirrored_features(det, d, images, [c.proposal_boxes for c in chosen])
                    if d == DOMAIN_TARGET else torch.zeros_like(x))
            instances.extend(chosen)
            domains.extend([d] * len(chosen))
            if d == DOMAIN_SOURCE and self._route_source_via_target():
                x = self._pool_in_target_backbone(inputs, chosen)
                pooled.append(x)
                if flip_teacher:
                    mirrored.append(torch.zeros_like(x))
                instances.extend(chosen)
                domains.extend([d] * len(chosen))
        self._add_absent_domain_losses(losses, groups)
        if image_domain:
            # the mean of the two domains' per-location losses: each domain weighs the same
            h = self.image_domain_head
            losses[h.loss_name] = h.loss_weight * torch.stack(image_domain).mean()
        if self.detector_tie_weight > 0:
            losses["loss_detector_tie"] = self.detector_tie_weight * self.detector_distance()
        if not self.detectors_only:
            losses.update(self.instance_heads(torch.cat(pooled), instances, domains,
                                              x_mirrored=torch.cat(mirrored) if mirrored else None))
        return losses

    def _route_source_via_target(self) -> bool:
        """Whether this training step also pools the source instances from the target backbone
        (drawn with probability ``source_via_target`` from torch's global generator)."""
        return self.source_via_target > 0 and torch.rand(()).item() < self.source_via_target

    def _pool_in_target_backbone(self, inputs: List[dict], chosen: List[Instances]
                                 ) -> torch.Tensor:
        """``R x C x P x P`` F_raw of the source instances ``chosen`` (boxes in the source
        images' network-input frame) pooled from the target detector's backbone features of the
        same images: the source pose labels then train the target backbone too."""
        _, _, features = self._backbone_features(DOMAIN_TARGET, inputs)
        return self.instance_heads.pool(features, [c.proposal_boxes for c in chosen])

    def _backbone_features(self, domain: str, inputs: List[dict]):
        """One domain's detector, its preprocessed ``ImageList`` of ``inputs`` and the backbone
        features ``{name: N x C x H x W}``."""
        det = self.detectors[domain]
        images = det.preprocess_image(inputs)
        return det, images, self._run_backbone(det, domain, images.tensor)

    def _run_backbone(self, det, domain: str, tensor: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``det.backbone(tensor)`` with the running statistics of ``domain`` in its
        domain-specific BatchNorm layers (``MODEL.OCCPOSE.DOMAIN_NORM``; a plain call
        without them)."""
        if not self.domain_norm:
            return det.backbone(tensor)
        with norm_domain(det.backbone, DOMAINS.index(domain)):
            return det.backbone(tensor)

    def detector_distance(self) -> torch.Tensor:
        """Sum of squared differences between the two detectors' trainable parameters
        in ``detector_tie_modules`` (a scalar; 0 for shared detectors)."""
        pe, pd = self.detectors[DOMAIN_SOURCE], self.detectors[DOMAIN_TARGET]
        total = pe.pixel_mean.new_zeros(())
        for name in self.detector_tie_modules:
            for a, b in zip(getattr(pe, name).parameters(), getattr(pd, name).parameters()):
                if a.requires_grad:
                    total = total + (a - b).pow(2).sum()
        return total

    def _add_absent_domain_losses(self, losses: Dict[str, torch.Tensor], groups) -> None:
        """Zero :func:`detector_loss_names` losses for a domain without images in this batch,
        tied to all of its detector's parameters so DDP sees every parameter take part."""
        for d in DOMAINS:
            if groups[d]:
                continue
            zero = sum(p.sum() for p in self.detectors[d].parameters() if p.requires_grad) * 0.0
            names = detector_loss_names(self.detectors[d])
            losses.update({f"{name}_{d}": zero for name in names})

    def inference(
        self,
        batched_inputs: List[dict],
        detected_instances: Optional[List[Instances]] = None,
        do_postprocess: bool = True,
        mask_ratio: Optional[float] = None,
        mask_seed: Optional[int] = None,
    ):
        """Detect persons (or take ``detected_instances``) and predict masks and poses.

        Args:
            batched_inputs: D2 dicts with "image" (and "height"/"width", "domain").
            detected_instances: optional, per input, Instances with ``pred_boxes`` (and optional
                ``scores``, ``pred_classes``) in ORIGINAL image coordinates ("height"/"width");
                with ``gt_masks`` (``BitMasks`` / ``PolygonMasks`` in the same frame) the pose
                path reads these visible masks instead of the predicted ones.
            do_postprocess: rescale to the original size (D2's ``detector_postprocess``).
            mask_ratio: Mask-and-Predict ratio p applied at test time (default
                ``MASK_AND_PREDICT.TEST_RATIO``).
            mask_seed: seed of that masking (default ``MASK_AND_PREDICT.TEST_SEED``); the same
                seed and inputs give the same result.

        Returns:
            list of {"instances": Instances} (postprocessed), or list of Instances (raw).
        """
        return self.inference_at_ratios(batched_inputs, detected_instances, do_postprocess,
                                        [mask_ratio], mask_seed)[0]

    def inference_at_ratios(
        self,
        batched_inputs: List[dict],
        detected_instances: Optional[List[Instances]] = None,
        do_postprocess: bool = True,
        mask_ratios: Sequence[Optional[float]] = (None,),
        mask_seed: Optional[int] = None,
    ) -> list:
        """:meth:`inference` at several test-time masking ratios, with one backbone (and, with
        the flip test, one mirrored) pass per input: element k is what ``inference(...,
        mask_ratio=mask_ratios[k], mask_seed=mask_seed)`` returns (the occlusion evaluation)."""
        assert not self.training
        # One generator per ratio, created as inference() creates its one: same masks.
        generators = [self.instance_heads.mask_and_predict.generator(mask_seed)
                      for _ in mask_ratios]
        results: List[List[Optional[Instances]]] = [[None] * len(batched_inputs)
                                                    for _ in mask_ratios]
        sizes: List[Optional[tuple]] = [None] * len(batched_inputs)
        for d, idxs in self._group_by_domain(batched_inputs).items():
            if not idxs:
                continue
            det, images, features = self._backbone_features(d, [batched_inputs[i] for i in idxs])
            if detected_instances is None:
                proposals, _ = det.proposal_generator(images, features, None)
                found, _ = det.roi_heads(images, features, proposals, None)
                found = [r[r.scores >= self.test_score_thresh] for r in found]
            else:
                found = [
                    self._to_input_coords(detected_instances[i], batched_inputs[i], size)
                    for i, size in zip(idxs, images.image_sizes)
                ]
            x = self.instance_heads.pool(features, [r.pred_boxes for r in found])
            x_mirrored = (self._mirrored_features(det, d, images, [r.pred_boxes for r in found])
                          if self.flip_test else None)
            for k, (ratio, generator) in enumerate(zip(mask_ratios, generators)):
                # the heads set fields on the Instances they get, and detector_postprocess
                # rescales their boxes in place: each ratio gets its own of both
                boxes = [Instances(r.image_size,
                                   **{**r.get_fields(), "pred_boxes": r.pred_boxes.clone()})
                         for r in found]
                out = self.instance_heads(x, boxes, mask_ratio=ratio, generator=generator,
                                          x_mirrored=x_mirrored)
                if detected_instances is None and self.pose_nms_thresh is not None:
                    out = [drop_duplicate_poses(r, self.pose_nms_thresh) for r in out]
                for i, r, size in zip(idxs, out, images.image_sizes):
                    results[k][i], sizes[i] = r, size
        if not do_postprocess:
            return results
        return [
            [{"instances": detector_postprocess(r, x.get("height", s[0]), x.get("width", s[1]))}
             for r, x, s in zip(per_input, batched_inputs, sizes)]
            for per_input in results
        ]

    def _mirrored_features(self, det, domain: str, images, boxes: List[Boxes]) -> torch.Tensor:
        """F_raw of ``boxes`` (per image) mirrored, pooled from the backbone features of the
        horizontally flipped (padded) input batch: ``R x C x P x P``, rows as for ``boxes``.
        No gradient: it serves the flip test and the self-training teacher."""
        with torch.no_grad():
            flipped = images.tensor.flip(-1)
            width = flipped.shape[-1]
            rois = [Boxes(mirror_boxes(b.tensor, width)) for b in boxes]
            return self.instance_heads.pool(self._run_backbone(det, domain, flipped), rois)

    def _to_input_coords(self, given: Instances, inp: dict, size) -> Instances:
        """Given boxes in original coordinates -> Instances in the network input's frame."""
        h, w = size
        sx, sy = w / inp.get("width", w), h / inp.get("height", h)
        boxes = given.pred_boxes.tensor.to(self.device, torch.float32)
        boxes = boxes * boxes.new_tensor([sx, sy, sx, sy])
        n = len(boxes)
        out = Instances((h, w))
        out.pred_boxes = Boxes(boxes)
        out.scores = (given.scores.to(self.device) if given.has("scores")
                      else torch.ones(n, device=self.device))
        out.pred_classes = (given.pred_classes.to(self.device) if given.has("pred_classes")
                            else torch.zeros(n, dtype=torch.long, device=self.device))
        if given.has("gt_masks"):  # true visible masks for the pose path (a diagnosis)
            out.given_mask_maps = self.instance_heads.mask_maps(
                given.gt_masks, given.pred_boxes.tensor).to(self.device)
        return out
