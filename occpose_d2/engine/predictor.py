"""``OccPosePredictor``: D2's ``DefaultPredictor`` that can also estimate poses for given boxes."""

from typing import Optional, Tuple

import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.engine import DefaultPredictor
from detectron2.structures import Boxes, Instances

__all__ = ["OccPosePredictor", "prepare_image"]


def prepare_image(
    original_image: np.ndarray, aug: T.Augmentation, input_format: str
) -> Tuple[torch.Tensor, int, int]:
    """D2's predictor input: a BGR ``H x W x 3`` uint8 image -> the network's ``3 x h x w``
    float32 tensor (channels in ``input_format``, resized by ``aug``) and the original H, W."""
    if input_format == "RGB":
        original_image = original_image[:, :, ::-1]
    height, width = original_image.shape[:2]
    image = aug.get_transform(original_image).apply_image(original_image)
    return torch.as_tensor(image.astype("float32").transpose(2, 0, 1)), height, width


class OccPosePredictor(DefaultPredictor):
    """Single-image inference; ``domain`` picks the detector ("pe" or "pd", default from config).

    With ``boxes`` (N x 4, XYXY in pixels of the given image) the detector is skipped and the pose,
    mask and visibility flags are estimated for those boxes: the path for users who bring their
    own pedestrian detector.
    """

    def __call__(
        self,
        original_image: np.ndarray,
        boxes: Optional[np.ndarray] = None,
        domain: Optional[str] = None,
    ) -> dict:
        """
        Args:
            original_image: H x W x C uint8 image in the config's INPUT.FORMAT (BGR by default).
            boxes: optional N x 4 float array of XYXY boxes in original-image pixels; a box
                that does not overlap the image is a ``ValueError``.
            domain: "pe" or "pd"; None uses MODEL.OCCPOSE.TEST_DOMAIN.

        Returns:
            {"instances": Instances} in original-image coordinates, as D2's predictor.
        """
        with torch.no_grad():
            image, height, width = prepare_image(original_image, self.aug, self.input_format)
            inputs = {"image": image, "height": height, "width": width}
            if domain is not None:
                inputs["domain"] = domain
            if boxes is None:
                return self.model([inputs])[0]
            boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
            outside = ((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0) | (boxes[:, 0] >= width)
                       | (boxes[:, 1] >= height))
            if outside.any():
                raise ValueError(f"boxes {boxes[outside].tolist()} do not overlap the "
                                 f"{width} x {height} image")
            given = Instances((height, width))
            given.pred_boxes = Boxes(torch.as_tensor(boxes))
            given.scores = torch.ones(len(given))
            given.pred_classes = torch.zeros(len(given), dtype=torch.int64)
            return self.model.inference([inputs], detected_instances=[given])[0]
