#!/usr/bin/env python
"""Ablation harness (``make ablation``): named variants of the synthetic demo over seeds, one
Markdown table (mean ± std over seeds) and optionally a JSON of the same numbers.

Each variant x seed is the main job (``run_synthetic_demo.py``) with the variant's config
overrides, ``SEED k`` and a schedule scaled to ``--iters`` iterations, in its own folder
``<output>/<variant>/seed<k>/``. A run whose ``results.json`` exists is skipped, and a run cut
short resumes from its last checkpoint, so an interrupted sweep continues where it stopped. The
synthetic data set is the default one (data seed 0) for every run.

Runs go seed by seed (all variants of seed 0 first), ``--jobs`` at a time (default 2, one CPU
thread each on a 2-core machine: two small runs side by side use the cores better than one).
``--variants`` defaults to the sweep reported in BENCHMARKS.md; the others in :data:`VARIANTS`
turn one beyond-paper switch on or off at a time.

Example::

    python projects/OccPose/ablate.py --variants full no_adaptation --seeds 0 1 2 \
        --iters 500 --json benchmarks/ablation.json --markdown benchmarks/ablation.md

Inference-only changes (pose rescoring, the flip test) need no training: ``--weights-from
SWEEP`` evaluates each run from ``SWEEP/<variant>/seed<k>/model_final.pth``, the weights of a
finished sweep of the same variants, seeds and ``--iters``, with this call's overrides::

    python projects/OccPose/ablate.py --variants full --seeds 0 1 2 --iters 1500 \
        --weights-from output/ablation --output output/ablation_eoks \
        MODEL.OCCPOSE.POSE_HEAD.RESCORE_BY expected_oks

Standard deviations are population ones (ddof = 0) over the seeds.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

from detectron2.config import CfgNode

from occpose_d2 import get_occpose_cfg

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CONFIG = os.path.join(REPO, "configs", "Synthetic", "OccPose-Tiny.yaml")
DEMO = os.path.join(HERE, "run_synthetic_demo.py")

_TWO_DETECTORS = ["MODEL.OCCPOSE.SHARE_DETECTORS", "False"]
# The beyond-paper switches the tiny config turns on, turned off again: the paper's method.
_NO_TIE = ["MODEL.OCCPOSE.DETECTOR_TIE.WEIGHT", "0.0"]
_FULLY_VISIBLE = ["MODEL.OCCPOSE.POSE_HEAD.SUPERVISE", "fully_visible"]
_NO_RESCORE = ["MODEL.OCCPOSE.POSE_HEAD.RESCORE", "False"]
_PEAK_DECODE = ["MODEL.OCCPOSE.POSE_HEAD.DECODE", "peak"]
_NO_FLIP = ["MODEL.OCCPOSE.POSE_HEAD.FLIP_TEST", "False"]
_BOX_NMS_05 = ["MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.5"]  # D2's default
_NO_SELF_TRAINING = ["MODEL.OCCPOSE.SELF_TRAINING.ENABLED", "False"]
_NO_COLOR_JITTER = ["INPUT.CONTRAST", "(1.0, 1.0)", "INPUT.SATURATION", "(1.0, 1.0)"]
# D2's Cascade R-CNN box heads (those of configs/Synthetic/OccPose-Tiny-Cascade.yaml).
_CASCADE = ["MODEL.ROI_HEADS.NAME", "CascadeROIHeads",
            "MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", "True"]
# Half the pasted persons re-coloured to the target person beside them (the cascade config's).
_PASTE_STYLE = ["INPUT.PERSON_PASTE.STYLE_PROB", "0.5"]
# One detector for both domains.
_SHARED = ["MODEL.OCCPOSE.SHARE_DETECTORS", "True"]
# Per-domain BatchNorm running statistics in the shared detector's backbone.
_DOMAIN_NORM = ["MODEL.OCCPOSE.DOMAIN_NORM", "True"]
# Every pasted person degraded to its host image's blur and noise.
_MATCH_CAMERA = ["INPUT.PERSON_PASTE.MATCH_CAMERA", "True"]
# What turns the synthetic config into configs/Synthetic/OccPose-Tiny-Cascade.yaml.
_CASCADE_CONFIG = _CASCADE + _PASTE_STYLE + _SHARED + _DOMAIN_NORM
# The paper's adversarial (instance-level) domain loss off.
_NO_DOMAIN_LOSS = ["MODEL.OCCPOSE.DOMAIN_HEAD.LOSS_WEIGHT", "0.0"]
# The two switches that put target pixels into source images.
_NO_TARGET_PIXELS = ["INPUT.TARGET_STYLE.PROB", "0.0", "INPUT.OCCLUDERS.PROB", "0.0"]
_NO_IMAGE_ALIGNMENT = ["MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT", "0.0"]
_NOISE = ["INPUT.NOISE_PROB", "0.5"]
_SOURCE_VIA_TARGET = ["MODEL.OCCPOSE.SOURCE_VIA_TARGET", "0.5"]
_POSE_ALIGNMENT = ["MODEL.OCCPOSE.POSE_DOMAIN_HEAD.LOSS_WEIGHT", "1.0"]
_SILHOUETTE = ["MODEL.OCCPOSE.SILHOUETTE.LOSS_WEIGHT", "10.0"]
# The synthetic config's person paste (source persons with their poses in target images), on
# and off.
_PERSON_PASTE = ["INPUT.PERSON_PASTE.PROB", "0.5"]
_NO_PERSON_PASTE = ["INPUT.PERSON_PASTE.PROB", "0.0"]
# No use of target images beyond their boxes and masks: no domain losses, self-training, target
# pixels in source images or source persons in target images.
_NO_ADAPTATION = (_NO_DOMAIN_LOSS + _NO_IMAGE_ALIGNMENT
                  + _NO_SELF_TRAINING + _NO_TARGET_PIXELS + _NO_PERSON_PASTE)
# Target poses supervised on every labeled target person (the upper bound), without the paste.
_ORACLE = (["DATASETS.TRAIN_TARGET", "('synth_pd_train_kp',)",
            "MODEL.OCCPOSE.POSE_HEAD.SUPERVISE_TARGET", "True"]
           + _NO_SELF_TRAINING + _NO_PERSON_PASTE)
# The paper's segmentation head: one conv, alpha 0.5 (the synthetic config: 4 convs, alpha 2).
_PAPER_SEG_HEAD = ["MODEL.OCCPOSE.SEG_HEAD.NUM_CONV", "1", "MODEL.OCCPOSE.SEG_HEAD.LOSS_WEIGHT",
                   "0.5"]
_PAPER = (_PAPER_SEG_HEAD + _NO_TIE + _FULLY_VISIBLE + _NO_RESCORE + _PEAK_DECODE + _NO_FLIP
          + _BOX_NMS_05 + _NO_SELF_TRAINING + _NO_COLOR_JITTER + _NO_TARGET_PIXELS
          + _NO_IMAGE_ALIGNMENT + _NO_PERSON_PASTE)
# Self-training with the flip teacher. The threshold 0.5 is where the source's pseudo-keypoints
# are 98% right (scripts/pseudo_label_quality.py on synth_pe_val, BENCHMARKS.md 1.10).
_FLIP_SELF_TRAINING = ["MODEL.OCCPOSE.SELF_TRAINING.ENABLED", "True",
                       "MODEL.OCCPOSE.SELF_TRAINING.START_ITER", "900",
                       "MODEL.OCCPOSE.SELF_TRAINING.THRESHOLD", "0.5",
                       "MODEL.OCCPOSE.SELF_TRAINING.FLIP_TEACHER", "True",
                       "MODEL.OCCPOSE.SELF_TRAINING.FLIP_AGREEMENT", "2.0"]
# The variants: name -> (description, config overrides on top of configs/Synthetic/OccPose-Tiny,
# whose method is `full`: two tied detectors, adaptation with the person paste, pose loss on all
# labeled persons, poses placed where their expected OKS is highest and ranked by box score x
# expected OKS, test box NMS at IoU 0.6, a 4-conv segmentation head with loss weight 2).
VARIANTS: Dict[str, Tuple[str, List[str]]] = {
    "full": ("two tied detectors + adversarial adaptation + person paste + labeled-joint pose "
             "loss + expected-OKS decoding and rescoring + flip test + test box NMS 0.6 + colour "
             "jitter + 4-conv segmentation head with loss weight 2",
             _TWO_DETECTORS),
    "paper": ("two detectors + adversarial adaptation, nothing beyond the paper",
              _TWO_DETECTORS + _PAPER),
    "no_adaptation": ("full without the domain losses, the person paste, self-training, "
                      "target-style transfer or occluders (no use of target images beyond their "
                      "boxes and masks)",
                      _TWO_DETECTORS + _NO_ADAPTATION),
    "no_mask_and_predict": ("full without Mask-and-Predict",
                            _TWO_DETECTORS + ["MODEL.OCCPOSE.MASK_AND_PREDICT.RATIO_END", "0.0"]),
    "shared_detector": ("full with one detector for both domains",
                        _SHARED),
    "oracle": ("full + target poses supervised, without the person paste (upper bound; no "
               "pseudo-poses where labels are)",
               _TWO_DETECTORS + _ORACLE),
    "no_adaptation_shared": ("no_adaptation with one detector for both domains",
                             _NO_ADAPTATION + _SHARED),
    "oracle_shared": ("oracle with one detector for both domains", _ORACLE + _SHARED),
    # Not in the default sweep: one switch at a time on top of `full`.
    "no_tie": ("full without the detector tie", _TWO_DETECTORS + _NO_TIE),
    "fully_visible": ("full with the paper's pose loss on fully visible persons only",
                      _TWO_DETECTORS + _FULLY_VISIBLE),
    "no_rescore": ("full with poses ranked by the box score alone (inference only)",
                   _TWO_DETECTORS + _NO_RESCORE),
    "joint_score_rescore": ("full with poses ranked by box score x mean joint score instead of "
                            "expected OKS (inference only)",
                            _TWO_DETECTORS + ["MODEL.OCCPOSE.POSE_HEAD.RESCORE_BY",
                                              "joint_score"]),
    "peak_decode": ("full with joints at the heatmap's peak instead of where the expected OKS is "
                    "highest (inference only)",
                    _TWO_DETECTORS + _PEAK_DECODE),
    "no_flip": ("full without the flip test (inference only)", _TWO_DETECTORS + _NO_FLIP),
    "box_nms_05": ("full with D2's test box NMS at IoU 0.5 instead of 0.6 (inference only)",
                   _TWO_DETECTORS + _BOX_NMS_05),
    "pose_nms": ("full + pose NMS at OKS 0.9 after a test box NMS at IoU 0.7 (inference only)",
                 _TWO_DETECTORS + ["MODEL.OCCPOSE.POSE_NMS.ENABLED", "True",
                                   "MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.7"]),
    "mixed_cuts": ("full + occluder-like Mask-and-Predict cuts",
                   _TWO_DETECTORS + ["MODEL.OCCPOSE.MASK_AND_PREDICT.PATTERN", "mixed"]),
    "occluders": ("full + copy-paste occluders from target images on source persons",
                  _TWO_DETECTORS + ["INPUT.OCCLUDERS.PROB", "0.5"]),
    "paste_occluders": ("full + a copy-paste occluder from a random target image over half the "
                        "pasted persons (behind cars, poles, bushes, not only behind persons)",
                        _TWO_DETECTORS + ["INPUT.PERSON_PASTE.OCCLUDER_PROB", "0.5"]),
    "target_style": ("full + source persons and backgrounds re-coloured to target styles "
                     "(half the source images)",
                     _TWO_DETECTORS + ["INPUT.TARGET_STYLE.PROB", "0.5"]),
    "style_occluders": ("full + target-style colour transfer + copy-paste occluders",
                        _TWO_DETECTORS + ["INPUT.TARGET_STYLE.PROB", "0.5",
                                          "INPUT.OCCLUDERS.PROB", "0.5"]),
    "roi_scale": ("full + instance RoIs grown by 1.25 about the boxes",
                  _TWO_DETECTORS + ["MODEL.OCCPOSE.ROI_SCALE", "1.25"]),
    "self_training": ("full + EMA-teacher pseudo-poses on the target",
                      _TWO_DETECTORS + ["MODEL.OCCPOSE.SELF_TRAINING.ENABLED", "True",
                                        "MODEL.OCCPOSE.SELF_TRAINING.THRESHOLD", "0.2"]),
    "self_training_visible": ("full + EMA-teacher pseudo-poses on target persons >= 90% visible, "
                              "from iteration 900 of 1,500",
                              _TWO_DETECTORS + ["MODEL.OCCPOSE.SELF_TRAINING.ENABLED", "True",
                                                "MODEL.OCCPOSE.SELF_TRAINING.START_ITER", "900",
                                                "MODEL.OCCPOSE.SELF_TRAINING.THRESHOLD", "0.5",
                                                "MODEL.OCCPOSE.SELF_TRAINING.MIN_VISIBLE",
                                                "0.9"]),
    "self_training_flip": ("full + self-training from iteration 900 of 1,500: flip teacher, joints "
                           "whose plain and mirrored peaks agree within 2 cells and whose "
                           "confidence is >= 0.5, hard targets",
                           _TWO_DETECTORS + _FLIP_SELF_TRAINING),
    "self_training_soft": ("self_training_flip with soft targets (the teacher's whole heatmap "
                           "distribution)",
                           _TWO_DETECTORS + _FLIP_SELF_TRAINING
                           + ["MODEL.OCCPOSE.SELF_TRAINING.TARGETS", "soft"]),
    "self_training_dropout": ("self_training_soft with half the channels of the student's target "
                              "features dropped (the teacher sees them all)",
                              _TWO_DETECTORS + _FLIP_SELF_TRAINING
                              + ["MODEL.OCCPOSE.SELF_TRAINING.TARGETS", "soft",
                                 "MODEL.OCCPOSE.SELF_TRAINING.FEATURE_DROPOUT", "0.5"]),
    "self_training_soft_plain": ("self_training_soft with the plain EMA teacher (no flipped "
                                 "pass, no agreement check): the cheaper teacher",
                                 _TWO_DETECTORS + _FLIP_SELF_TRAINING
                                 + ["MODEL.OCCPOSE.SELF_TRAINING.TARGETS", "soft",
                                    "MODEL.OCCPOSE.SELF_TRAINING.FLIP_TEACHER", "False",
                                    "MODEL.OCCPOSE.SELF_TRAINING.FLIP_AGREEMENT", "0.0"]),
    "image_alignment": ("full + image-level adversarial alignment of both detectors' backbone "
                        "features (p2-p5, loss weight 1, same GRL ramp as the instance level)",
                        _TWO_DETECTORS + ["MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT", "1.0"]),
    "all_unsupervised": ("full + every unsupervised addition that helped on its own at 1,500 "
                         "iterations: image-level alignment, target-style colour transfer, "
                         "copy-paste occluders, soft self-training (plain EMA teacher)",
                         _TWO_DETECTORS + ["MODEL.OCCPOSE.IMAGE_DOMAIN_HEAD.LOSS_WEIGHT", "1.0",
                                           "INPUT.TARGET_STYLE.PROB", "0.5",
                                           "INPUT.OCCLUDERS.PROB", "0.5"]
                         + _FLIP_SELF_TRAINING
                         + ["MODEL.OCCPOSE.SELF_TRAINING.TARGETS", "soft",
                            "MODEL.OCCPOSE.SELF_TRAINING.FLIP_TEACHER", "False",
                            "MODEL.OCCPOSE.SELF_TRAINING.FLIP_AGREEMENT", "0.0"]),
    "paper_seg_head": ("full with the paper's segmentation head (1 conv, loss weight 0.5)",
                       _TWO_DETECTORS + _PAPER_SEG_HEAD),
    "seg_head_1_conv": ("full with a 1-conv segmentation head (loss weight 2)",
                        _TWO_DETECTORS + _PAPER_SEG_HEAD[:2]),
    "seg_loss_05": ("full with the paper's segmentation loss weight 0.5 (4-conv head)",
                    _TWO_DETECTORS + _PAPER_SEG_HEAD[2:]),
    "noise": ("full + Gaussian sensor noise (sigma 2-8 grey levels) on half the training images "
              "of both domains",
              _TWO_DETECTORS + _NOISE),
    "no_adaptation_noise": ("no_adaptation + the sensor noise of `noise`",
                            _TWO_DETECTORS + _NO_ADAPTATION + _NOISE),
    "source_via_target": ("full + the source images also through the target backbone on half the "
                          "steps (their pose labels train it)",
                          _TWO_DETECTORS + _SOURCE_VIA_TARGET),
    "no_adaptation_source_via_target": ("no_adaptation + the routing of `source_via_target`",
                                        _TWO_DETECTORS + _NO_ADAPTATION + _SOURCE_VIA_TARGET),
    "pose_alignment": ("full + pose-level adversarial alignment: a domain classifier on every "
                       "instance's heatmaps (loss weight 1, same GRL ramp as the instance level)",
                       _TWO_DETECTORS + _POSE_ALIGNMENT),
    "silhouette": ("full + silhouette coverage: target poses pulled to explain every pixel of "
                   "their visible masks (loss weight 10, tube radius 0.08 box heights)",
                   _TWO_DETECTORS + _SILHOUETTE),
    "no_adaptation_silhouette": ("no_adaptation + silhouette coverage (a use of target masks, "
                                 "not of target pixels)",
                                 _TWO_DETECTORS + _NO_ADAPTATION + _SILHOUETTE),
    "no_person_paste": ("full without the person paste (no source persons pasted into target "
                        "images)",
                        _TWO_DETECTORS + _NO_PERSON_PASTE),
    "no_adaptation_person_paste": ("no_adaptation + the person paste of `full`",
                                   _TWO_DETECTORS + _NO_ADAPTATION + _PERSON_PASTE),
    "cascade": ("full with D2's Cascade R-CNN box heads (IoU 0.5 / 0.6 / 0.7) in both detectors "
                "(configs/Synthetic/OccPose-Tiny-Cascade.yaml's box heads)",
                _TWO_DETECTORS + _CASCADE),
    "no_adaptation_cascade": ("no_adaptation with the box heads of `cascade`",
                              _TWO_DETECTORS + _NO_ADAPTATION + _CASCADE),
    "oracle_cascade": ("oracle with the box heads of `cascade`",
                       _TWO_DETECTORS + _ORACLE + _CASCADE),
    "no_adaptation_cascade_shared": ("no_adaptation_cascade with one detector for both domains",
                                     _NO_ADAPTATION + _CASCADE + _SHARED),
    "oracle_cascade_shared": ("oracle_cascade with one detector for both domains",
                              _ORACLE + _CASCADE + _SHARED),
    "oracle_cascade_dsbn": ("oracle_cascade_shared with per-domain BatchNorm running statistics "
                            "(an upper bound with the cascade config's layout)",
                            _ORACLE + _CASCADE + _SHARED + _DOMAIN_NORM),
    "cascade_self_training": ("cascade + the soft self-training of `self_training_soft` (flip "
                              "teacher, whole heatmaps as targets, from 60% of the schedule)",
                              _TWO_DETECTORS + _CASCADE + _FLIP_SELF_TRAINING
                              + ["MODEL.OCCPOSE.SELF_TRAINING.TARGETS", "soft"]),
    "cascade_paste_style": ("cascade + half the pasted persons re-coloured to the target person "
                            "they stand beside (INPUT.PERSON_PASTE.STYLE_PROB 0.5)",
                            _TWO_DETECTORS + _CASCADE + _PASTE_STYLE),
    "cascade_paste_style_shared": ("cascade_paste_style with one detector for both domains "
                                   "(`shared_detector`'s layout)",
                                   _CASCADE + _PASTE_STYLE + _SHARED),
    "cascade_paste_style_dsbn": ("cascade_paste_style_shared with per-domain BatchNorm running "
                                 "statistics in the shared backbone (MODEL.OCCPOSE.DOMAIN_NORM; "
                                 "configs/Synthetic/OccPose-Tiny-Cascade.yaml)",
                                 _CASCADE_CONFIG),
    "cascade_dsbn_no_domain_loss": ("cascade_paste_style_dsbn (the cascade config) without the "
                                    "adversarial domain loss: what the paper's alignment adds on "
                                    "top of the paste and the per-domain statistics",
                                    _CASCADE_CONFIG + _NO_DOMAIN_LOSS),
    "cascade_paste_camera": ("cascade_paste_style + every pasted person degraded to its host "
                             "image's blur and noise (INPUT.PERSON_PASTE.MATCH_CAMERA)",
                             _TWO_DETECTORS + _CASCADE + _PASTE_STYLE + _MATCH_CAMERA),
    "cascade_paste_camera_dsbn": ("cascade_paste_style_dsbn (the cascade config) + the camera "
                                  "match of `cascade_paste_camera`",
                                  _CASCADE_CONFIG + _MATCH_CAMERA),
    "paste_style": ("full + half the pasted persons re-coloured to the target person they "
                    "stand beside (INPUT.PERSON_PASTE.STYLE_PROB 0.5)",
                    _TWO_DETECTORS + _PASTE_STYLE),
    "no_color_jitter": ("full without the contrast and saturation jitter",
                        _TWO_DETECTORS + _NO_COLOR_JITTER),
    "grl_03": ("full with the gradient reversal ramped to 0.3 instead of 0.1",
               _TWO_DETECTORS + ["MODEL.OCCPOSE.DOMAIN_HEAD.GRL_LAMBDA", "0.3"]),
}
DEFAULT_VARIANTS = ("full", "paper", "no_adaptation", "no_mask_and_predict", "shared_detector",
                    "oracle")
# Iteration-valued keys scaled with SOLVER.MAX_ITER by --iters (add new schedule keys here).
SCHEDULE_KEYS = (
    "SOLVER.MAX_ITER",
    "SOLVER.STEPS",
    "SOLVER.WARMUP_ITERS",
    "SOLVER.CHECKPOINT_PERIOD",
    "TEST.EVAL_PERIOD",
    "MODEL.OCCPOSE.MASK_AND_PREDICT.START_ITER",
    "MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER",
    "MODEL.OCCPOSE.DOMAIN_HEAD.GRL_RAMP_ITERS",
    "MODEL.OCCPOSE.SELF_TRAINING.START_ITER",
)
# Evaluation of every run: the two keypoint val sets, occlusion AP at the two reported ratios.
EVAL_OVERRIDES = ["DATASETS.TEST", "('synth_pe_val', 'synth_pd_val_kp')",
                  "TEST.OCCLUSION_RATIOS", "[0.5, 0.7]"]
# JSON metric name -> (table header, path in a run's results.json).
METRICS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "source_ap": ("source AP", ("synth_pe_val", "keypoints", "AP")),
    "target_ap": ("target AP", ("synth_pd_val_kp", "keypoints", "AP")),
    "target_occlusion_ap_50": ("target occl. AP@50", ("synth_pd_val_kp", "occlusion_ap", "AP@50%")),
    "target_occlusion_ap_70": ("target occl. AP@70", ("synth_pd_val_kp", "occlusion_ap", "AP@70%")),
    "target_ap_matched_boxes": ("target AP, own detected box",
                                ("synth_pd_val_kp", "visibility_ap", "AP_matched_boxes")),
    "target_ap_gt_boxes": ("target AP, GT boxes",
                           ("synth_pd_val_kp", "visibility_ap", "AP_gt_boxes")),
    "target_ap_gt_masks": ("target AP, GT boxes + masks",
                           ("synth_pd_val_kp", "visibility_ap", "AP_gt_boxes_gt_masks")),
    "target_ap_oracle_ranking": ("target AP, true-OKS ranking",
                                 ("synth_pd_val_kp", "visibility_ap", "AP_oracle_ranking")),
    "target_ap_vis_ge_09": ("vis >= 0.9", ("synth_pd_val_kp", "visibility_ap", "AP_vis_ge_09")),
    "target_ap_vis_065_09": ("vis 0.65-0.9",
                             ("synth_pd_val_kp", "visibility_ap", "AP_vis_065_09")),
    "target_ap_vis_lt_065": ("vis < 0.65", ("synth_pd_val_kp", "visibility_ap", "AP_vis_lt_065")),
    "target_ap_person_occluded": ("occluded by a person",
                                  ("synth_pd_val_kp", "visibility_ap", "AP_person_occluded")),
}
RESULTS_FILE = "results.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS),
                        choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="training seeds (config SEED)")
    parser.add_argument("--iters", type=int, default=500,
                        help="iterations per run; every schedule key is scaled to it")
    parser.add_argument("--jobs", type=int, default=2,
                        help="runs trained at once, each with OMP_NUM_THREADS = cores / jobs")
    parser.add_argument("--output", default=os.path.join(REPO, "output", "ablation"))
    parser.add_argument("--markdown", default=None, help="table file (default OUTPUT/ablation.md)")
    parser.add_argument("--json", default=None, help="also write the numbers as JSON here")
    parser.add_argument("--weights-from", default=None, metavar="SWEEP",
                        help="evaluate only: each run takes SWEEP/<variant>/seed<k>/"
                        "model_final.pth (a finished sweep, same --iters) and trains no further")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="config overrides KEY VALUE for every run")
    return parser.parse_args(argv)


def scaled_schedule(cfg: CfgNode, iters: int) -> List[str]:
    """``KEY VALUE`` overrides that scale every :data:`SCHEDULE_KEYS` entry of ``cfg`` by
    ``iters / SOLVER.MAX_ITER`` (rounded; a positive value stays >= 1, 0 stays 0; a list of
    iterations such as ``SOLVER.STEPS`` keeps its distinct values below ``iters``)."""
    factor = iters / cfg.SOLVER.MAX_ITER

    def scale(v: int) -> int:
        return max(1, int(round(v * factor))) if v > 0 else 0

    out = []
    for key in SCHEDULE_KEYS:
        node = cfg
        for part in key.split("."):
            node = node[part]
        if isinstance(node, (tuple, list)):
            value = tuple(sorted({scale(v) for v in node if scale(v) < iters}))
        else:
            value = scale(node)
        out += [key, str(value)]
    return out


def run_overrides(variant: str, seed: int, iters: int, opts: Sequence[str]) -> List[str]:
    """Config overrides of one run: variant, evaluation, user ``opts``, seed, scaled schedule."""
    base = VARIANTS[variant][1] + EVAL_OVERRIDES + list(opts) + ["SEED", str(seed)]
    return base + scaled_schedule(get_occpose_cfg(CONFIG, base), iters)


def start_from_final(out_dir: str, weights: str) -> None:
    """Make ``out_dir`` a finished run of the ``weights`` checkpoint (a ``model_final.pth``
    saved at the end of a run of the same schedule): copied there as ``model_final.pth`` and
    named in ``last_checkpoint``, so the main job resumes at its last iteration, trains no
    further and only evaluates.

    Raises:
        FileNotFoundError: ``weights`` does not exist (names it).
    """
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"--weights-from: no checkpoint {weights}")
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, "model_final.pth")
    if not os.path.isfile(target):
        shutil.copyfile(weights, target)
    with open(os.path.join(out_dir, "last_checkpoint"), "w") as f:
        f.write("model_final.pth")


def run_one(out_dir: str, overrides: List[str], threads: Optional[int] = None,
            weights: Optional[str] = None) -> Optional[float]:
    """Train + evaluate one run in a child process (output in ``out_dir/run.log``) unless its
    results exist; returns the wall time in seconds (None when skipped). ``threads`` sets the
    child's OMP_NUM_THREADS (None: inherited); ``weights``, a final checkpoint to evaluate
    instead of training (:func:`start_from_final`)."""
    if os.path.isfile(os.path.join(out_dir, RESULTS_FILE)):
        return None
    os.makedirs(out_dir, exist_ok=True)
    if weights:
        start_from_final(out_dir, weights)
    start = time.perf_counter()
    cmd = [sys.executable, DEMO, "--output", out_dir, "--num-figures", "0"] + overrides
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    log = os.path.join(out_dir, "run.log")
    with open(log, "a") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        raise RuntimeError(f"run {out_dir} failed (exit code {code}); see {log}")
    return time.perf_counter() - start


def _lookup(results: dict, path: Tuple[str, ...]) -> float:
    for k in path:
        if not isinstance(results, dict) or k not in results:
            return float("nan")
        results = results[k]
    return float(results)


def collect(output: str, variants: Sequence[str], seeds: Sequence[int]) -> Dict[str, Dict]:
    """``{variant: {metric: {"mean", "std", "seeds": [...]}}}`` from the runs' results files
    (population std over the seeds that finished; a metric a run lacks is left out)."""
    table = {}
    for variant in variants:
        runs = []
        for seed in seeds:
            path = os.path.join(output, variant, f"seed{seed}", RESULTS_FILE)
            if os.path.isfile(path):
                with open(path) as f:
                    runs.append(json.load(f))
        if not runs:
            continue
        table[variant] = {}
        for metric, (_, path) in METRICS.items():
            values = [_lookup(r, path) for r in runs]
            values = [v for v in values if not math.isnan(v)]
            if values:
                mean = sum(values) / len(values)
                std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
                table[variant][metric] = {"mean": mean, "std": std, "seeds": values}
    return table


def _contains(overrides: Sequence[str], chunk: Sequence[str]) -> bool:
    """Whether ``chunk`` appears as a contiguous run of ``overrides``."""
    n = len(chunk)
    return any(list(overrides[i:i + n]) == list(chunk) for i in range(len(overrides) - n + 1))


def baselines(variant: str) -> Tuple[str, str]:
    """The (no adaptation, oracle) variants a variant's gap is measured against: those with the
    same box heads and the same detector layout, e.g. ``no_adaptation_cascade_shared`` /
    ``oracle_cascade_shared`` for a cascade variant with one shared detector. Per-domain
    BatchNorm statistics (``MODEL.OCCPOSE.DOMAIN_NORM``) are estimated from target images, which
    no adaptation may use, but they help the oracle too: a DSBN variant is measured from the
    shared baseline without them up to the oracle with them (``oracle_cascade_dsbn``), the
    stricter of the two readings."""
    overrides = VARIANTS[variant][1]
    heads = "_cascade" if _contains(overrides, _CASCADE) else ""
    shared = "_shared" if _contains(overrides, _SHARED) else ""
    upper = "_dsbn" if _contains(overrides, _DOMAIN_NORM) else shared
    return "no_adaptation" + heads + shared, "oracle" + heads + upper


def gap_closed(table: Dict[str, Dict], variant: str) -> float:
    """(variant - no adaptation) / (oracle - no adaptation) on mean target AP, against the
    variant's :func:`baselines`; NaN if one of the three is not in ``table``."""
    low, high = baselines(variant)
    try:
        ap = {v: table[v]["target_ap"]["mean"] for v in (variant, low, high)}
    except KeyError:
        return float("nan")
    span = ap[high] - ap[low]
    return (ap[variant] - ap[low]) / span if span else float("nan")


