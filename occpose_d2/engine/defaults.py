"""``default_occpose_setup``: D2's ``default_setup`` plus occpose_d2's own logger."""

import argparse

from detectron2.config import CfgNode
from detectron2.engine import default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

__all__ = ["default_occpose_setup"]


def default_occpose_setup(cfg: CfgNode, args: argparse.Namespace) -> None:
    """D2's ``default_setup`` (its loggers, environment, config dump, seed), then the
    ``occpose_d2`` logger set up as D2 sets up its own: console on the main process, and
    ``OUTPUT_DIR/log.txt`` (``log.txt.rank<N>`` on the other ranks)."""
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="occpose_d2")
