"""Write an :class:`OccPoseExportModule` as ONNX or TorchScript (both by tracing).

ONNX uses PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): it
runs offline with ``onnx`` alone and handles D2's data-dependent Python control flow by tracing.
The ``torch.export``-based (dynamo) exporter, PyTorch's default since 2.9, needs ``onnxscript``
and cannot capture that control flow (the detections' count is data-dependent).
"""

import contextlib
import logging
import os
import warnings

import torch

from .model import OUTPUT_NAMES, OccPoseExportModule

__all__ = ["ONNX_OPSET", "export_onnx", "export_torchscript"]

logger = logging.getLogger(__name__)

# ONNX opset of the exported graph (RoIAlign with aligned boxes needs >= 16).
ONNX_OPSET = 17


@contextlib.contextmanager
def _tracing():
    """No grad, and none of the tracer's warnings about Python values taken as constants: they
    concern D2's checks of data (non-finite scores, empty inputs); that image size and the
    number of detections stay dynamic is what the export tests check."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.(jit|onnx)")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        yield


def _check_sample(sample: torch.Tensor) -> None:
    if sample.dim() != 3 or sample.shape[0] != 3 or sample.dtype != torch.float32:
        raise ValueError(f"the sample image must be a 3 x H x W float32 tensor, got "
                         f"{tuple(sample.shape)} {sample.dtype}")


def export_onnx(module: OccPoseExportModule, sample: torch.Tensor, path: str) -> str:
    """Trace ``module`` on ``sample`` (``3 x H x W`` float32) into the ONNX file ``path``.

    The graph has one input "image" (``3 x height x width``, both dynamic) and the outputs
    :data:`OUTPUT_NAMES`, dynamic in the number of detections. Returns ``path``.
    """
    _check_sample(sample)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    dynamic_axes = {"image": {1: "height", 2: "width"}}
    dynamic_axes.update({name: {0: "detections"} for name in OUTPUT_NAMES})
    with _tracing():
        torch.onnx.export(
            module.eval(), (sample,), path, dynamo=False, opset_version=ONNX_OPSET,
            input_names=["image"], output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic_axes,
        )
    logger.info(f"Exported the '{module.domain}' detector and instance heads to {path} "
                f"(ONNX opset {ONNX_OPSET})")
    return path


def export_torchscript(module: OccPoseExportModule, sample: torch.Tensor, path: str) -> str:
    """Trace ``module`` on ``sample`` (``3 x H x W`` float32) into the TorchScript file ``path``
    (``torch.jit.load(path)(image)`` returns the tuple :data:`OUTPUT_NAMES`). Returns ``path``."""
    _check_sample(sample)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with _tracing():
        traced = torch.jit.trace(module.eval(), (sample,), check_trace=False)
        torch.jit.save(traced, path)
    logger.info(f"Exported the '{module.domain}' detector and instance heads to {path} "
                f"(TorchScript, traced)")
    return path
