#!/usr/bin/env python
"""Train and evaluate OccPoseRCNN, Detectron2 style.

Examples:
    # train on the synthetic two-domain set (CPU, minutes)
    python projects/OccPose/train_net.py --config-file configs/Synthetic/OccPose-Tiny.yaml
    # train on COCO + CityPersons with 8 GPUs
    python projects/OccPose/train_net.py --num-gpus 8 \
        --config-file configs/occpose_rcnn_R_50_FPN_1x.yaml
    # evaluate a checkpoint
    python projects/OccPose/train_net.py --config-file CONFIG --eval-only MODEL.WEIGHTS model.pth
    # continue an interrupted run from its last checkpoint
    python projects/OccPose/train_net.py --config-file CONFIG --resume

The paper's detector pre-training stage is the same command with ``MODEL.OCCPOSE.DETECTORS_ONLY
True``; its ``model_final.pth`` then initialises the full model through ``MODEL.WEIGHTS``.
"""

from detectron2.engine import default_argument_parser, launch

from occpose_d2 import OccPoseTrainer, get_occpose_cfg
from occpose_d2.engine import AtomicDetectionCheckpointer, default_occpose_setup


def setup(args):
    """Config from file and command-line overrides, frozen, with D2's logging/env setup (and
    the occpose_d2 logger: console and OUTPUT_DIR/log.txt)."""
    cfg = get_occpose_cfg(args.config_file, args.opts)
    default_occpose_setup(cfg, args)
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = OccPoseTrainer.build_model(cfg)
        AtomicDetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        return OccPoseTrainer.test(cfg, model)
    trainer = OccPoseTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
