#!/usr/bin/env python
"""Speed and memory of OccPoseRCNN next to D2's Keypoint R-CNN + mask.

Prints, for one config (random weights, nothing downloaded):

(a) parameters per part of OccPoseRCNN (each detector's backbone / RPN / box head and every
    shared instance head) next to D2's ``MaskRCNNConvUpsampleHead`` and
    ``KRCNNConvDeconvUpsampleHead`` (8 convs) of a stock ``GeneralizedRCNN`` with
    ``StandardROIHeads``, ``MASK_ON`` and ``KEYPOINT_ON`` on the same backbone;
(b) for both models on the same random images and batch: train step time (s), inference time
    per image (s) and peak memory (MiB), with the ratio OccPose / D2. Images enter the models
    at the given size (no resize); train images hold ``--instances`` persons with masks, and
    keypoints on the source ("pe") half of the batch (on every image for D2).

Every (model, mode) measurement runs in a fresh process, so the CPU peak (``ru_maxrss`` minus
the resident size before the first step) belongs to that measurement only; on CUDA the peak is
``torch.cuda.max_memory_allocated``. Both models keep every detection: the score threshold is
0, ``TEST.DETECTIONS_PER_IMAGE`` caps them, and OccPoseRCNN infers with its "pe" detector,
whose random weights equal those of D2's detector (same seed), so both heads get the same boxes.

Examples::

    python scripts/benchmark.py --iters 3 --warmup 1 --train-height 256 --train-width 512
    python scripts/benchmark.py --config configs/Synthetic/OccPose-Tiny.yaml \\
        --height 256 --width 256 --iters 10
"""

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import os
import resource
import statistics
import time
from typing import Dict, List, Tuple

import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_model
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage
from torch import nn

import occpose_d2.modeling  # noqa: F401  (registers OccPoseRCNN, its heads and backbones)
from occpose_d2.config import add_occpose_config, validate_occpose_config
from occpose_d2.data.synthetic.instances import person_instances
from occpose_d2.domains import DOMAIN_SOURCE, DOMAIN_TARGET
from occpose_d2.engine import modules_of_type
from occpose_d2.keypoints import NUM_KEYPOINTS
from occpose_d2.modeling import MaskAndPredict

_DETECTOR_PARTS = ("backbone", "proposal_generator", "roi_heads")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/occpose_rcnn_R_50_FPN_1x.yaml")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--height", type=int, default=512, help="inference image height (px)")
    p.add_argument("--width", type=int, default=1024, help="inference image width (px)")
    p.add_argument("--train-height", type=int, help="train image height (default: --height)")
    p.add_argument("--train-width", type=int, help="train image width (default: --width)")
    p.add_argument("--batch", type=int, default=2, help="train images per step (half 'pd')")
    p.add_argument("--instances", type=int, default=4, help="persons per train image")
    p.add_argument("--detections", type=int, default=100, help="TEST.DETECTIONS_PER_IMAGE")
    p.add_argument("--iters", type=int, default=5, help="timed iterations per measurement")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations before them")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (0: torch default); 1 keeps CPU timings stable on "
                        "a busy machine, where idle-waiting threads slow small ops 100-fold")
    p.add_argument("--no-train", action="store_true", help="measure inference only")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="config overrides")
    return p.parse_args()


def setup_cfgs(args: argparse.Namespace) -> Tuple[CfgNode, CfgNode]:
    """The OccPoseRCNN cfg and D2's Keypoint R-CNN + mask cfg on the same backbone."""
    cfg = get_cfg()
    add_occpose_config(cfg)
    cfg.merge_from_file(args.config)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = args.device
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    # Infer with the "pe" detector: built first from the same seed, its weights equal those of
    # D2's detector, so both models return the same boxes and their heads see as many.
    cfg.MODEL.OCCPOSE.TEST_DOMAIN = DOMAIN_SOURCE
    cfg.TEST.DETECTIONS_PER_IMAGE = args.detections
    validate_occpose_config(cfg)
    if cfg.MODEL.META_ARCHITECTURE not in META_ARCH_REGISTRY:
        raise SystemExit(f"{cfg.MODEL.META_ARCHITECTURE!r} is not registered: is "
                         "occpose_d2/modeling/meta_arch.py imported by occpose_d2.modeling?")
    base = cfg.clone()
    base.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    base.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    base.MODEL.MASK_ON = True
    base.MODEL.KEYPOINT_ON = True
    # D2's Base-RCNN-FPN.yaml mask head (4 convs, 14 x 14 RoIs); keypoint head: D2's defaults.
    base.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNConvUpsampleHead"
    base.MODEL.ROI_MASK_HEAD.NUM_CONV = 4
    base.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION = 14
    base.MODEL.ROI_KEYPOINT_HEAD.NAME = "KRCNNConvDeconvUpsampleHead"
    base.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS = NUM_KEYPOINTS
    cfg.freeze()
    base.freeze()
    return cfg, base


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _is_detector(module: nn.Module) -> bool:
    return any(isinstance(getattr(module, s, None), nn.Module) for s in _DETECTOR_PARTS)


