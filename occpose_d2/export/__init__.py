"""Deployment: OccPoseRCNN's inference path (one domain's detector + the instance heads) as ONNX or
TorchScript, and a predictor that runs the ONNX file with ONNX Runtime."""

from .exporters import ONNX_OPSET, export_onnx, export_torchscript
from .model import OUTPUT_NAMES, OccPoseExportModule, outputs_to_instances
from .predictor import OccPoseONNXPredictor

__all__ = [
    "ONNX_OPSET",
    "OUTPUT_NAMES",
    "OccPoseExportModule",
    "OccPoseONNXPredictor",
    "export_onnx",
    "export_torchscript",
    "outputs_to_instances",
]
