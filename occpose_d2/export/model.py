"""The traceable inference graph of OccPoseRCNN (one domain's detector + the instance heads) and
the conversion of its output tensors back to D2 ``Instances``."""

from typing import Optional, Sequence, Tuple

import torch
from detectron2.structures import Boxes, Instances
from torch import nn

from ..domains import DOMAINS

__all__ = ["OUTPUT_NAMES", "OccPoseExportModule", "outputs_to_instances"]

# Outputs of the exported graph, in order, and the Instances field each fills.
OUTPUT_NAMES = ("boxes", "scores", "classes", "masks", "keypoints", "keypoint_heatmaps",
                "keypoint_visible")
_FIELDS = ("pred_boxes", "scores", "pred_classes", "pred_masks", "pred_keypoints",
           "pred_keypoint_heatmaps", "pred_keypoint_visible")


class OccPoseExportModule(nn.Module):
    """``OccPoseRCNN.inference`` of one image as a function of tensors, for tracing.

    Input: the image as the network sees it, ``3 x H x W`` float32 in the config's
    ``INPUT.FORMAT`` (already resized; H and W free). Outputs (N detections, any N >= 0, in that
    image's pixels), named :data:`OUTPUT_NAMES`: boxes ``N x 4`` XYXY, scores ``N``, classes ``N``
    int64, visible-mask probabilities ``N x 1 x M x M``, keypoints ``N x 13 x 3`` (x, y, score),
    heatmaps ``N x 13 x S x S``, per-joint visibility ``N x 13`` bool. Test-time Mask and Predict
    is not part of the graph (ratio 0, the default).
    """

    def __init__(self, model: nn.Module, domain: Optional[str] = None):
        """
        Args:
            model: an ``OccPoseRCNN`` in eval mode.
            domain: "pe" or "pd", whose detector the graph holds (default
                ``MODEL.OCCPOSE.TEST_DOMAIN``).
        """
        super().__init__()
        domain = domain or model.test_domain
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        self.model = model
        self.domain = domain

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``3 x H x W`` image -> the tensors of :data:`OUTPUT_NAMES` (the model's own
        ``inference``, so eager and exported answers cannot drift apart)."""
        found = self.model.inference([{"image": image, "domain": self.domain}],
                                     do_postprocess=False)[0]
        return tuple(found.get(f).tensor if f == "pred_boxes" else found.get(f) for f in _FIELDS)


def outputs_to_instances(outputs: Sequence, image_size: Tuple[int, int]) -> Instances:
    """The exported graph's outputs (tensors or numpy arrays, in :data:`OUTPUT_NAMES` order) as
    D2 ``Instances`` of ``image_size`` (H, W of the network input), with the fields of
    ``OccPoseRCNN.inference`` before ``detector_postprocess``."""
    if len(outputs) != len(OUTPUT_NAMES):
        raise ValueError(f"expected {len(OUTPUT_NAMES)} outputs {OUTPUT_NAMES}, got "
                         f"{len(outputs)}")
    inst = Instances(image_size)
    for field, value in zip(_FIELDS, outputs):
        value = torch.as_tensor(value)
        inst.set(field, Boxes(value) if field == "pred_boxes" else value)
    return inst