def part_params(model: nn.Module, prefix: str = "", open_heads: bool = True,
                ) -> List[Tuple[str, int, bool]]:
    """(name, #parameters, is_detector_part) per part of ``model``, by module name.

    Detectors (modules holding ``backbone``/``proposal_generator``/``roi_heads``, the model
    included) are split into those parts, their ROI heads into their own heads. Other modules
    with several parameterized children (containers, the instance heads) are opened one level
    further; the rest are reported whole.
    """
    rows = []
    for name, child in model.named_children():
        full = prefix + name
        inner = [c for c in child.children() if count(c)]
        if name == "roi_heads":
            rows += [(f"{full}.{h}", count(m), True) for h, m in child.named_children()]
        elif name in _DETECTOR_PARTS:
            rows.append((full, count(child), True))
        elif _is_detector(child) or any(_is_detector(c) for c in child.children()):
            # a detector, or the container of the per-domain detectors (one child when shared)
            rows += part_params(child, full + ".")
        elif open_heads and len(inner) > 1 and not _is_detector(model):
            rows += part_params(child, full + ".", open_heads=False)
        else:
            rows.append((full, count(child), _is_detector(model)))
    return [r for r in rows if r[1]]


def _person_instances(g: torch.Generator, h: int, w: int, n: int, domain: str,
                      with_keypoints: bool) -> Instances:
    """``n`` upright persons (w/h = 0.41) at random places: elliptic visible masks and in-box
    keypoints (:func:`~occpose_d2.data.synthetic.instances.person_instances`)."""
    bh = (0.3 + 0.5 * torch.rand(n, generator=g)) * h
    bw = 0.41 * bh
    x0 = torch.rand(n, generator=g) * (w - bw)
    y0 = torch.rand(n, generator=g) * (h - bh)
    boxes = torch.stack([x0, y0, x0 + bw, y0 + bh], dim=1)
    return person_instances(boxes.tolist(), (h, w), domain, with_keypoints=with_keypoints)


def make_inputs(args: argparse.Namespace, train: bool, occpose: bool) -> List[List[Dict]]:
    """Same seeded images for both models: ``iters + warmup`` batches of mapped dicts."""
    g = torch.Generator().manual_seed(0)
    h = (args.train_height or args.height) if train else args.height
    w = (args.train_width or args.width) if train else args.width
    batches = []
    for _ in range(args.iters + args.warmup):
        batch = []
        for i in range(args.batch if train else 1):
            image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
            d = {"image": image, "height": h, "width": w}
            if train:
                domain = DOMAIN_SOURCE if i % 2 == 0 else DOMAIN_TARGET
                d["instances"] = _person_instances(
                    g, h, w, args.instances, domain,
                    with_keypoints=domain == DOMAIN_SOURCE or not occpose)
                if occpose:
                    d["domain"] = domain
            batch.append(d)
        batches.append(batch)
    return batches


