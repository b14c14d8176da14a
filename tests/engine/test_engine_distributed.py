"""Two CPU processes (gloo), as multi-GPU training runs them: DDP wrapped as D2's trainer wraps
it, one rank with only source images and the other with only target images; and an evaluator
fed in two processes against the same evaluator in one.

Both jobs run in the same two spawned workers (one start-up cost); each worker writes what it
found to a file that the tests read.
"""

import os
import traceback

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances
from detectron2.utils import comm
from detectron2.utils.events import EventStorage
from torch.nn.parallel import DistributedDataParallel

STEPS = 2
MR_DATASET = "test_distributed_mr"
NUM_IMAGES = 8


def _mr_dicts():
    """Eight 200 x 100 images with two pedestrians each (one half hidden: "HO")."""
    rng = np.random.default_rng(0)
    dicts = []
    for i in range(NUM_IMAGES):
        anns = []
        for x, vis in ((20 + 5 * i, 1.0), (110, 0.5)):
            anns.append({"bbox": [x, 10.0, 30.0, 80.0], "bbox_mode": BoxMode.XYWH_ABS,
                         "category_id": 0, "iscrowd": 0, "cp_class": 1, "vis_ratio": vis})
        dicts.append({"file_name": f"{i}.png", "image_id": i + 1, "height": 100, "width": 200,
                      "annotations": anns, "seed": int(rng.integers(1 << 30))})
    return dicts


def _mr_outputs(d):
    """Detections of one image: its pedestrians (the fully visible one missed on every third
    image, the half hidden one on odd images), jittered, plus a false positive; distinct
    scores (no ties, so the merge order cannot matter)."""
    rng = np.random.default_rng(d["seed"])
    i = d["image_id"]
    boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
             for a, found in zip(d["annotations"], (i % 3 != 0, i % 2 == 0)) if found]
    boxes = [np.asarray(b) + rng.normal(0, 2, 4) for b in boxes] + [[150.0, 20, 190, 90]]
    inst = Instances((d["height"], d["width"]))
    inst.pred_boxes = Boxes(torch.tensor(np.asarray(boxes), dtype=torch.float32))
    inst.scores = torch.tensor(rng.uniform(0.05, 0.95, len(boxes)), dtype=torch.float32)
    inst.pred_classes = torch.zeros(len(boxes), dtype=torch.int64)
    return [{"instances": inst}]


def _evaluate_mr(rank: int, world_size: int):
    from occpose_d2.evaluation import CityPersonsEvaluator

    if MR_DATASET not in DatasetCatalog.list():
        DatasetCatalog.register(MR_DATASET, _mr_dicts)
        MetadataCatalog.get(MR_DATASET).set(thing_classes=["person"])
    ev = CityPersonsEvaluator(MR_DATASET, distributed=world_size > 1)
    ev.reset()
    for d in DatasetCatalog.get(MR_DATASET)[rank::world_size]:
        ev.process([d], _mr_outputs(d))
    return ev.evaluate()


def _train(rank: int):
    """Two SGD steps of the tiny OccPoseRCNN wrapped as D2's DefaultTrainer wraps it
    (``create_ddp_model(model, broadcast_buffers=False)``; no find_unused_parameters): rank 0
    sees only source ("pe") images, rank 1 only target ("pd") ones."""
    from common import build_tiny_model, make_inputs

    model = build_tiny_model(seed=0).train()
    ddp = DistributedDataParallel(model, broadcast_buffers=False)  # CPU: no device_ids
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    domain = ("pe", "pd")[rank]
    inputs = make_inputs((domain, domain), seed=rank)
    with EventStorage() as storage:
        for step in range(STEPS):
            storage.iter = step
            torch.manual_seed(10 * step + rank)  # sampling and masking differ across ranks
            losses = ddp(inputs)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(rank: int, world_size: int, init_file: str, out_dir: str):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    result = {}
    try:
        assert comm.get_world_size() == world_size and comm.get_rank() == rank
        result["state"] = _train(rank)
        result["mr"] = _evaluate_mr(rank, world_size)
    except Exception:  # reported by the test, with the rank
        result["error"] = traceback.format_exc()
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pth"))
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, str(out / "init"), str(out)), nprocs=2, join=True)
    results = [torch.load(out / f"rank{r}.pth", weights_only=False) for r in range(2)]
    for rank, res in enumerate(results):
        assert "error" not in res, f"rank {rank}:\n{res['error']}"
    return results


def test_one_domain_per_rank_trains_with_identical_parameters(two_ranks):
    from common import build_tiny_model

    first, second = (r["state"] for r in two_ranks)
    initial = build_tiny_model(seed=0).state_dict()
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0, msg=key)
    # both detectors and the instance heads learned, on both ranks
    for prefix in ("detectors.pe.", "detectors.pd.", "instance_heads.pose_head.",
                   "instance_heads.domain_head."):
        assert any(not torch.equal(v, initial[k]) for k, v in first.items()
                   if k.startswith(prefix)), prefix


def test_evaluator_in_two_processes_matches_one(two_ranks):
    one = _evaluate_mr(0, 1)["MR"]
    two = two_ranks[0]["mr"]["MR"]
    assert two_ranks[1]["mr"] == {}  # only the main process reports
    assert one and two == pytest.approx(one, nan_ok=True)
    assert 0 < one["R"] < 100  # misses and a false positive: not a trivial number