def markdown_table(table: Dict[str, Dict], header_lines: Sequence[str] = ()) -> str:
    """One row per variant, ``mean ± std`` per metric, and the share of the gap closed."""
    cols = ["variant", "description", "seeds"] + [h for h, _ in METRICS.values()] + ["gap closed"]
    lines = list(header_lines) + ["| " + " | ".join(cols) + " |",
                                  "|" + "|".join(["---"] * 2 + ["---:"] * (len(cols) - 2)) + "|"]
    for variant, metrics in table.items():
        n = max((len(m["seeds"]) for m in metrics.values()), default=0)
        cells = [variant, VARIANTS.get(variant, ("", []))[0], str(n)]
        for metric in METRICS:
            m = metrics.get(metric)
            cells.append(f"{m['mean']:.2f} ± {m['std']:.2f}" if m else "-")
        gap = gap_closed(table, variant)
        cells.append("-" if math.isnan(gap) else f"{100 * gap:.0f}%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = parse_args(argv)
    times = []
    total_start = time.perf_counter()
    jobs = max(1, args.jobs)
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None

    def one(variant: str, seed: int) -> None:
        out_dir = os.path.join(args.output, variant, f"seed{seed}")
        weights = (os.path.join(args.weights_from, variant, f"seed{seed}", "model_final.pth")
                   if args.weights_from else None)
        seconds = run_one(out_dir, run_overrides(variant, seed, args.iters, args.opts), threads,
                          weights)
        if seconds is None:
            print(f"{variant}/seed{seed}: done before, skipped", flush=True)
        else:
            times.append(seconds)
            print(f"{variant}/seed{seed}: {seconds / 60:.1f} min", flush=True)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, v, s) for s in args.seeds for v in args.variants]
        for future in futures:
            future.result()
    total = time.perf_counter() - total_start
    done = "evaluated from --weights-from" if args.weights_from else "trained"
    print(f"total: {total / 60:.1f} min for {len(times)} run(s) {done}", flush=True)
    table = collect(args.output, args.variants, args.seeds)
    header = [
        f"Ablation: configs/Synthetic/OccPose-Tiny.yaml, {args.iters} iterations (schedule "
        f"scaled), seeds {' '.join(map(str, args.seeds))}; mean ± population std over seeds; "
        "13-kp OKS AP (%); gap closed = (variant - no_adaptation) / (oracle - no_adaptation) "
        "on target AP, against the no_adaptation and oracle variants with the variant's box "
        "heads and detector layout (e.g. no_adaptation_cascade_shared, oracle_cascade_shared; "
        "with per-domain BatchNorm statistics, up to oracle_cascade_dsbn)."
        + (f" Evaluated from the weights of {args.weights_from}, overrides: "
           f"{' '.join(args.opts) or 'none'}." if args.weights_from else ""), "",
    ]
    text = markdown_table(table, header)
    md_path = args.markdown or os.path.join(args.output, "ablation.md")
    os.makedirs(os.path.dirname(os.path.abspath(md_path)), exist_ok=True)
    with open(md_path, "w") as f:
        f.write(text)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)
    print("\n" + text)
    print(f"table: {md_path}" + (f", json: {args.json}" if args.json else ""))


if __name__ == "__main__":
    main()