@torch.no_grad()
def calibrate_norms(model: nn.Module, cfg: CfgNode, h: int, w: int) -> None:
    """Give every BN / FrozenBN layer of each backbone the statistics of one random
    ``h x w`` image, normalized by ``MODEL.PIXEL_MEAN/STD`` like the benchmark's images.

    With random weights and FrozenBN's default statistics (mean 0, var 1) a ResNet's activations
    grow to Inf and no box survives; calibrated statistics keep them at a trained network's scale,
    so both models return real detections. The same image serves every backbone.
    """
    g = torch.Generator().manual_seed(1)
    image = torch.randint(0, 256, (1, 3, h, w), generator=g).float()
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in (cfg.MODEL.PIXEL_MEAN,
                                                             cfg.MODEL.PIXEL_STD))
    image = (image - mean) / std

    def set_stats(layer: nn.Module, inputs: Tuple[torch.Tensor]) -> None:
        x = inputs[0]
        layer.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        layer.running_var.copy_(x.var(dim=(0, 2, 3)))

    norms = (nn.BatchNorm2d, FrozenBatchNorm2d)
    backbones = {id(m.backbone): m.backbone for m in model.modules()
                 if isinstance(getattr(m, "backbone", None), Backbone)}
    for backbone in backbones.values():
        hooks = [m.register_forward_pre_hook(set_stats) for m in backbone.modules()
                 if isinstance(m, norms)]
        training = backbone.training
        backbone.eval()
        backbone(image.to(next(backbone.parameters()).device))
        backbone.train(training)
        for hook in hooks:
            hook.remove()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(cfg: CfgNode, args: argparse.Namespace, train: bool) -> Dict[str, float]:
    """Median seconds per step (train) or per image (inference) and peak memory in MiB."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    occpose = cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN"
    model = build_model(cfg)
    calibrate_norms(model, cfg, 256, 256)
    model.train(train)
    if train:
        for masking in modules_of_type(model, MaskAndPredict):
            masking.set_ratio(0.3)
    # lr 0: every step sees the same weights (stable timing); the update's cost is still paid.
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9) if train else None
    batches = make_inputs(args, train, occpose)
    cuda = torch.device(cfg.MODEL.DEVICE).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss0 = _rss_bytes()
    times, dets = [], []
    with EventStorage(), torch.set_grad_enabled(train):
        for k, batch in enumerate(batches):
            start = time.perf_counter()
            if train:
                loss = sum(model(batch).values())
                opt.zero_grad()
                loss.backward()
                opt.step()
            else:
                dets += [len(o["instances"]) for o in model(batch)]
            if cuda:
                torch.cuda.synchronize()
            if k >= args.warmup:
                times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0)
    return {"time": statistics.median(times), "peak_mib": peak / 2**20,
            "dets": statistics.mean(dets) if dets else float("nan")}


def print_params(cfg: CfgNode, base: CfgNode) -> None:
    """(a): parameters per part of both models and the heads' ratios."""
    torch.manual_seed(0)
    occ, d2 = build_model(cfg), build_model(base)
    print(f"\n(a) parameters (M), backbone {cfg.MODEL.BACKBONE.NAME}")
    occ_rows, d2_rows = part_params(occ), part_params(d2)
    for label, model, rows in (("OccPoseRCNN", occ, occ_rows), ("D2 KRCNN+mask", d2, d2_rows)):
        for name, n, _ in rows:
            print(f"  {label:<14s} {name:<44s} {n / 1e6:9.3f}")
        print(f"  {label:<14s} {'total':<44s} {count(model) / 1e6:9.3f}")
    if occ.detectors[DOMAIN_SOURCE] is occ.detectors[DOMAIN_TARGET]:
        print("  (MODEL.OCCPOSE.SHARE_DETECTORS: one detector, listed as 'pe', serves both "
              "domains)")
    heads = [(name, n) for name, n, is_det in occ_rows if not is_det]
    pose = sum(n for name, n in heads if "pose" in name.lower() or "context" in name.lower())
    kp, mask = count(d2.roi_heads.keypoint_head), count(d2.roi_heads.mask_head)
    print(f"  pose branch (D_C + pose head) / D2 keypoint head: {pose / 1e6:.3f} / "
          f"{kp / 1e6:.3f} M = {pose / kp:.2f}")
    total = sum(n for _, n in heads)
    names = ", ".join(name.split(".")[-1] for name, _ in heads)
    print(f"  instance heads ({names}) / D2 keypoint + mask heads: "
          f"{total / 1e6:.3f} / {(kp + mask) / 1e6:.3f} M = {total / (kp + mask):.2f}")


def main() -> None:
    args = parse_args()
    cfg, base = setup_cfgs(args)
    print_params(cfg, base)
    th, tw = args.train_height or args.height, args.train_width or args.width
    modes = [("inference", False)] + ([] if args.no_train else [("train", True)])
    ctx = mp.get_context("spawn")
    print(f"\n(b) {args.device}, threads {args.threads or torch.get_num_threads()}, "
          f"{args.iters} timed iters after {args.warmup} warm-up; inference 1 image "
          f"{args.height}x{args.width}; train batch {args.batch} at {th}x{tw}")
    print(f"  {'':<22s} {'OccPoseRCNN':>12s} {'D2 KRCNN+mask':>14s} {'ratio':>7s}")
    for mode, train in modes:
        res = {}
        for key, c in (("occ", cfg), ("d2", base)):
            with cf.ProcessPoolExecutor(1, mp_context=ctx) as pool:
                res[key] = pool.submit(measure, c, args, train).result()
        label = "train s/step" if train else "inference s/image"
        for field, name in (("time", label), ("peak_mib", f"{mode} peak MiB")):
            a, b = res["occ"][field], res["d2"][field]
            print(f"  {name:<22s} {a:12.3f} {b:14.3f} {a / b if b else float('nan'):7.2f}")
        if not train:
            print(f"  {'detections / image':<22s} {res['occ']['dets']:12.1f} "
                  f"{res['d2']['dets']:14.1f}")


if __name__ == "__main__":
    main()
