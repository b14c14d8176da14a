"""The instance-level part of Fig. 2, shared by OccPoseRCNN and OccPoseROIHeads.

F_raw (RoIAlign) -> E_C -> F_DI, then
  * D_Seg -> visible-mask logits (BCE, both domains, weight alpha),
  * GRL -> C -> domain logit (BCE, both domains, weight beta; only with a domain head),
  * D_C -> features x Mask-and-Predict(segmentation map) -> pose encoder-decoder -> 13 heatmaps
    (source instances only: "pe" and fully visible, weight gamma; the oracle's
    ``POSE_HEAD.SUPERVISE_TARGET`` adds labeled target persons, ``INPUT.PERSON_PASTE`` source
    persons pasted into target images),
  * optionally, heatmaps -> GRL -> pose-level domain classifier (both domains; beyond the paper,
    :mod:`.pose_domain_head`),
  * optionally, target heatmaps -> silhouette coverage against the target's visible masks
    (beyond the paper, :mod:`.silhouette`).

The instance RoIs are the boxes grown by ``MODEL.OCCPOSE.ROI_SCALE`` about their centres (1 = the
boxes themselves, as the paper): every sub-head then sees a margin around the person, and joints
just outside a tight or occlusion-cut box can still be predicted. Masks are returned over the
original boxes (:func:`crop_to_inner_boxes`).

The segmentation map enters the pose branch detached: D_Seg is trained by its BCE only, so it
stays a faithful visible-mask predictor (``pred_masks``, ``pred_keypoint_visible``), and the pose
loss reaches E_C (and the detectors) through D_C.
"""

from typing import Dict, List, Optional, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, cat
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes, Instances
from torch import nn
from torchvision.ops import roi_align

from ..domains import DOMAIN_LABELS, DOMAIN_SOURCE, DOMAIN_TARGET
from ..keypoints import NUM_KEYPOINTS, flip_indices
from .common_encoder import build_common_encoder
from .context_decoder import build_context_decoder
from .domain_head import build_domain_head
from .grl import GradientReversal
from .mask_and_predict import MaskAndPredict
from .pose_domain_head import build_pose_domain_head
from .pose_head import (
    DECODERS,
    RESCORE_BY,
    box_cell_coords,
    build_pose_head,
    decode_expected_oks,
    decode_heatmaps,
    expected_oks,
    pose_nms,
    unmirror_heatmaps,
)
from .seg_head import build_seg_head, seg_targets
from .self_training import POSE_PATH, PoseSelfTraining
from .silhouette import expected_joints, silhouette_coverage_loss

__all__ = ["OccPoseInstanceHeads", "pose_supervised", "keypoints_on_mask", "SUPERVISE_MODES",
           "scale_boxes", "crop_to_inner_boxes", "mirror_boxes", "visible_areas",
           "drop_duplicate_poses", "pose_nms_thresh_from_config"]

# Which source instances give pose loss (``MODEL.OCCPOSE.POSE_HEAD.SUPERVISE``).
SUPERVISE_MODES = ("fully_visible", "labeled")


def pose_supervised(
    instances: Instances, domain: str, supervise: str, supervise_target: bool = False
) -> torch.Tensor:
    """``(R,)`` bool: which instances of one image give pose loss. Never ones without
    ``gt_keypoints``. Target ("pd") ones: with ``supervise_target`` (the oracle) every one with a
    labeled joint, else only source persons pasted there (``gt_pasted``, ``INPUT.PERSON_PASTE``)
    with a labeled joint. Source ones: with ``supervise == "fully_visible"`` only those with
    ``gt_fully_visible`` (or, without that field, all joints v = 2); with "labeled" all."""
    device = instances.proposal_boxes.device
    none = torch.zeros(len(instances), dtype=torch.bool, device=device)
    if not instances.has("gt_keypoints"):
        return none
    vis = instances.gt_keypoints.tensor[..., 2]
    if domain == DOMAIN_TARGET:
        if supervise_target:
            return (vis > 0).any(dim=1)
        if instances.has("gt_pasted"):
            return instances.gt_pasted.to(device=device, dtype=torch.bool) & (vis > 0).any(dim=1)
        return none
    if supervise == "labeled":
        return (vis > 0).any(dim=1)
    if instances.has("gt_fully_visible"):
        return instances.gt_fully_visible.to(device=device, dtype=torch.bool)
    return (vis == 2).all(dim=1)


