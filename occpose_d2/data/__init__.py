"""Data of occpose_d2: dataset registration (on import), mapper, augmentations and the
two-domain training loader.

Dataset dicts (D2 standard + ours): ``domain`` ("pe" source / "pd" target); annotations with
full-body ``bbox``, ``iscrowd`` (1 = ignore region), visible-mask ``segmentation``; source:
``keypoints`` (13 x (x, y, v)) and ``fully_visible``; target: ``vis_bbox``, ``vis_ratio``,
``cp_class``. Mapped dicts add ``Instances`` with ``gt_fully_visible`` (source) and
``gt_vis_boxes`` (target), and, for source persons pasted into a target image
(``INPUT.PERSON_PASTE``), ``gt_keypoints`` and ``gt_pasted``; see :mod:`.dataset_mapper`.
"""

from . import datasets  # noqa: F401  register the predefined splits
from .build import TwoDomainLoader, build_two_domain_train_loader, domain_batch_sizes
from .dataset_mapper import OccPoseDatasetMapper
from .datasets import DatasetLayoutError
from .transforms import (
    GaussianBlurTransform,
    GaussianNoiseTransform,
    RandomGaussianBlur,
    RandomGaussianNoise,
)

__all__ = [
    "TwoDomainLoader", "build_two_domain_train_loader", "domain_batch_sizes",
    "OccPoseDatasetMapper", "DatasetLayoutError", "GaussianBlurTransform", "RandomGaussianBlur",
    "GaussianNoiseTransform", "RandomGaussianNoise",
]
