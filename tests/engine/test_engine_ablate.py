"""projects/OccPose/ablate.py: schedule scaling, statistics, and a tiny sweep that resumes."""

import json
import math
import os

import pytest
from common import REPO, load_project_script

from occpose_d2 import get_occpose_cfg


@pytest.fixture(scope="module")
def ablate():
    return load_project_script("ablate")


def test_schedule_scales_every_key_with_max_iter(ablate):
    overrides = ablate.run_overrides("no_adaptation", 2, 500, ["SOLVER.WARMUP_ITERS", "300"])
    cfg = get_occpose_cfg(ablate.CONFIG, overrides)
    assert cfg.SEED == 2 and cfg.MODEL.OCCPOSE.DOMAIN_HEAD.LOSS_WEIGHT == 0.0
    # no adaptation: no target pixels in source images either, whatever the config turns on
    on = ["INPUT.TARGET_STYLE.PROB", "0.5", "INPUT.OCCLUDERS.PROB", "0.5"]
    for variant in ("no_adaptation", "paper"):
        off = get_occpose_cfg(ablate.CONFIG, on + ablate.run_overrides(variant, 0, 500, []))
        assert off.INPUT.TARGET_STYLE.PROB == 0.0 and off.INPUT.OCCLUDERS.PROB == 0.0
    assert not cfg.MODEL.OCCPOSE.SHARE_DETECTORS  # the tiny config shares; variants say so
    # OccPose-Tiny: 1500 iterations, steps (1000, 1300), checkpoints every 500, M&P until 400,
    # GRL ramp over 1500; user overrides are scaled too (warm-up 300 -> 100)
    assert cfg.SOLVER.MAX_ITER == 500 and tuple(cfg.SOLVER.STEPS) == (333, 433)
    assert cfg.SOLVER.WARMUP_ITERS == 100 and cfg.SOLVER.CHECKPOINT_PERIOD == 167
    assert cfg.MODEL.OCCPOSE.MASK_AND_PREDICT.END_ITER == 133
    assert cfg.MODEL.OCCPOSE.DOMAIN_HEAD.GRL_RAMP_ITERS == 500
    assert cfg.TEST.EVAL_PERIOD == 0
    short = get_occpose_cfg(ablate.CONFIG, ablate.run_overrides("full", 0, 3, []))
    assert tuple(short.SOLVER.STEPS) == (2,) and short.SOLVER.WARMUP_ITERS == 1
    oracle = get_occpose_cfg(ablate.CONFIG, ablate.run_overrides("oracle", 0, 500, []))
    assert oracle.DATASETS.TRAIN_TARGET == ("synth_pd_train_kp",)
    assert oracle.MODEL.OCCPOSE.POSE_HEAD.SUPERVISE_TARGET


def _fake_run(root, variant, seed, target_ap):
    out = os.path.join(root, variant, f"seed{seed}")
    os.makedirs(out)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"synth_pd_val_kp": {"keypoints": {"AP": target_ap},
                                       "visibility_ap": {"AP_vis_lt_065": 1.0}}}, f)


def test_statistics_and_gap_closed(ablate, tmp_path):
    for variant, aps in (("no_adaptation", (10.0, 14.0)), ("full", (20.0, 30.0)),
                         ("oracle", (50.0, 50.0))):
        for seed, ap in enumerate(aps):
            _fake_run(str(tmp_path), variant, seed, ap)
    table = ablate.collect(str(tmp_path), ["full", "no_adaptation", "oracle", "shared_detector"],
                           [0, 1, 2])
    assert list(table) == ["full", "no_adaptation", "oracle"]
    assert table["full"]["target_ap"] == {"mean": 25.0, "std": 5.0, "seeds": [20.0, 30.0]}
    assert set(table["full"]) == {"target_ap", "target_ap_vis_lt_065"}
    assert ablate.gap_closed(table, "full") == pytest.approx((25 - 12) / (50 - 12))
    text = ablate.markdown_table(table)
    row = next(line for line in text.splitlines() if line.startswith("| full |"))
    assert "25.00 ± 5.00" in row and row.endswith("| 34% |")


def test_cascade_gap_against_cascade_baselines(ablate, tmp_path):
    for variant, ap in (("no_adaptation", 10.0), ("oracle", 20.0), ("no_adaptation_cascade", 30.0),
                        ("oracle_cascade", 40.0), ("cascade", 35.0), ("full", 15.0)):
        _fake_run(str(tmp_path), variant, 0, ap)
    table = ablate.collect(str(tmp_path), list(ablate.VARIANTS), [0])
    assert ablate.baselines("cascade_paste_style") == ("no_adaptation_cascade", "oracle_cascade")
    assert ablate.gap_closed(table, "cascade") == pytest.approx(0.5)
    assert ablate.gap_closed(table, "full") == pytest.approx(0.5)
    del table["oracle_cascade"]
    assert math.isnan(ablate.gap_closed(table, "cascade"))