def scale_boxes(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """``R x 4`` XYXY boxes (pixels) grown by ``scale`` about their centres (returned as is
    for 1)."""
    if scale == 1.0:
        return boxes
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    halves = (boxes[:, 2:] - boxes[:, :2]) * (scale / 2)
    return torch.cat([centres - halves, centres + halves], dim=1)


def mirror_boxes(boxes: torch.Tensor, width) -> torch.Tensor:
    """``R x 4`` XYXY boxes (pixels) of an image ``width`` pixels wide -> the same boxes in the
    horizontally flipped image (x -> width - x)."""
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)


def crop_to_inner_boxes(maps: torch.Tensor, scale: float) -> torch.Tensor:
    """``R x C x M x M`` maps over boxes grown by ``scale`` -> the same maps over the original
    boxes: the central ``M / scale`` cells of each side, resampled to ``M x M`` (RoIAlign,
    traceable; returned as is for 1)."""
    if scale == 1.0:
        return maps
    side = maps.shape[-1]
    lo = side * (1.0 - 1.0 / scale) / 2
    index = torch.arange(maps.shape[0], device=maps.device, dtype=maps.dtype)[:, None]
    corners = torch.tensor([lo, lo, side - lo, side - lo], device=maps.device, dtype=maps.dtype)
    rois = torch.cat([index, corners.expand(maps.shape[0], 4)], dim=1)
    return roi_align(maps, rois, output_size=side, spatial_scale=1.0, sampling_ratio=2,
                     aligned=True)


def keypoints_on_mask(keypoints: torch.Tensor, boxes: torch.Tensor, mask_probs: torch.Tensor):
    """``(R, K)`` bool: the joint (``R x K x 3``, pixels) lies inside its box (``R x 4``) on a
    cell of the box's ``R x M x M`` visible-mask probabilities that is >= 0.5."""
    side = mask_probs.shape[-1]
    u, v, inside = box_cell_coords(keypoints, boxes, side)
    cells = torch.arange(side, device=boxes.device)
    rows = (v.floor().clamp(0, side - 1)[..., None] == cells).to(mask_probs.dtype)  # R x K x M
    cols = (u.floor().clamp(0, side - 1)[..., None] == cells).to(mask_probs.dtype)
    # one-hot picks instead of indexing: traceable, and the exported graph runs for any R (0 too)
    probs = ((rows @ mask_probs) * cols).sum(dim=2)
    return inside & (probs >= 0.5)


