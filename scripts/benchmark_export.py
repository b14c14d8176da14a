#!/usr/bin/env python
"""Inference latency per image of OccPoseRCNN in PyTorch eager mode and of its ONNX export in ONNX
Runtime (CPU), side by side, for the tiny synthetic config and R-50-FPN.

For each (config, image size) the model is built with random weights (norm statistics calibrated
as in ``scripts/benchmark.py``, so real detections come out; score threshold 0,
``TEST.DETECTIONS_PER_IMAGE`` caps them), exported with ``projects/OccPose/export_model.py``'s
path (:func:`occpose_d2.export.export_onnx`), and both run the same random images entering the
network at the given size. Timed is the network: ``OccPoseRCNN.inference(...,
do_postprocess=False)`` against ``InferenceSession.run`` (resizing and mask pasting, the same
Python code for both predictors, are left out). The runtimes take turns image by image; median
seconds per image after warm-up, on ``--threads`` threads in both runtimes. Example::

    OMP_NUM_THREADS=1 python scripts/benchmark_export.py --iters 5 --warmup 2
"""

import argparse
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List

import onnxruntime
import torch
from benchmark import calibrate_norms, setup_cfgs
from detectron2.modeling import build_model

from occpose_d2.export import OccPoseExportModule, export_onnx

# (config, height, width) measured by default: the tiny synthetic model at 256 px and R-50-FPN
# at 512 x 1024.
SETUPS = (
    ("configs/Synthetic/OccPose-Tiny.yaml", 256, 256),
    ("configs/occpose_rcnn_R_50_FPN_1x.yaml", 512, 1024),
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iters", type=int, default=5, help="timed images per runtime")
    p.add_argument("--warmup", type=int, default=2, help="untimed images before them")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op threads of torch and ONNX Runtime (1 keeps timings stable on a "
                        "busy machine)")
    p.add_argument("--detections", type=int, default=100, help="TEST.DETECTIONS_PER_IMAGE")
    p.add_argument("--setups", nargs="+", metavar="CONFIG:HxW",
                   help="override the measured setups, e.g. configs/x.yaml:256x256")
    return p.parse_args()


def _setups(args) -> List[tuple]:
    if not args.setups:
        return list(SETUPS)
    out = []
    for s in args.setups:
        config, size = s.rsplit(":", 1)
        h, w = (int(v) for v in size.split("x"))
        out.append((config, h, w))
    return out


def time_per_image(runs: Dict[str, Callable[[torch.Tensor], int]], images: List[torch.Tensor],
                   warmup: int) -> Dict[str, Dict[str, float]]:
    """Median seconds per image (after ``warmup`` images) and mean detections of each runtime in
    ``runs``; the runtimes take turns on each image, so a shared CPU's load changes hit both."""
    times: Dict[str, List[float]] = {k: [] for k in runs}
    dets: Dict[str, List[int]] = {k: [] for k in runs}
    for k, image in enumerate(images):
        for name, run in runs.items():
            start = time.perf_counter()
            n = run(image)
            if k >= warmup:
                times[name].append(time.perf_counter() - start)
                dets[name].append(n)
    return {name: {"time": statistics.median(times[name]), "dets": statistics.mean(dets[name])}
            for name in runs}


def measure(config: str, height: int, width: int, args, workdir: str) -> Dict[str, Dict]:
    ns = argparse.Namespace(config=config, opts=[], device="cpu", detections=args.detections)
    cfg, _ = setup_cfgs(ns)
    torch.manual_seed(0)
    model = build_model(cfg)
    calibrate_norms(model, cfg, 256, 256)
    model.eval()
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, height, width), generator=g).float()
              for _ in range(args.iters + args.warmup)]
    path = export_onnx(OccPoseExportModule(model), images[0],
                       os.path.join(workdir, os.path.basename(config) + ".onnx"))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def eager(image):
        with torch.no_grad():
            return len(model.inference([{"image": image}], do_postprocess=False)[0])

    def ort(image):
        return len(session.run(["boxes"], {"image": image.numpy()})[0])

    return time_per_image({"eager": eager, "onnx": ort}, images, args.warmup)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU, {args.threads} thread(s) per runtime, {args.iters} timed images after "
          f"{args.warmup} warm-up; torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}; seconds per image (network only)")
    print(f"  {'config':<40s} {'image':>9s} {'dets':>7s} {'PyTorch eager':>14s} "
          f"{'ONNX Runtime':>13s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory() as workdir:
        for config, h, w in _setups(args):
            res = measure(config, h, w, args, workdir)
            a, b = res["eager"]["time"], res["onnx"]["time"]
            dets = f"{res['eager']['dets']:.0f}/{res['onnx']['dets']:.0f}"
            print(f"  {config:<40s} {f'{h}x{w}':>9s} {dets:>7s} {a:14.3f} {b:13.3f} "
                  f"{b / a:6.2f}")


if __name__ == "__main__":
    main()