def test_gap_against_baselines_of_the_same_layout(ablate, tmp_path):
    for variant, ap in (("no_adaptation_cascade", 30.0), ("oracle_cascade", 40.0),
                        ("no_adaptation_cascade_shared", 32.0), ("oracle_cascade_shared", 42.0),
                        ("oracle_cascade_dsbn", 44.0), ("cascade_paste_style_shared", 37.0),
                        ("cascade_paste_style_dsbn", 38.0),
                        ("shared_detector", 20.0), ("no_adaptation", 10.0), ("oracle", 30.0)):
        _fake_run(str(tmp_path), variant, 0, ap)
    table = ablate.collect(str(tmp_path), list(ablate.VARIANTS), [0])
    # DSBN: from the shared baseline without it up to the oracle with it.
    assert ablate.baselines("cascade_paste_style_dsbn") == ("no_adaptation_cascade_shared",
                                                            "oracle_cascade_dsbn")
    assert ablate.baselines("no_adaptation_cascade_shared")[0] == "no_adaptation_cascade_shared"
    assert ablate.gap_closed(table, "cascade_paste_style_shared") == pytest.approx(0.5)
    assert ablate.gap_closed(table, "cascade_paste_style_dsbn") == pytest.approx(0.5)
    # No shared baselines without the cascade heads were run: no gap, not the two detectors'.
    assert ablate.baselines("shared_detector") == ("no_adaptation_shared", "oracle_shared")
    assert math.isnan(ablate.gap_closed(table, "shared_detector"))


def test_tiny_sweep_writes_table_and_json_and_resumes(ablate, synthetic_root, tmp_path, capsys):
    out, js, md = str(tmp_path / "abl"), str(tmp_path / "a.json"), str(tmp_path / "a.md")
    argv = ["--variants", "full", "no_adaptation", "--seeds", "0", "--iters", "3",
            "--output", out, "--json", js, "--markdown", md,
            "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MIN_SIZE_TEST", "96",
            "DATALOADER.NUM_WORKERS", "0"]
    ablate.main(argv)
    with open(js) as f:
        table = json.load(f)
    assert list(table) == ["full", "no_adaptation"]
    for metrics in table.values():
        for name in ("source_ap", "target_ap", "target_occlusion_ap_50", "target_ap_gt_boxes",
                     "target_ap_vis_lt_065", "target_ap_vis_065_09", "target_ap_vis_ge_09"):
            assert set(metrics[name]) == {"mean", "std", "seeds"}
            assert len(metrics[name]["seeds"]) == 1
    with open(md) as f:
        rows = [line.split(" | ")[0] for line in f if line.startswith("| ")]
    assert rows == ["| variant", "| full", "| no_adaptation"]
    results = os.path.join(out, "full", "seed0", "results.json")
    stamp = os.path.getmtime(results)
    capsys.readouterr()
    ablate.main(argv)
    printed = capsys.readouterr().out
    assert printed.count("done before, skipped") == 2 and "0 run(s) trained" in printed
    assert os.path.getmtime(results) == stamp
    # the same weights evaluated again, with an inference-only override, train no further
    again, js2 = str(tmp_path / "again"), str(tmp_path / "b.json")
    ablate.main(["--variants", "full", "--seeds", "0", "--iters", "3", "--output", again,
                 "--weights-from", out, "--json", js2] + argv[argv.index("INPUT.MIN_SIZE_TRAIN"):]
                + ["MODEL.OCCPOSE.POSE_HEAD.RESCORE", "False"])
    assert "1 run(s) evaluated from --weights-from" in capsys.readouterr().out
    with open(os.path.join(again, "full", "seed0", "log.txt")) as f:
        log = f.read()
    assert "Starting training from iteration 3" in log
    with open(os.path.join(again, "full", "seed0", "config.yaml")) as f:
        assert "RESCORE: false" in f.read()
    with open(js2) as f:
        rescored = json.load(f)
    # the poses on ground-truth boxes do not depend on the ranking
    assert rescored["full"]["target_ap_gt_boxes"] == table["full"]["target_ap_gt_boxes"]


def test_weights_from_a_missing_run_names_the_checkpoint(ablate, tmp_path):
    missing = str(tmp_path / "sweep" / "full" / "seed0" / "model_final.pth")
    with pytest.raises(FileNotFoundError, match="no checkpoint .*model_final.pth"):
        ablate.start_from_final(str(tmp_path / "out"), missing)


def test_readme_names_every_variant(ablate):
    """A user picks variants from the README's list: it must not fall behind ``VARIANTS``."""
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    assert [v for v in ablate.VARIANTS if f"`{v}`" not in readme] == []
