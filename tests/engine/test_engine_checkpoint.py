"""Atomic checkpoints: a save killed half-way leaves the previous checkpoint and tag usable."""

import os

import pytest
import torch
from torch import nn

from occpose_d2.engine import AtomicDetectionCheckpointer, atomic_write
from occpose_d2.engine import checkpoint as checkpoint_module


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
