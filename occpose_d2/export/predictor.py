"""``OccPoseONNXPredictor``: an exported OccPose model run by ONNX Runtime on the CPU."""

import os

import numpy as np
from detectron2.config import CfgNode
from detectron2.data import transforms as T
from detectron2.modeling.postprocessing import detector_postprocess

from ..engine.predictor import prepare_image
from .model import OUTPUT_NAMES, outputs_to_instances

__all__ = ["OccPoseONNXPredictor"]


class OccPoseONNXPredictor:
    """Single-image inference with an ONNX file written by ``projects/OccPose/export_model.py``,
    as :class:`OccPosePredictor` (detector path): the same resize (``INPUT.MIN_SIZE_TEST``,
    ``INPUT.MAX_SIZE_TEST``), channel order (``INPUT.FORMAT``) and ``Instances`` fields
    (``pred_boxes``, ``scores``, ``pred_classes``, ``pred_masks``, ``pred_keypoints``,
    ``pred_keypoint_heatmaps``, ``pred_keypoint_visible``) in original-image pixels. The domain
    is the one the file was exported with. Needs ``onnxruntime`` (``pip install -e .[export]``).
    """

    def __init__(self, cfg: CfgNode, onnx_path: str, num_threads: int = 0):
        """
        Args:
            cfg: the config the model was exported from (only ``INPUT.*`` is read).
            onnx_path: the exported ``model.onnx``.
            num_threads: ONNX Runtime intra-op threads (0: its default, one per core).
        """
        try:
            import onnxruntime
        except ImportError as e:
            raise ImportError("OccPoseONNXPredictor needs onnxruntime: pip install -e .[export]"
                              ) from e
        if not os.path.isfile(onnx_path):
            raise FileNotFoundError(f"ONNX model {onnx_path!r} does not exist")
        self.aug = T.ResizeShortestEdge(
            [cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MIN_SIZE_TEST], cfg.INPUT.MAX_SIZE_TEST)
        self.input_format = cfg.INPUT.FORMAT
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        self.session = onnxruntime.InferenceSession(
            onnx_path, options, providers=["CPUExecutionProvider"])
        names = tuple(o.name for o in self.session.get_outputs())
        if names != OUTPUT_NAMES:
            raise ValueError(f"{onnx_path}: outputs {names} are not those of an exported OccPose "
                             f"model {OUTPUT_NAMES}")

    def __call__(self, original_image: np.ndarray) -> dict:
        """
        Args:
            original_image: ``H x W x 3`` uint8 BGR image, as D2's ``DefaultPredictor``.

        Returns:
            {"instances": Instances} in original-image coordinates.
        """
        image, height, width = prepare_image(original_image, self.aug, self.input_format)
        outputs = self.session.run(list(OUTPUT_NAMES), {"image": image.numpy()})
        instances = outputs_to_instances(outputs, tuple(image.shape[1:]))
        return {"instances": detector_postprocess(instances, height, width)}
