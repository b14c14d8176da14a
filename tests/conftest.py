"""Session-wide test setup.

``DETECTRON2_DATASETS`` points at a fresh temporary folder *before* occpose_d2 is imported, so the
predefined datasets register there: real datasets are absent (their tests use tests/assets), and
the ``synthetic_root`` fixture renders a tiny synthetic two-domain set into it once per session.
"""

import os
import shutil
import tempfile

import pytest

_DATA_ROOT = tempfile.mkdtemp(prefix="occpose_test_datasets_")
os.environ["DETECTRON2_DATASETS"] = _DATA_ROOT

import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def synthetic_root() -> str:
    """``$DETECTRON2_DATASETS/synthetic`` with 8 train and 4 val images per domain (seed 0)."""
    from occpose_d2.data.synthetic import generate_synthetic

    root = os.path.join(_DATA_ROOT, "synthetic")
    generate_synthetic(root, seed=0, num_train=8, num_val=4, workers=0)
    return root


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_DATA_ROOT, ignore_errors=True)
