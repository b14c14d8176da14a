"""``build_occpose_evaluators``: the evaluators of a dataset, by its metadata ``evaluator_type``."""

import logging
import os
from typing import List, Optional

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from torch import nn

from .citypersons_evaluation import CityPersonsEvaluator
from .cityscapes_evaluation import CityscapesPersonRiderEvaluator
from .coco_evaluation import COCO13Evaluator
from .occlusion_evaluation import OcclusionEvaluator
from .visibility_evaluation import VisibilityEvaluator, has_visibility

__all__ = ["build_occpose_evaluators"]

logger = logging.getLogger(__name__)


def build_occpose_evaluators(
    cfg: CfgNode, dataset_name: str, output_dir: str, model: Optional[nn.Module] = None
) -> List[DatasetEvaluator]:
    """Evaluators for ``dataset_name`` (empty list for an unknown ``evaluator_type``).

    * ``"occpose_coco"``: :class:`COCO13Evaluator` (``TEST.KEYPOINT_OKS_SIGMAS``,
      ``TEST.DETECTIONS_PER_IMAGE``), plus :class:`VisibilityEvaluator` when every person
      carries ``vis_ratio`` and ``model`` declares ``supports_test_masking``, plus
      :class:`OcclusionEvaluator` when
      ``TEST.OCCLUSION_EVAL`` is on, ``TEST.OCCLUSION_RATIOS`` is not empty and ``model``
      declares ``supports_test_masking`` (``OccPoseRCNN``: its ``inference`` takes given boxes
      and a masking ratio and seed, ``TEST.OCCLUSION_SEED``).
    * ``"citypersons"``: :class:`CityPersonsEvaluator`, plus
      :class:`CityscapesPersonRiderEvaluator` when metadata ``gt_dir`` exists.
    * ``"synth_pd"``: :class:`CityPersonsEvaluator`.

    Args:
        cfg: config with occpose_d2's keys.
        dataset_name: registered dataset.
        output_dir: where evaluators write predictions and cached ground truth.
        model: the model under test (unwrapped from DDP here), for the occlusion AP.
    """
    meta = MetadataCatalog.get(dataset_name)
    kind = meta.get("evaluator_type", None)
    evaluators: List[DatasetEvaluator] = []
    if kind == "occpose_coco":
        evaluators.append(COCO13Evaluator(
            dataset_name, output_dir=output_dir,
            max_dets_per_image=cfg.TEST.DETECTIONS_PER_IMAGE,
            kpt_oks_sigmas=cfg.TEST.KEYPOINT_OKS_SIGMAS,
        ))
        model = getattr(model, "module", model)  # DistributedDataParallel
        masking = getattr(model, "supports_test_masking", False)
        if masking and has_visibility(DatasetCatalog.get(dataset_name)):
            evaluators.append(VisibilityEvaluator(
                dataset_name, model, kpt_oks_sigmas=cfg.TEST.KEYPOINT_OKS_SIGMAS))
        if cfg.TEST.OCCLUSION_EVAL and cfg.TEST.OCCLUSION_RATIOS:
            if masking:
                evaluators.append(OcclusionEvaluator(
                    dataset_name, model, ratios=cfg.TEST.OCCLUSION_RATIOS,
                    seed=cfg.TEST.OCCLUSION_SEED, kpt_oks_sigmas=cfg.TEST.KEYPOINT_OKS_SIGMAS,
                ))
            else:
                logger.info(f"{dataset_name}: occlusion AP skipped ({type(model).__name__} has no "
                            "test-time masking of given boxes; OccPoseRCNN has)")
    elif kind in ("citypersons", "synth_pd"):
        evaluators.append(CityPersonsEvaluator(dataset_name, output_dir=output_dir))
        gt_dir = meta.get("gt_dir", None)
        if kind == "citypersons":
            if gt_dir and os.path.isdir(gt_dir):
                evaluators.append(CityscapesPersonRiderEvaluator(dataset_name))
            else:
                logger.warning(f"{dataset_name}: Cityscapes instance AP skipped "
                               f"(gt_dir {gt_dir!r} not found)")
    return evaluators
