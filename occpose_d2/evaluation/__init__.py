"""Evaluators of occpose_d2, chosen by a dataset's metadata ``evaluator_type``:

* ``"occpose_coco"``: :class:`COCO13Evaluator` (bbox/segm/keypoint AP, 13 joints; CrowdPose
  easy/medium/hard) + :class:`OcclusionEvaluator` (paper Table 2, needs the model) +
  :class:`VisibilityEvaluator` (AP by visibility and with ground-truth boxes, needs the model
  and ``vis_ratio`` on the persons).
* ``"citypersons"``: :class:`CityPersonsEvaluator` (MR^-2, Table 4) +
  :class:`CityscapesPersonRiderEvaluator` (Table 3).
* ``"synth_pd"``: :class:`CityPersonsEvaluator`.

``write_markdown_tables`` prints the results like the paper's tables; the standalone MR command
is ``python -m occpose_d2.evaluation.citypersons``.
"""

from .build import build_occpose_evaluators
from .citypersons_evaluation import CityPersonsEvaluator, mr_ground_truth_from_dicts
from .cityscapes_evaluation import CityscapesPersonRiderEvaluator
from .coco_evaluation import CROWD_INDEX_SUBSETS, COCO13Evaluator
from .miss_rate import MR_SETUPS, MRDetections, MRGroundTruth, MRSetup, evaluate_miss_rate
from .occlusion_evaluation import OcclusionEvaluator
from .tables import format_markdown_tables, write_markdown_tables
from .visibility_evaluation import VISIBILITY_SUBSETS, VisibilityEvaluator

__all__ = [
    "build_occpose_evaluators",
    "COCO13Evaluator",
    "CROWD_INDEX_SUBSETS",
    "OcclusionEvaluator",
    "VisibilityEvaluator",
    "VISIBILITY_SUBSETS",
    "CityPersonsEvaluator",
    "CityscapesPersonRiderEvaluator",
    "mr_ground_truth_from_dicts",
    "MR_SETUPS",
    "MRSetup",
    "MRGroundTruth",
    "MRDetections",
    "evaluate_miss_rate",
    "format_markdown_tables",
    "write_markdown_tables",
]
