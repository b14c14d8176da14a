"""occpose_d2's checkpointer: a save killed half-way leaves the previous checkpoint and tag
usable; a plain D2 detector checkpoint loads into both detectors."""

import logging
import os

import pytest
import torch
from common import build_tiny_model, get_tiny_cfg
from detectron2.modeling import build_model
from torch import nn

from occpose_d2.engine import AtomicDetectionCheckpointer, atomic_write
from occpose_d2.engine import checkpoint as checkpoint_module
from occpose_d2.modeling import build_domain_detector_cfg


class _Killed(BaseException):
    """Stands for the process being killed while it writes (not an ``Exception``)."""


def _half_write_then_die(data, f):
    f.write(b"PK\x03\x04 truncated checkpoint")
    raise _Killed()


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "last_checkpoint"
    atomic_write(str(path), lambda f: f.write(b"model_0000001.pth"))
    with pytest.raises(_Killed):
        atomic_write(str(path), lambda f: _half_write_then_die(None, f))
    assert path.read_bytes() == b"model_0000001.pth"
    assert os.listdir(tmp_path) == ["last_checkpoint"]  # no temporary file left behind


def test_killed_save_leaves_previous_checkpoint_and_tag(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    ckpt = AtomicDetectionCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000001", iteration=1)
    saved = {k: v.clone() for k, v in model.state_dict().items()}

    with torch.no_grad():
        model.weight.add_(1.0)
    monkeypatch.setattr(checkpoint_module.torch, "save", _half_write_then_die)
    with pytest.raises(_Killed):
        ckpt.save("model_0000002", iteration=2)
    monkeypatch.undo()

    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000001.pth"]
    assert ckpt.get_checkpoint_file() == str(tmp_path / "model_0000001.pth")
    fresh = nn.Linear(3, 2)
    extra = AtomicDetectionCheckpointer(fresh, str(tmp_path)).resume_or_load("", resume=True)
    assert extra["iteration"] == 1
    for k, v in fresh.state_dict().items():
        torch.testing.assert_close(v, saved[k])

    ckpt.save("model_0000002", iteration=2)  # a later save goes through as usual
    assert ckpt.get_checkpoint_file() == str(tmp_path / "model_0000002.pth")


def test_plain_detector_checkpoint_loads_into_both_detectors(tmp_path, caplog):
    cfg = get_tiny_cfg()
    torch.manual_seed(123)
    plain = build_model(build_domain_detector_cfg(cfg))
    state = {k: v.clone() for k, v in plain.state_dict().items()}
    state["roi_heads.box_predictor.cls_score.weight"] = torch.zeros(5, 32)  # wrong shape
    state["roi_heads.mask_head.predictor.weight"] = torch.zeros(1, 256, 1, 1)  # not ours
    torch.save({"model": state}, tmp_path / "plain.pth")
    model = build_tiny_model(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items() if "cls_score.weight" in k}
    with caplog.at_level(logging.INFO, logger="occpose_d2.engine.checkpoint"):
        AtomicDetectionCheckpointer(model).load(str(tmp_path / "plain.pth"))
    assert "Skipped" in caplog.text and "cls_score.weight" in caplog.text
    ours = model.state_dict()
    for k, v in plain.state_dict().items():
        for d in ("pe", "pd"):
            if k == "roi_heads.box_predictor.cls_score.weight":  # skipped: kept ours
                assert torch.equal(ours[f"detectors.{d}.{k}"], before[f"detectors.{d}.{k}"])
            else:
                assert torch.equal(ours[f"detectors.{d}.{k}"], v), k
    # Our own checkpoints still round-trip by key.
    torch.save({"model": model.state_dict()}, tmp_path / "ours.pth")
    other = build_tiny_model(cfg, seed=5)
    AtomicDetectionCheckpointer(other).load(str(tmp_path / "ours.pth"))
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in model.state_dict().items())


def test_a_run_starting_or_resuming_removes_stale_temporaries(tmp_path):
    """A save killed by SIGKILL leaves its temporary file; the next run's resume_or_load (the
    trainer calls it at start, with or without --resume) deletes it and nothing else."""
    model = nn.Linear(3, 2)
    ckpt = AtomicDetectionCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000001")
    stale = [".model_0000003.pth.k2j4x9.tmp", ".last_checkpoint.a8d7qq.tmp"]
    kept = ["model_0000001.pth", "last_checkpoint", ".notes.tmp", "model_final.pth.tmp"]
    for name in stale + kept[2:]:
        (tmp_path / name).write_bytes(b"half")
    for resume in (True, False):
        AtomicDetectionCheckpointer(model, str(tmp_path)).resume_or_load("", resume=resume)
        assert sorted(os.listdir(tmp_path)) == sorted(kept)
        for name in stale:
            (tmp_path / name).write_bytes(b"half")
