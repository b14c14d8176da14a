"""``OccPoseTrainer``: D2's ``DefaultTrainer`` with the two-domain loader, our evaluators and hooks.

Only classmethods and ``build_hooks`` are overridden, so every stock D2 hook, ``--resume`` and
``launch`` for multi-GPU / multi-machine runs work unchanged. ``build_hooks`` also swaps D2's
checkpointer for :class:`AtomicDetectionCheckpointer` (same files, written atomically) before
the periodic-checkpoint hook is made from it.
"""

import logging
import os
from collections import OrderedDict
from typing import List, Optional

import torch
from detectron2.data import MetadataCatalog, build_detection_test_loader
from detectron2.engine import DefaultTrainer, hooks
from detectron2.evaluation import DatasetEvaluator, DatasetEvaluators
from detectron2.utils import comm
from torch import nn

from ..data import OccPoseDatasetMapper, build_two_domain_train_loader
from ..data.datasets.common import require_registered
from ..evaluation import build_occpose_evaluators, write_markdown_tables
from .checkpoint import AtomicDetectionCheckpointer
from .hooks import CurriculumMaskingHook, GRLScheduleHook
from .optimizer import build_optimizer

__all__ = ["OccPoseTrainer"]

logger = logging.getLogger(__name__)


class OccPoseTrainer(DefaultTrainer):
    """Trainer of ``OccPoseRCNN`` (and of stock D2 models using ``OccPoseROIHeads``)."""

    @classmethod
    def build_optimizer(cls, cfg, model: nn.Module) -> torch.optim.Optimizer:
        """D2's SGD, or AdamW when ``SOLVER.OPTIMIZER`` is "ADAMW" (same parameter groups and
        gradient clipping as D2's builder; see :mod:`occpose_d2.engine.optimizer`)."""
        return build_optimizer(cfg, model)

    @classmethod
    def build_train_loader(cls, cfg):
        return build_two_domain_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        require_registered([dataset_name], "DATASETS.TEST")
        return build_detection_test_loader(
            cfg, dataset_name, mapper=OccPoseDatasetMapper(cfg, is_train=False)
        )

    @classmethod
    def build_evaluator(
        cls,
        cfg,
        dataset_name: str,
        output_folder: Optional[str] = None,
        model: Optional[nn.Module] = None,
    ) -> DatasetEvaluator:
        """Evaluators chosen by the dataset's ``evaluator_type`` metadata.

        ``model`` is needed by the occlusion-AP evaluator, which re-runs pose estimation for
        ground-truth boxes with parts of the segmentation map removed; without it that
        evaluation is skipped.
        """
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        evaluators: List[DatasetEvaluator] = build_occpose_evaluators(
            cfg, dataset_name, output_folder, model=model
        )
        if not evaluators:
            raise NotImplementedError(
                f"no evaluator for dataset {dataset_name!r} with evaluator_type "
                f"{MetadataCatalog.get(dataset_name).get('evaluator_type', None)!r}"
            )
        return evaluators[0] if len(evaluators) == 1 else DatasetEvaluators(evaluators)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        """D2's test loop with model-aware evaluators; also writes Markdown result tables."""
        if evaluators is None:
            evaluators = [cls.build_evaluator(cfg, name, model=model) for name in cfg.DATASETS.TEST]
        results = super().test(cfg, model, evaluators=evaluators)
        if comm.is_main_process() and results:
            by_dataset = results if len(cfg.DATASETS.TEST) > 1 else {cfg.DATASETS.TEST[0]: results}
            write_markdown_tables(OrderedDict(by_dataset), cfg.OUTPUT_DIR)
        return results

    def build_hooks(self):
        """D2's default hooks, with the curriculum and GRL schedules inserted before the writer.

        D2 builds its checkpointer just before calling this; it is replaced here by an
        :class:`AtomicDetectionCheckpointer` so that ``PeriodicCheckpointer`` and
        ``resume_or_load`` use the atomic one.
        """
        d2 = self.checkpointer
        self.checkpointer = AtomicDetectionCheckpointer(d2.model, d2.save_dir, **d2.checkpointables)
        hook_list = super().build_hooks()
        ours = [CurriculumMaskingHook.from_config(self.cfg), GRLScheduleHook.from_config(self.cfg)]
        writer_at = next(
            (i for i, h in enumerate(hook_list) if isinstance(h, hooks.PeriodicWriter)),
            len(hook_list),
        )
        return hook_list[:writer_at] + ours + hook_list[writer_at:]