def visible_areas(mask_probs: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``R`` visible areas in px^2: the cells of each box's ``R x M x M`` visible-mask
    probabilities that are >= 0.5 (as :func:`keypoints_on_mask` reads them), times the cell
    area of its ``R x 4`` XYXY box."""
    side = mask_probs.shape[-1]
    cells = (mask_probs >= 0.5).to(boxes.dtype).sum(dim=(1, 2))
    return cells * (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / side ** 2


def pose_nms_thresh_from_config(cfg) -> Optional[float]:
    """``MODEL.OCCPOSE.POSE_NMS``'s OKS threshold, or None when pose NMS is off."""
    nms = cfg.MODEL.OCCPOSE.POSE_NMS
    return nms.OKS_THRESH if nms.ENABLED else None


def drop_duplicate_poses(found: Instances, oks_thresh: float) -> Instances:
    """Pose NMS on one image's inference ``found`` (``pred_boxes``, ``scores``, ``pred_masks``
    ``N x 1 x M x M`` visible-mask probabilities, ``pred_keypoints``): the instances that
    :func:`~.pose_head.pose_nms` keeps at ``oks_thresh``, OKS taken with the visible-mask areas
    (:func:`visible_areas`), as expected-OKS decoding and rescoring take them."""
    areas = visible_areas(found.pred_masks[:, 0], found.pred_boxes.tensor)
    return found[pose_nms(found.pred_keypoints, found.scores, areas, oks_thresh)]


class OccPoseInstanceHeads(nn.Module):
    """Pooler + E_C + D_Seg + (GRL + C) + D_C + Mask and Predict + pose head."""

    @configurable
    def __init__(
        self,
        *,
        in_features: List[str],
        pooler: ROIPooler,
        common_encoder: nn.Module,
        seg_head: nn.Module,
        context_decoder: nn.Module,
        mask_and_predict: MaskAndPredict,
        pose_head: nn.Module,
        domain_head: Optional[nn.Module] = None,
        grl_lambda: float = 1.0,
        pose_domain_head: Optional[nn.Module] = None,
        supervise: str = "fully_visible",
        supervise_target: bool = False,
        self_training: Optional[PoseSelfTraining] = None,
        silhouette_weight: float = 0.0,
        silhouette_radius: float = 0.08,
        rescore: bool = False,
        rescore_by: str = "joint_score",
        decode: str = "peak",
        roi_scale: float = 1.0,
    ):
        """
        Args:
            in_features: feature maps pooled into F_raw (e.g. p2..p5).
            pooler: RoIAlign producing ``R x C x P x P`` F_raw.
            common_encoder, seg_head, context_decoder, pose_head, domain_head: the sub-heads
                (see their registries); ``domain_head=None`` drops C and its loss.
            mask_and_predict: holds the masking ratio p and applies it.
            grl_lambda: initial gradient-reversal strength (no GRL without a domain head).
            pose_domain_head: optional pose-level domain classifier on the heatmaps of source
                (pose-supervised) and target instances, with its own GRL (None: off).
            supervise: "fully_visible" or "labeled" (see :func:`pose_supervised`).
            supervise_target: the oracle's pose loss on target instances with keypoints.
            self_training: EMA teacher + pseudo-pose loss on target instances (None: off).
            silhouette_weight: weight of the silhouette-coverage loss on target instances
                (:func:`~.silhouette.silhouette_coverage_loss`; 0: off).
            silhouette_radius: its tube radius, as a fraction of the box height.
            rescore: at inference, multiply each instance's ``scores`` by a pose-quality factor
                (pose rescoring; boxes and joints unchanged).
            rescore_by: that factor, one of :data:`RESCORE_BY`: "joint_score" (the mean joint
                score) or "expected_oks" (:func:`expected_oks` with the visible-mask area).
            decode: how joints are placed, one of :data:`DECODERS`: "peak" (the heatmap's,
                :func:`decode_heatmaps`) or "expected_oks" (:func:`decode_expected_oks` with the
                visible-mask area).
            roi_scale: the instance RoIs are the boxes grown by this factor (>= 1).
        """
        super().__init__()
        self.in_features = in_features
        self.pooler = pooler
        self.common_encoder = common_encoder
        self.seg_head = seg_head
        self.grl = GradientReversal(grl_lambda) if domain_head is not None else None
        self.domain_head = domain_head
        self.pose_domain_head = pose_domain_head
        self.context_decoder = context_decoder
        self.mask_and_predict = mask_and_predict
        self.pose_head = pose_head
        self.supervise = supervise
        self.supervise_target = supervise_target
        self.self_training = self_training
        self.silhouette_weight = silhouette_weight
        self.silhouette_radius = silhouette_radius
        if rescore_by not in RESCORE_BY:
            raise ValueError(f"rescore_by must be one of {RESCORE_BY}, got {rescore_by!r}")
        if decode not in DECODERS:
            raise ValueError(f"decode must be one of {DECODERS}, got {decode!r}")
        self.decode = decode
        self.rescore = rescore
        self.rescore_by = rescore_by
        self.roi_scale = roi_scale
        # Channel order of heatmaps of a mirrored image, read as the plain image's (flip test).
        self.register_buffer("flip_perm", torch.tensor(flip_indices()), persistent=False)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec], with_domain_head: bool = True):
        o = cfg.MODEL.OCCPOSE
        res = o.POOLER_RESOLUTION
        channels = {input_shape[f].channels for f in o.IN_FEATURES}
        if len(channels) != 1:
            raise ValueError(f"MODEL.OCCPOSE.IN_FEATURES {list(o.IN_FEATURES)} must have equal "
                             f"channels, got {sorted(channels)}")
        pooler = ROIPooler(
            output_size=res,
            scales=tuple(1.0 / input_shape[f].stride for f in o.IN_FEATURES),
            sampling_ratio=o.POOLER_SAMPLING_RATIO,
            pooler_type=o.POOLER_TYPE,
        )
        encoder = build_common_encoder(cfg, ShapeSpec(channels=channels.pop(), height=res,
                                                      width=res))
        decoder = build_context_decoder(cfg, encoder.output_shape)
        seg_head = build_seg_head(cfg, encoder.output_shape)
        pose_head = build_pose_head(cfg, decoder.output_shape)
        student = dict(zip(POSE_PATH, (encoder, seg_head, decoder, pose_head)))
        return {
            "in_features": list(o.IN_FEATURES),
            "pooler": pooler,
            "common_encoder": encoder,
            "seg_head": seg_head,
            "context_decoder": decoder,
            "mask_and_predict": MaskAndPredict(cfg),
            "pose_head": pose_head,
            "domain_head": build_domain_head(cfg, encoder.output_shape)
            if with_domain_head else None,
            "grl_lambda": o.DOMAIN_HEAD.GRL_LAMBDA,
            "pose_domain_head": build_pose_domain_head(
                cfg, ShapeSpec(channels=NUM_KEYPOINTS, height=o.POSE_HEAD.HEATMAP_SIZE,
                               width=o.POSE_HEAD.HEATMAP_SIZE))
            if with_domain_head and o.POSE_DOMAIN_HEAD.LOSS_WEIGHT > 0 else None,
            "supervise": o.POSE_HEAD.SUPERVISE,
            "supervise_target": o.POSE_HEAD.SUPERVISE_TARGET,
            "self_training": PoseSelfTraining(cfg, student)
            if o.SELF_TRAINING.ENABLED else None,
            "silhouette_weight": o.SILHOUETTE.LOSS_WEIGHT,
            "silhouette_radius": o.SILHOUETTE.RADIUS,
            "rescore": o.POSE_HEAD.RESCORE,
            "rescore_by": o.POSE_HEAD.RESCORE_BY,
            "decode": o.POSE_HEAD.DECODE,
            "roi_scale": o.ROI_SCALE,
        }

    def pool(self, features: Dict[str, torch.Tensor], boxes: List[Boxes]) -> torch.Tensor:
        """F_raw: ``R x C x P x P`` RoIAlign features of ``boxes`` (per image, XYXY pixels)
        grown by ``roi_scale``."""
        rois = [Boxes(scale_boxes(b.tensor, self.roi_scale)) for b in boxes]
        return self.pooler([features[f] for f in self.in_features], rois)

    def mask_maps(self, masks, boxes: torch.Tensor) -> torch.Tensor:
        """Given visible masks as the seg head's maps: ``R x M x M`` float {0, 1}, ``masks``
        (D2 ``BitMasks`` / ``PolygonMasks`` of one image) cropped to ``boxes`` (``R x 4`` XYXY,
        the masks' frame) grown by ``roi_scale``, resized to the map side M (twice the pooler
        resolution)."""
        side = 2 * self.pooler.output_size[0]
        grown = scale_boxes(boxes.to(masks.device, torch.float32), self.roi_scale)
        return (masks.crop_and_resize(grown, side) > 0.5).to(torch.float32)

    def forward(
        self,
        x: torch.Tensor,
        instances: List[Instances],
        domains: Optional[List[str]] = None,
        mask_ratio: Optional[float] = None,
        generator: Optional[torch.Generator] = None,
        x_mirrored: Optional[torch.Tensor] = None,
    ):
        """
        Args:
            x: ``R x C x P x P`` F_raw, rows in the order of ``instances`` (all images).
            instances: per image; training: ``proposal_boxes`` and ``gt_*`` fields (see
                :func:`select_training_instances`); inference: ``pred_boxes``.
            domains: training only, per image "pe" / "pd" (None: all "pe", no domain loss).
            mask_ratio, generator: inference only; default: those of
                :meth:`MaskAndPredict.forward` (``TEST_RATIO``, a generator seeded with
                ``TEST_SEED``).
            x_mirrored: optional F_raw of the same boxes mirrored in the horizontally flipped
                image, rows as ``x``: at inference the flip test (see :meth:`predict`); in
                training the self-training flip teacher (rows of target instances are read).

        Returns:
            training: dict with "loss_seg", "loss_pose" (and "loss_domain" with a domain head,
            "loss_pose_domain" with a pose-level one, "loss_pose_pseudo" with self-training,
            "loss_pose_silhouette" with silhouette coverage);
            inference: ``instances`` with ``pred_masks`` (``N x 1 x M x M`` probabilities),
            ``pred_keypoints`` (``N x 13 x 3``), ``pred_keypoint_heatmaps`` (``N x 13 x S x S``),
            ``pred_keypoint_visible`` (``N x 13`` bool); with ``rescore``, ``scores`` times the
            pose-quality factor of ``rescore_by`` (:meth:`pose_quality`).
        """
        if self.training:
            return self._forward_train(x, instances, domains or [DOMAIN_SOURCE] * len(instances),
                                       x_mirrored)
        return self._forward_inference(x, instances, mask_ratio, generator, x_mirrored)

    def _pose(self, feats, maps, ratio, generator) -> torch.Tensor:
        return self._pose_of_masked(feats, self.mask_and_predict(maps, ratio, generator))

    def _pose_of_masked(self, feats, masked) -> torch.Tensor:
        return self.pose_head(self.context_decoder(feats) * masked)

    def _forward_train(self, x, instances: List[Instances], domains: List[str],
                       x_mirrored: Optional[torch.Tensor] = None):
        boxes = [Boxes(scale_boxes(inst.proposal_boxes.tensor, self.roi_scale))
                 for inst in instances]
        feats = self.common_encoder(x)
        seg_logits = self.seg_head(feats)
        seg_gt = seg_targets(instances, boxes, seg_logits.shape[-1])
        losses = self.seg_head.losses(seg_logits, seg_gt)
        labels = cat([torch.full((len(inst),), DOMAIN_LABELS[d], device=x.device)
                      for inst, d in zip(instances, domains)])
        if self.domain_head is not None:
            logits = self.domain_head(self.grl(feats))
            losses.update(self.domain_head.losses(logits, labels))

        sup = cat([pose_supervised(inst, d, self.supervise, self.supervise_target)
                   for inst, d in zip(instances, domains)]).nonzero()[:, 0]
        keypoints = cat([inst.gt_keypoints.tensor if inst.has("gt_keypoints")
                         else x.new_zeros((len(inst), NUM_KEYPOINTS, 3)) for inst in instances])
        all_boxes = cat([b.tensor for b in boxes])
        if self.mask_and_predict.mask_source == "gt":
            maps = seg_gt[:, None]
        else:
            maps = seg_logits.detach().sigmoid()
        heatmaps = self._pose(feats[sup], maps[sup], None, None)
        losses.update(self.pose_head.losses(heatmaps, keypoints[sup], all_boxes[sup]))
        if self.pose_domain_head is not None:
            losses.update(self._pose_domain_loss(feats, maps, heatmaps, sup, labels))
        if self.self_training is not None:
            losses.update(self._self_training_loss(x, feats, maps, all_boxes, instances, domains,
                                                   x_mirrored))
        if self.silhouette_weight > 0:
            losses.update(self._silhouette_loss(feats, maps, seg_gt, all_boxes, labels))
        return losses

    def _silhouette_loss(self, feats, maps, seg_gt, boxes, labels) -> Dict[str, torch.Tensor]:
        """Silhouette coverage of the target rows: their heatmaps (one more pose pass, through
        Mask and Predict) against their visible masks ``seg_gt`` (``R x M x M`` over the grown
        ``boxes``); rows without a visible mask cost nothing."""
        target = (labels == DOMAIN_LABELS[DOMAIN_TARGET]).nonzero()[:, 0]
        heatmaps = self._pose(feats[target], maps[target], None, None)
        boxes = boxes[target]
        loss = silhouette_coverage_loss(expected_joints(heatmaps, boxes), seg_gt[target], boxes,
                                        self.silhouette_radius)
        return {"loss_pose_silhouette": self.silhouette_weight * loss}

    def _pose_domain_loss(self, feats, maps, heatmaps, sup, labels) -> Dict[str, torch.Tensor]:
        """The pose-level domain loss of the source rows among the pose-supervised rows ``sup``
        (their ``heatmaps``, as the pose loss saw them) and of every target row (one more pose
        pass, through Mask and Predict); ``labels`` are all rows' domain labels."""
        from_source = labels[sup] == DOMAIN_LABELS[DOMAIN_SOURCE]
        target = (labels == DOMAIN_LABELS[DOMAIN_TARGET]).nonzero()[:, 0]
        both = cat([heatmaps[from_source], self._pose(feats[target], maps[target], None, None)])
        return self.pose_domain_head.losses(self.pose_domain_head(both),
                                            cat([labels[sup][from_source], labels[target]]))

    def _self_training_loss(self, x, feats, maps, boxes, instances, domains, x_mirrored):
        """EMA step of the teacher, then the pseudo-pose loss of the eligible target instances
        (:meth:`PoseSelfTraining.eligible`), predicted from the student's view of their features
        (:meth:`PoseSelfTraining.perturb`) through Mask and Predict (0 before
        ``SELF_TRAINING.START_ITER``)."""
        st = self.self_training
        st.update_teacher({name: getattr(self, name) for name in POSE_PATH})
        target = cat([st.eligible(inst) if d == DOMAIN_TARGET
                      else torch.zeros(len(inst), dtype=torch.bool, device=x.device)
                      for inst, d in zip(instances, domains)]).nonzero()[:, 0]
        if not st.active() or len(target) == 0:
            return {"loss_pose_pseudo": feats.sum() * 0.0}
        heatmaps = self._pose(st.perturb(feats[target]), maps[target], None, None)
        return st.loss(heatmaps, x[target], boxes[target], self.pose_head,
                       None if x_mirrored is None else x_mirrored[target])

    def predict(
        self,
        x: torch.Tensor,
        boxes: torch.Tensor,
        mask_ratio: Optional[float] = None,
        generator: Optional[torch.Generator] = None,
        x_mirrored: Optional[torch.Tensor] = None,
        given_masks: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inference on tensors; traceable when the Mask-and-Predict ratio is 0 (the default
        ``TEST_RATIO``; the exported path).

        Args:
            x: ``R x C x P x P`` F_raw of ``boxes`` (``R x 4``, XYXY pixels of the network input).
            mask_ratio, generator: test-time Mask and Predict (see :meth:`forward`).
            x_mirrored: optional ``R x C x P x P`` F_raw of the mirrored boxes in the flipped
                image (flip test): its pose pass, with the masked map mirrored (the same cells
                removed), gives heatmaps that are mirrored back, their left / right channels
                swapped, and averaged with the plain ones. Masks come from ``x`` alone.
            given_masks: optional ``R x M x M`` visible masks (:meth:`mask_maps`) used instead
                of the seg head's (a diagnosis: pose quality with true masks); they are also
                what is returned as the masks.

        Returns:
            visible-mask probabilities ``R x 1 x M x M``, heatmaps ``R x 13 x S x S``, keypoints
            ``R x 13 x 3`` (x, y, score; pixels), per-joint visibility ``R x 13`` bool.
        """
        feats = self.common_encoder(x)
        if given_masks is None:
            probs = self.seg_head(feats).sigmoid()
        else:
            probs = given_masks[:, None].to(feats.dtype)
        masked = self.mask_and_predict(probs, mask_ratio, generator)
        heatmaps = self._pose_of_masked(feats, masked)
        if x_mirrored is not None:
            mirrored = self._pose_of_masked(self.common_encoder(x_mirrored), masked.flip(-1))
            heatmaps = (heatmaps + unmirror_heatmaps(mirrored, self.flip_perm)) / 2
        if self.decode == "expected_oks":
            keypoints = decode_expected_oks(heatmaps, boxes, visible_areas(probs[:, 0], boxes))
        else:
            keypoints = decode_heatmaps(heatmaps, boxes, self.pose_head.loss_type)
        visible = keypoints_on_mask(keypoints, boxes, probs[:, 0])
        return probs, heatmaps, keypoints, visible

    def pose_quality(self, probs: torch.Tensor, heatmaps: torch.Tensor, keypoints: torch.Tensor,
                     boxes: torch.Tensor) -> torch.Tensor:
        """``R`` factors of pose rescoring (``rescore_by``), from :meth:`predict`'s outputs over
        the ``R x 4`` XYXY (grown) ``boxes``: the mean joint score, or the expected OKS
        (:func:`expected_oks`) with the area of the visible mask (:func:`visible_areas`)."""
        if self.rescore_by == "joint_score":
            return keypoints[:, :, 2].mean(dim=1)
        return expected_oks(heatmaps, boxes, keypoints, visible_areas(probs[:, 0], boxes))

    def _forward_inference(self, x, instances: List[Instances], ratio, generator, x_mirrored):
        boxes = scale_boxes(cat([inst.pred_boxes.tensor for inst in instances]), self.roi_scale)
        given = (cat([inst.given_mask_maps for inst in instances])
                 if all(inst.has("given_mask_maps") for inst in instances) else None)
        probs, heatmaps, keypoints, visible = self.predict(x, boxes, ratio, generator, x_mirrored,
                                                           given)
        quality = self.pose_quality(probs, heatmaps, keypoints, boxes)
        outputs = (crop_to_inner_boxes(probs, self.roi_scale), heatmaps, keypoints, visible,
                   quality)
        if len(instances) == 1:
            # taken whole, not split by a Python count: a traced graph keeps N dynamic
            per_image = [outputs]
        else:
            counts = [len(inst) for inst in instances]
            per_image = list(zip(*(t.split(counts) for t in outputs)))
        for inst, (m, h, k, v, q) in zip(instances, per_image):
            inst.pred_masks = m
            inst.pred_keypoints = k
            inst.pred_keypoint_heatmaps = h
            inst.pred_keypoint_visible = v
            if self.rescore and inst.has("scores"):
                inst.scores = inst.scores * q
        return instances
