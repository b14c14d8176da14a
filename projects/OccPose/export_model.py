#!/usr/bin/env python
"""Export OccPoseRCNN's inference path (one domain's detector + the instance heads) to ONNX or
TorchScript, in the manner of Detectron2's ``tools/deploy/export_model.py``.

Examples:
    python projects/OccPose/export_model.py --config-file configs/Synthetic/OccPose-Tiny.yaml \
        --format onnx --output export/ MODEL.WEIGHTS output/demo/model_final.pth
    python projects/OccPose/export_model.py --config-file CONFIG --format torchscript \
        --sample-image street.png --domain pe --output export/ MODEL.WEIGHTS model.pth

Writes ``OUTPUT/model.onnx`` or ``OUTPUT/model.ts``, runs it once on the sample image and logs
how far its answers are from PyTorch's. Run the ONNX file with ``OccPoseONNXPredictor`` or
``demo.py --onnx``.
"""

import argparse
import logging
import os

import numpy as np
import torch
from detectron2.data import transforms as T
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model
from detectron2.utils.logger import setup_logger

from occpose_d2 import get_occpose_cfg
from occpose_d2.domains import DOMAINS
from occpose_d2.engine import AtomicDetectionCheckpointer
from occpose_d2.engine.predictor import prepare_image
from occpose_d2.export import (
    OUTPUT_NAMES,
    OccPoseExportModule,
    export_onnx,
    export_torchscript,
)

logger = logging.getLogger("occpose_d2.export_model")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    parser.add_argument("--sample-image", help="image to trace with (default: a generated one; "
                        "image size and detection count stay dynamic either way)")
    parser.add_argument("--domain", choices=DOMAINS, default=None,
                        help="detector to export (default MODEL.OCCPOSE.TEST_DOMAIN)")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                        help="config overrides as KEY VALUE pairs, e.g. MODEL.WEIGHTS model.pth")
    return parser


def sample_image(cfg, path=None) -> torch.Tensor:
    """The network input (``3 x h x w`` float32) for ``path``, or for a seeded random BGR image
    of ``INPUT.MIN_SIZE_TEST`` x 1.5 that size."""
    if path:
        image = read_image(path, format="BGR")
    else:
        side = cfg.INPUT.MIN_SIZE_TEST
        image = np.random.default_rng(0).integers(0, 256, (side, side * 3 // 2, 3), np.uint8)
    aug = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    return prepare_image(image, aug, cfg.INPUT.FORMAT)[0]


def run_exported(path: str, image: torch.Tensor):
    """The exported file's outputs on ``image``, as tensors."""
    if path.endswith(".onnx"):
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return [torch.as_tensor(o) for o in session.run(None, {"image": image.numpy()})]
    return list(torch.jit.load(path)(image))


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    setup_logger(name="occpose_d2")
    cfg = get_occpose_cfg(args.config_file, args.opts)
    if cfg.MODEL.META_ARCHITECTURE != "OccPoseRCNN":
        raise SystemExit(f"{args.config_file}: MODEL.META_ARCHITECTURE is "
                         f"{cfg.MODEL.META_ARCHITECTURE!r}; only OccPoseRCNN is exported")
    model = build_model(cfg).eval()
    AtomicDetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)  # also plain D2 detector files
    if not cfg.MODEL.WEIGHTS:
        logger.warning("MODEL.WEIGHTS is empty: exporting randomly initialised weights")
    module = OccPoseExportModule(model, args.domain)
    image = sample_image(cfg, args.sample_image)
    if args.format == "onnx":
        path = export_onnx(module, image, os.path.join(args.output, "model.onnx"))
    else:
        path = export_torchscript(module, image, os.path.join(args.output, "model.ts"))
    with torch.no_grad():
        expected = module(image)
    got = run_exported(path, image)
    diffs = ", ".join(f"{n} {(a.float() - b.float()).abs().max().item():.2g}"
                      for n, a, b in zip(OUTPUT_NAMES, got, expected)
                      if a.shape == b.shape and a.numel())
    logger.info(f"Check on the {tuple(image.shape[1:])} sample: {len(got[0])} detections "
                f"(PyTorch {len(expected[0])}); max |exported - PyTorch|: {diffs or 'n/a'}")


if __name__ == "__main__":
    main()
