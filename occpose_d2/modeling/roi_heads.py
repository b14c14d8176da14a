"""OccPoseROIHeads: the occlusion-aware instance heads inside a stock GeneralizedRCNN.

``MODEL.ROI_HEADS.NAME: "OccPoseROIHeads"`` with ``MASK_ON`` / ``KEYPOINT_ON`` true replaces D2's
mask and keypoint heads by :class:`OccPoseInstanceHeads` without the domain classifier (single
dataset, no adaptation); the box head is D2's. Outputs: D2's box fields plus ``pred_masks``,
``pred_keypoints`` (13 joints), ``pred_keypoint_heatmaps`` and ``pred_keypoint_visible``.
"""

from typing import Dict, List, Optional

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import ImageList, Instances

from ..config import validate_occpose_config
from .instance_heads import OccPoseInstanceHeads, drop_duplicate_poses, pose_nms_thresh_from_config
from .sampling import select_training_instances

__all__ = ["OccPoseROIHeads"]


@ROI_HEADS_REGISTRY.register()
class OccPoseROIHeads(StandardROIHeads):
    """StandardROIHeads whose mask + keypoint heads are :class:`OccPoseInstanceHeads`.

    In training the instance heads see the foreground proposals (``TRAIN_BOXES`` "proposals"
    reads the sampled proposals, "gt" the jittered ground truth), capped by
    ``MAX_TRAIN_INSTANCES`` per image; all images count as source ("pe") images.
    """

    @configurable
    def __init__(self, *, occpose_heads: Optional[OccPoseInstanceHeads] = None,
                 train_boxes: str = "gt", box_jitter: float = 0.0,
                 max_train_instances: int = 32, pose_nms_thresh: Optional[float] = None,
                 **kwargs):
        """
        Args:
            occpose_heads: the instance heads; None gives a box-only StandardROIHeads.
            train_boxes, box_jitter, max_train_instances: see :func:`select_training_instances`.
            pose_nms_thresh: at inference on detected boxes, pose NMS at this OKS
                (:func:`~.instance_heads.drop_duplicate_poses`; None: none).
            kwargs: StandardROIHeads' arguments.
        """
        super().__init__(**kwargs)
        self.occpose_heads = occpose_heads
        self.train_boxes = train_boxes
        self.box_jitter = box_jitter
        self.max_train_instances = max_train_instances
        self.pose_nms_thresh = pose_nms_thresh

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        ret = super().from_config(cfg, input_shape)
        ret.update(cls._init_occpose_heads(cfg, input_shape))
        return ret

    @classmethod
    def _init_mask_head(cls, cfg, input_shape):
        return {}  # replaced by the occpose heads

    @classmethod
    def _init_keypoint_head(cls, cfg, input_shape):
        return {}  # replaced by the occpose heads

    @classmethod
    def _init_occpose_heads(cls, cfg, input_shape):
        if not (cfg.MODEL.MASK_ON or cfg.MODEL.KEYPOINT_ON):
            return {}
        validate_occpose_config(cfg)
        o = cfg.MODEL.OCCPOSE
        return {
            "occpose_heads": OccPoseInstanceHeads(cfg, input_shape, with_domain_head=False),
            "train_boxes": o.TRAIN_BOXES,
            "box_jitter": o.BOX_JITTER,
            "max_train_instances": o.MAX_TRAIN_INSTANCES,
            "pose_nms_thresh": pose_nms_thresh_from_config(cfg),
        }

    def forward(
        self,
        images: ImageList,
        features: Dict[str, torch.Tensor],
        proposals: List[Instances],
        targets: Optional[List[Instances]] = None,
    ):
        """See :meth:`StandardROIHeads.forward`; training adds "loss_seg" and "loss_pose"."""
        if not self.training:
            found, losses = super().forward(images, features, proposals, targets)
            if self.occpose_heads is not None and self.pose_nms_thresh is not None:
                found = [drop_duplicate_poses(r, self.pose_nms_thresh) for r in found]
            return found, losses
        assert targets, "'targets' argument is required during training"
        proposals = self.label_and_sample_proposals(proposals, targets)
        losses = self._forward_box(features, proposals)
        losses.update(self._forward_occpose(features, proposals, targets))
        return proposals, losses

    def forward_with_given_boxes(
        self, features: Dict[str, torch.Tensor], instances: List[Instances]
    ) -> List[Instances]:
        """Masks and poses for ``instances`` (``pred_boxes``, ``pred_classes``) in place."""
        assert not self.training
        assert instances[0].has("pred_boxes") and instances[0].has("pred_classes")
        return self._forward_occpose(features, instances)

    def _forward_occpose(self, features, instances: List[Instances], targets=None):
        if self.occpose_heads is None:
            return {} if self.training else instances
        if self.training:
            instances = select_training_instances(
                targets, instances, train_boxes=self.train_boxes, box_jitter=self.box_jitter,
                max_instances=self.max_train_instances, num_classes=self.num_classes,
            )
            x = self.occpose_heads.pool(features, [i.proposal_boxes for i in instances])
            return self.occpose_heads(x, instances)
        x = self.occpose_heads.pool(features, [i.pred_boxes for i in instances])
        return self.occpose_heads(x, instances)
