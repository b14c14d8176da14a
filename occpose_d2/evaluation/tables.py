"""Evaluation results as Markdown tables shaped like the paper's tables.

``write_markdown_tables(results, output_dir)`` writes ``results_tables.md`` (next to D2's
``metrics.json`` when given ``cfg.OUTPUT_DIR``). ``results`` is what ``DefaultTrainer.test``
returns: ``{task: {metric: value}}`` for one dataset or ``{dataset: {task: {...}}}`` for several.
"""

import logging
import math
import os
from typing import Dict, List, Mapping, Sequence, Tuple

__all__ = ["write_markdown_tables", "format_markdown_tables", "TABLE_LAYOUTS"]

logger = logging.getLogger(__name__)

# task -> (title, [(column header, metric key)]); tasks not listed get a generic table.
TABLE_LAYOUTS: Dict[str, Tuple[str, Sequence[Tuple[str, str]]]] = {
    "keypoints": ("Keypoint AP, 13 joints (Table 1)", [
        ("AP", "AP"), ("AP50", "AP50"), ("AP75", "AP75"), ("APM", "APm"), ("APL", "APl"),
        ("AP easy", "AP_easy"), ("AP medium", "AP_medium"), ("AP hard", "AP_hard"),
    ]),
    "occlusion_ap": ("Occlusion AP: % of the segmentation map removed (Table 2)", []),
    "visibility_ap": ("Keypoint AP by visible fraction, detected and ground-truth boxes", []),
    "cityscapes_instance": ("Cityscapes instance AP (Table 3)", [
        ("Person", "AP_person"), ("Rider", "AP_rider"),
        ("Person AP50", "AP50_person"), ("Rider AP50", "AP50_rider"),
    ]),
    "MR": ("CityPersons MR^-2 in %, lower is better (Table 4)", [
        ("R", "R"), ("HO", "HO"), ("R+HO", "R+HO"), ("R small", "R_small"), ("All", "All"),
    ]),
}


def _fmt(v) -> str:
    if isinstance(v, (int, float)):
        return "-" if math.isnan(float(v)) else f"{float(v):.2f}"
    return str(v)


def _per_dataset(results: Mapping) -> Dict[str, Mapping]:
    """Normalise to ``{dataset: {task: {metric: value}}}`` ("" for a single dataset)."""
    def is_task_dict(x) -> bool:
        return isinstance(x, Mapping) and all(not isinstance(v, Mapping) for v in x.values())

    if all(is_task_dict(v) for v in results.values()):
        return {"": results}
    return {k: v for k, v in results.items() if isinstance(v, Mapping)}


def format_markdown_tables(results: Mapping) -> str:
    """Markdown text with one table per (dataset, task); missing metrics are left out."""
    blocks: List[str] = []
    for dataset, tasks in _per_dataset(results).items():
        for task, metrics in tasks.items():
            if not isinstance(metrics, Mapping) or not metrics:
                continue
            title, layout = TABLE_LAYOUTS.get(task, (task, []))
            cols = [(h, k) for h, k in layout if k in metrics] or [(k, k) for k in metrics]
            head = f"### {title}" + (f" — {dataset}" if dataset else "")
            blocks.append("\n".join([
                head, "",
                "| " + " | ".join(h for h, _ in cols) + " |",
                "|" + "|".join("---:" for _ in cols) + "|",
                "| " + " | ".join(_fmt(metrics[k]) for _, k in cols) + " |",
            ]))
    return "\n\n".join(blocks) + "\n"


def write_markdown_tables(results: Mapping, output_dir: str) -> str:
    """Write ``output_dir/results_tables.md``; returns its path."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "results_tables.md")
    with open(path, "w") as f:
        f.write(format_markdown_tables(results))
    logger.info(f"Wrote result tables to {path}")
    return path
