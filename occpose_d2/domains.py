"""The two domains of occpose_d2: their names, their roles and the domain classifier's labels.

* ``"pe"``, the *source*: a pose-estimation data set (COCO persons, the synthetic source) with
  boxes, visible masks and 13 keypoints.
* ``"pd"``, the *target*: a pedestrian-detection data set (CityPersons, the synthetic target)
  with boxes and visible masks; its keypoints, where a file has them, never reach training.

Dataset dicts carry their domain under ``"domain"``; ``OccPoseRCNN`` holds one detector per
domain and suffixes its losses with ``_pe`` / ``_pd``; the domain classifier C learns the label
``DOMAIN_LABELS[domain]`` (its logit is the log-odds of the target).
"""

from typing import Dict, Tuple

__all__ = ["DOMAIN_SOURCE", "DOMAIN_TARGET", "DOMAINS", "DOMAIN_PE", "DOMAIN_PD", "DOMAIN_LABELS"]

DOMAIN_SOURCE = "pe"
DOMAIN_TARGET = "pd"
# Every domain, source first (the order of batches, detectors and loss suffixes).
DOMAINS: Tuple[str, str] = (DOMAIN_SOURCE, DOMAIN_TARGET)

# Binary labels of the domain classifier C.
DOMAIN_PE = 0
DOMAIN_PD = 1
DOMAIN_LABELS: Dict[str, int] = {DOMAIN_SOURCE: DOMAIN_PE, DOMAIN_TARGET: DOMAIN_PD}
