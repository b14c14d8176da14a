"""CityPersons MR^-2 for result files: ``python -m occpose_d2.evaluation.citypersons``.

Usage::

    python -m occpose_d2.evaluation.citypersons --gt anno_val.mat --dt results.json [--json]

``--gt`` is the official annotation: ``anno_val.mat`` (image ids are the 1-based positions in
the file) or the COCO-style ``val_gt.json`` of the official evaluation folder. ``--dt`` is a JSON
list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``; like the official script,
only ``category_id`` 1 counts. The output lists MR (%) for the paper's R, HO and R+HO (Table 4)
with the official setup names, plus Reasonable_small and All.
"""

import argparse
import json
import sys
from typing import List, Optional

import numpy as np

from .citypersons_evaluation import format_mr_table, load_citypersons_gt, load_detections_json
from .miss_rate import evaluate_miss_rate

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command; returns the exit status (2 for unreadable or malformed files)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt", required=True, help="anno_val.mat or val_gt.json")
    parser.add_argument("--dt", required=True, help="JSON list of detections")
    parser.add_argument("--json", action="store_true", help="print one JSON object (MR in %%)")
    args = parser.parse_args(argv)
    try:
        gt = load_citypersons_gt(args.gt)
        dt = load_detections_json(args.dt)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unknown = np.setdiff1d(dt.image_ids, gt.image_ids)
    if len(unknown):
        print(f"warning: {len(unknown)} image ids of {args.dt} are not in {args.gt} "
              f"(e.g. {unknown[:5].tolist()}); their detections are not counted", file=sys.stderr)
    results = evaluate_miss_rate(gt, dt)
    if args.json:
        print(json.dumps({k: v["MR"] for k, v in results.items()}))
    else:
        print(f"CityPersons MR^-2 of {args.dt} ({len(dt.scores)} detections, "
              f"{len(np.unique(gt.image_ids))} images)")
        print(format_mr_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
