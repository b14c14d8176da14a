#!/usr/bin/env python
"""The main job (``make demo``): the whole method on the synthetic two-domain set, on CPU.

1. generates the synthetic set under ``$DETECTRON2_DATASETS/synthetic`` if it is missing;
2. trains ``configs/Synthetic/OccPose-Tiny.yaml`` (or ``--config-file``, e.g. the cascade
   variant ``OccPose-Tiny-Cascade.yaml``), resuming if an earlier run was cut short;
3. evaluates: 13-kp AP on source val and on target val (held-out keypoints), the occlusion
   table (paper Table 2) and the miss rate on the synthetic target;
4. draws a handful of target val images in the paper's Fig. 3 convention;
5. prints one summary table (also saved as ``summary.md``): the variant it ran (detectors,
   adaptation, Mask-and-Predict, any beyond-paper switch on), source / target AP, target AP with
   each person's own detected box and ground-truth boxes and by visible fraction, occlusion
   AP, miss rate.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import time

import cv2
from detectron2.config import CfgNode, get_cfg
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from detectron2.utils import comm

from occpose_d2 import OccPosePredictor, OccPoseTrainer, add_occpose_config, get_occpose_cfg
from occpose_d2.domains import DOMAIN_TARGET
from occpose_d2.engine import default_occpose_setup
from occpose_d2.evaluation import VISIBILITY_SUBSETS
from occpose_d2.visualization import draw_fig3

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "configs", "Synthetic", "OccPose-Tiny.yaml")
# What the demo must reach (13-kp OKS AP, in percent).
TARGETS = {"source val AP": 60.0, "target val AP": 45.0}
logger = logging.getLogger("occpose_d2.demo")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config-file", default=CONFIG, metavar="FILE",
                        help="a synthetic config (default: configs/Synthetic/OccPose-Tiny.yaml)")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "demo"))
    parser.add_argument("--num-figures", type=int, default=6)
    parser.add_argument("--num-train", type=int, default=800, help="synthetic images per domain")
    parser.add_argument("--num-val", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE")
    return parser.parse_args(argv)


def ensure_data(args) -> None:
    root = os.path.join(os.getenv("DETECTRON2_DATASETS", os.path.join(REPO, "datasets")),
                        "synthetic")
    if os.path.isfile(os.path.join(root, "annotations", "synth_pd_train_kp.json")):
        return
    cmd = [sys.executable, os.path.join(REPO, "datasets", "prepare_synthetic.py"), "--out", root,
           "--seed", str(args.seed), "--num-train", str(args.num_train),
           "--num-val", str(args.num_val)]
    print("+", " ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def setup(args):
    cfg = get_occpose_cfg(args.config_file, ["OUTPUT_DIR", args.output] + args.opts)
    default_occpose_setup(cfg, argparse.Namespace(config_file=args.config_file, eval_only=False,
                                                  opts=[]))
    return cfg


def draw_figures(cfg, out_dir: str, count: int) -> str:
    """Fig. 3 pictures of the first ``count`` target val images with persons, drawn with the
    final checkpoint."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.WEIGHTS = os.path.join(out_dir, "model_final.pth")
    predictor = OccPosePredictor(cfg)
    fig_dir = os.path.join(out_dir, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    dicts = [d for d in DatasetCatalog.get("synth_pd_val_kp") if d["annotations"]][:count]
    for d in dicts:
        image = read_image(d["file_name"], format="BGR")
        pred = predictor(image, domain=DOMAIN_TARGET)["instances"].to("cpu")
        drawn = draw_fig3(image[:, :, ::-1], predictions=pred, gt_annotations=d["annotations"])
        cv2.imwrite(os.path.join(fig_dir, os.path.basename(d["file_name"])), drawn[:, :, ::-1])
    return fig_dir


def _default_cfg() -> CfgNode:
    """D2's defaults with occpose_d2's keys at their defaults (the paper's method)."""
    cfg = get_cfg()
    add_occpose_config(cfg)
    return cfg


# What describe_variant and switches_on compare a config with; read-only.
_DEFAULTS = _default_cfg()


def switches_on(cfg: CfgNode) -> list:
    """Full names of the boolean ``MODEL.OCCPOSE`` keys that are True here but False by default
    (beyond-paper additions and other opt-in switches)."""
    found = []

    def walk(node, ref, prefix):
        for key, value in node.items():
            if isinstance(value, CfgNode):
                walk(value, ref.get(key, CfgNode()), f"{prefix}.{key}")
            elif value is True and ref.get(key) is False:
                found.append(f"{prefix}.{key}")

    walk(cfg.MODEL.OCCPOSE, _DEFAULTS.MODEL.OCCPOSE, "MODEL.OCCPOSE")
    return found


def describe_variant(cfg: CfgNode) -> str:
    """One line naming the variant a config trains (the ablation's vocabulary)."""
    o = cfg.MODEL.OCCPOSE
    m = o.MASK_AND_PREDICT
    ratio = max(m.RATIO_START, m.RATIO_END)
    detectors = "shared detector" if o.SHARE_DETECTORS else "two detectors (the paper)"
    if o.SHARE_DETECTORS and o.DOMAIN_NORM:
        detectors += " with per-domain BatchNorm statistics"
    if not o.SHARE_DETECTORS and o.DETECTOR_TIE.WEIGHT > 0:
        detectors = f"two detectors tied (w = {o.DETECTOR_TIE.WEIGHT:g})"
    parts = [detectors]
    if cfg.MODEL.ROI_HEADS.NAME == "CascadeROIHeads":
        ious = "/".join(f"{t:g}" for t in cfg.MODEL.ROI_BOX_CASCADE_HEAD.IOUS)
        parts.append(f"Cascade R-CNN box heads (IoU {ious})")
    parts.append("adversarial adaptation " + ("on" if o.DOMAIN_HEAD.LOSS_WEIGHT > 0 else "off"))
    if o.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT > 0:
        parts.append(f"image-level alignment (w = {o.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT:g})")
    parts.append(f"Mask-and-Predict on (ratio up to {ratio:g})" if ratio > 0
                 else "Mask-and-Predict off")
    seg, paper_seg = o.SEG_HEAD, _DEFAULTS.MODEL.OCCPOSE.SEG_HEAD
    if (seg.NUM_CONV, seg.LOSS_WEIGHT) != (paper_seg.NUM_CONV, paper_seg.LOSS_WEIGHT):
        parts.append(f"{seg.NUM_CONV}-conv segmentation head (loss weight {seg.LOSS_WEIGHT:g})")
    if m.PATTERN != "blocks":
        parts.append(f"Mask-and-Predict pattern {m.PATTERN!r}")
    if o.POSE_HEAD.SUPERVISE != "fully_visible":
        parts.append(f"pose loss on {o.POSE_HEAD.SUPERVISE} source persons")
    jitter = [f"{key.lower()} {lo:g}-{hi:g}" for key in ("CONTRAST", "SATURATION")
              for lo, hi in [cfg.INPUT[key]] if (lo, hi) != (1.0, 1.0)]
    if jitter:
        parts.append("colour jitter (" + ", ".join(jitter) + ")")
    if cfg.INPUT.TARGET_STYLE.PROB > 0:
        parts.append(f"target-style colour transfer (p = {cfg.INPUT.TARGET_STYLE.PROB:g})")
    if cfg.INPUT.OCCLUDERS.PROB > 0:
        parts.append(f"copy-paste occluders (p = {cfg.INPUT.OCCLUDERS.PROB:g})")
    paste = cfg.INPUT.PERSON_PASTE
    if paste.PROB > 0:
        parts.append(f"source persons pasted into target images (p = {paste.PROB:g}"
                     + (f", re-coloured to the target person beside them with p = "
                        f"{paste.STYLE_PROB:g}" if paste.STYLE_PROB > 0 else "")
                     + (f", a copy-paste occluder over each with p = {paste.OCCLUDER_PROB:g}"
                        if paste.OCCLUDER_PROB > 0 else "") + ")")
    st = o.SELF_TRAINING
    if st.ENABLED:
        teacher = "flip teacher" if st.FLIP_TEACHER else "EMA teacher"
        if st.FLIP_TEACHER and st.FLIP_AGREEMENT > 0:
            teacher += f" with peaks agreeing within {st.FLIP_AGREEMENT:g} cells"
        parts.append(f"self-training from iteration {st.START_ITER} ({teacher}, {st.TARGETS} "
                     f"targets, confidence >= {st.THRESHOLD:g})")
    if o.POSE_HEAD.RESCORE:
        quality = {"joint_score": "mean joint score",
                   "expected_oks": "expected OKS"}[o.POSE_HEAD.RESCORE_BY]
        parts.append(f"poses ranked by box score x {quality}")
    if o.POSE_HEAD.DECODE == "expected_oks":
        parts.append("joints placed where their expected OKS is highest")
    if o.POSE_HEAD.FLIP_TEST:
        parts.append("flip test")
    nms = cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST
    if nms != _DEFAULTS.MODEL.ROI_HEADS.NMS_THRESH_TEST:  # D2's 0.5
        parts.append(f"test box NMS at IoU {nms:g}")
    if o.POSE_NMS.ENABLED:
        parts.append(f"pose NMS at OKS {o.POSE_NMS.OKS_THRESH:g}")
    if o.ROI_SCALE != 1.0:
        parts.append(f"instance RoIs grown by {o.ROI_SCALE:g}")
    named = {"MODEL.OCCPOSE.SHARE_DETECTORS", "MODEL.OCCPOSE.DOMAIN_NORM",
             "MODEL.OCCPOSE.POSE_HEAD.SUPERVISE_TARGET",
             "MODEL.OCCPOSE.POSE_HEAD.RESCORE", "MODEL.OCCPOSE.POSE_HEAD.FLIP_TEST",
             "MODEL.OCCPOSE.SELF_TRAINING.ENABLED", "MODEL.OCCPOSE.SELF_TRAINING.FLIP_TEACHER",
             "MODEL.OCCPOSE.POSE_NMS.ENABLED"}
    extra = [k for k in switches_on(cfg) if k not in named]
    if o.POSE_HEAD.SUPERVISE_TARGET:
        parts.append("ORACLE: target poses supervised")
    if extra:
        parts.append("switches on: " + ", ".join(extra))
    return "; ".join(parts)


def _get(results: dict, *keys, default=float("nan")) -> float:
    for k in keys:
        if not isinstance(results, dict) or k not in results:
            return default
        results = results[k]
    return float(results)


def summary_table(results: dict, cfg, minutes: float) -> str:
    """One Markdown table with the figures the demo promises."""
    rows = [
        ("source val AP (13-kp OKS, synth_pe_val)",
         _get(results, "synth_pe_val", "keypoints", "AP")),
        ("target val AP (13-kp OKS, synth_pd_val_kp)",
         _get(results, "synth_pd_val_kp", "keypoints", "AP")),
        ("target val box AP", _get(results, "synth_pd_val_kp", "bbox", "AP")),
        ("target val mask AP", _get(results, "synth_pd_val_kp", "segm", "AP")),
        ("target val AP, each person's detected box",
         _get(results, "synth_pd_val_kp", "visibility_ap", "AP_matched_boxes")),
        ("target val AP, ground-truth boxes",
         _get(results, "synth_pd_val_kp", "visibility_ap", "AP_gt_boxes")),
        ("target val AP, ground-truth boxes and visible masks",
         _get(results, "synth_pd_val_kp", "visibility_ap", "AP_gt_boxes_gt_masks")),
        ("target val AP, detections ranked by true OKS",
         _get(results, "synth_pd_val_kp", "visibility_ap", "AP_oracle_ranking")),
    ]
    for name, label, _, _ in VISIBILITY_SUBSETS:
        for boxes, suffix in (("detected", ""), ("each person's detected", "matched_boxes_"),
                              ("ground-truth", "gt_boxes_")):
            rows.append((f"target val AP, {label}, {boxes} boxes",
                         _get(results, "synth_pd_val_kp", "visibility_ap", f"AP_{suffix}{name}")))
    for domain, name in (("source", "synth_pe_val"), ("target", "synth_pd_val_kp")):
        occ = results.get(name, {}).get("occlusion_ap", {})
        rows += [(f"{domain} occlusion AP, {k}", float(v)) for k, v in occ.items()]
    for subset in ("R", "HO", "R+HO"):
        rows.append((f"target MR^-2 {subset} (%)", _get(results, "synth_pd_val", "MR", subset)))
    rows.append(("training + evaluation wall time (min)", minutes))
    lines = [f"Variant: {describe_variant(cfg)}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in rows]
    met = [
        f"{name} >= {goal:.0f}: {'yes' if value >= goal else 'NO'} ({value:.1f})"
        for (name, goal), value in zip(TARGETS.items(), (rows[0][1], rows[1][1]))
    ]
    return "\n".join(lines + ["", "Targets: " + "; ".join(met)])


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    ensure_data(args)
    cfg = setup(args)
    trainer = OccPoseTrainer(cfg)
    trainer.resume_or_load(resume=True)
    trainer.train()
    # D2's EvalHook evaluated after the last iteration; a run resumed at MAX_ITER did not train.
    results = getattr(trainer, "_last_eval_results", None)
    if not results:
        results = OccPoseTrainer.test(cfg, trainer.model)
    minutes = (time.perf_counter() - start) / 60.0
    if not comm.is_main_process():
        return
    fig_dir = draw_figures(cfg, cfg.OUTPUT_DIR, args.num_figures) if args.num_figures else None
    table = summary_table(results, cfg, minutes)
    with open(os.path.join(cfg.OUTPUT_DIR, "summary.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(cfg.OUTPUT_DIR, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=float)
    print("\n" + table)
    if fig_dir:
        print(f"\nFigures (Fig. 3 convention): {fig_dir}")


if __name__ == "__main__":
    main()
