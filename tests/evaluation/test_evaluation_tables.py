"""Markdown result tables shaped like the paper's (evaluation/tables.py)."""

from occpose_d2.evaluation import write_markdown_tables


def test_markdown_tables(tmp_path):
    results = {
        "coco_val": {"keypoints": {"AP": 61.234, "AP50": 80.0, "AP75": 66.0, "APm": 55.0,
                                   "APl": 70.0}},
        "citypersons_val": {"MR": {"R": 12.345, "HO": 45.6, "R+HO": 20.0, "R_small": 1.0,
                                   "All": 2.0},
                            "cityscapes_instance": {"AP_person": 30.0, "AP50_person": 50.0,
                                                    "AP_rider": float("nan"),
                                                    "AP50_rider": float("nan")}},
        "coco_val_occ": {"occlusion_ap": {"AP@20%": 50.0, "AP@30%": 45.0}},
    }
    path = write_markdown_tables(results, str(tmp_path))
    text = open(path).read()
    assert path.endswith("results_tables.md")
    assert "| AP | AP50 | AP75 | APM | APL |" in text and "| 61.23 | 80.00 |" in text
    assert "| R | HO | R+HO | R small | All |" in text and "| 12.35 | 45.60 | 20.00 |" in text
    assert "| Person | Rider |" in text and "| 30.00 | - |" in text
    assert "| AP@20% | AP@30% |" in text
    # a single dataset's results (no dataset level) work too
    single = open(write_markdown_tables(results["coco_val"], str(tmp_path))).read()
    assert "Table 1" in single and "coco_val" not in single
