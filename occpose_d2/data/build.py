"""Two-domain training loader: every step yields source ("pe") and target ("pd") images.

Each domain gets its own D2 ``build_detection_train_loader`` (sampler, aspect-ratio grouping,
workers and distributed sharding as configured); :class:`TwoDomainLoader` zips them into one
list per step, source dicts first, so D2's ``SimpleTrainer.run_step`` works unchanged. Of the
``SOLVER.IMS_PER_BATCH`` images per step, ``round(IMS_PER_BATCH * DATALOADER.TARGET_FRACTION)``
come from ``DATASETS.TRAIN_TARGET`` and the rest from ``DATASETS.TRAIN``. With no target
datasets the loader is D2's plain one-domain loader over the source.
"""

import logging
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from detectron2.data import build_detection_train_loader, get_detection_dataset_dicts
from detectron2.data.build import _train_loader_from_config

from ..domains import DOMAIN_SOURCE, DOMAIN_TARGET
from .dataset_mapper import OccPoseDatasetMapper
from .datasets.common import require_registered

__all__ = ["TwoDomainLoader", "domain_batch_sizes", "build_two_domain_train_loader"]

logger = logging.getLogger(__name__)


class TwoDomainLoader:
    """Zip per-domain batch iterables into one list per step (infinite if they are)."""

    def __init__(self, loaders: Sequence[Iterable[List[Dict]]]):
        self.loaders = list(loaders)

    def __iter__(self) -> Iterator[List[Dict]]:
        for batches in zip(*self.loaders):
            yield [d for batch in batches for d in batch]


def domain_batch_sizes(total: int, target_fraction: float) -> Tuple[int, int]:
    """(source, target) images per step; both >= 1, else ``ValueError`` naming the keys."""
    n_target = int(round(total * target_fraction))
    n_source = total - n_target
    if n_source < 1 or n_target < 1:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH = {total} with DATALOADER.TARGET_FRACTION = {target_fraction} "
            f"gives {n_source} source and {n_target} target images per step; both must be >= 1 "
            "when DATASETS.TRAIN_TARGET is set")
    return n_source, n_target


def _domain_dicts(cfg, names: Sequence[str], domain: str) -> List[Dict]:
    keypoints = domain == DOMAIN_SOURCE and cfg.MODEL.KEYPOINT_ON
    dicts = get_detection_dataset_dicts(
        list(names),
        filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
        min_keypoints=cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if keypoints else 0,
    )
    for d in dicts:
        d["domain"] = domain
    logger.info(f"{domain} ({', '.join(names)}): {len(dicts)} training images")
    return dicts


def _domain_loader(cfg, names: Sequence[str], domain: str, mapper: Callable, batch_size: int):
    kwargs = _train_loader_from_config(cfg, mapper, dataset=_domain_dicts(cfg, names, domain))
    kwargs["total_batch_size"] = batch_size
    return build_detection_train_loader(**kwargs)


def build_two_domain_train_loader(cfg, mapper: Optional[Callable] = None) -> Iterable[List[Dict]]:
    """Infinite training loader over ``DATASETS.TRAIN`` (source) and ``DATASETS.TRAIN_TARGET``.

    Args:
        cfg: config with occpose_d2's keys.
        mapper: callable dict -> dict; default ``OccPoseDatasetMapper(cfg, is_train=True)``.

    Returns:
        iterable of lists of mapped dicts, per step ``n_source`` dicts with ``domain = "pe"``
        then ``n_target`` with ``domain = "pd"`` (:func:`domain_batch_sizes`; per GPU, the
        numbers divided by the world size). Without target datasets: D2's loader over the
        source, ``SOLVER.IMS_PER_BATCH`` "pe" dicts per step.
    """
    require_registered(cfg.DATASETS.TRAIN, "DATASETS.TRAIN")
    require_registered(cfg.DATASETS.TRAIN_TARGET, "DATASETS.TRAIN_TARGET")
    mapper = mapper if mapper is not None else OccPoseDatasetMapper(cfg, is_train=True)
    total = cfg.SOLVER.IMS_PER_BATCH
    if not cfg.DATASETS.TRAIN_TARGET:
        return _domain_loader(cfg, cfg.DATASETS.TRAIN, DOMAIN_SOURCE, mapper, total)
    n_source, n_target = domain_batch_sizes(total, cfg.DATALOADER.TARGET_FRACTION)
    return TwoDomainLoader([
        _domain_loader(cfg, cfg.DATASETS.TRAIN, DOMAIN_SOURCE, mapper, n_source),
        _domain_loader(cfg, cfg.DATASETS.TRAIN_TARGET, DOMAIN_TARGET, mapper, n_target),
    ])
