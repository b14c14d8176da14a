#!/usr/bin/env python
"""Speed of the data side: the synthetic generator and the two-domain training loader.

Prints (a) the synthetic generator's speed (images/s, both domains, train + val, PNG + JSON
written) and (b) the two-domain training loader's throughput with the config's training
augmentations (resize, flip, brightness, blur), for each ``DATALOADER.NUM_WORKERS`` asked for:
images/s in all and per worker (0 workers: the main process maps the images itself).

The data is generated into a temporary folder (removed afterwards) unless ``--keep DIR``.

Example::

    python scripts/benchmark_data.py --num-train 400 --num-val 100 --workers 0 1 2
"""

import argparse
import itertools
import os
import shutil
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=os.path.join(REPO, "configs", "Synthetic",
                                                    "OccPose-Tiny.yaml"))
    p.add_argument("--num-train", type=int, default=400, help="train images per domain")
    p.add_argument("--num-val", type=int, default=100, help="val images per domain")
    p.add_argument("--gen-workers", type=int, default=None,
                   help="generator processes (default: CPU count)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                   help="DATALOADER.NUM_WORKERS values to measure")
    p.add_argument("--batches", type=int, default=50, help="timed batches per measurement")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches before them")
    p.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="occpose_bench_data_")
    # The predefined synth_* datasets read $DETECTRON2_DATASETS/synthetic: set it before
    # occpose_d2 registers them on import.
    os.environ["DETECTRON2_DATASETS"] = root
    from occpose_d2 import build_two_domain_train_loader, get_occpose_cfg
    from occpose_d2.data.synthetic import generate_synthetic

    try:
        start = time.perf_counter()
        generate_synthetic(os.path.join(root, "synthetic"), 0, args.num_train, args.num_val,
                           args.gen_workers)
        seconds = time.perf_counter() - start
        total = 2 * (args.num_train + args.num_val)
        workers = args.gen_workers if args.gen_workers is not None else os.cpu_count()
        print(f"generator: {total} images in {seconds:.1f} s = {total / seconds:.1f} images/s "
              f"({workers} processes)")

        print("| loader workers | images/s | images/s per worker |")
        print("|---|---|---|")
        for n in args.workers:
            cfg = get_occpose_cfg(args.config, ["DATALOADER.NUM_WORKERS", n, "MODEL.DEVICE", "cpu"])
            batches = iter(build_two_domain_train_loader(cfg))
            for _ in itertools.islice(batches, args.warmup):
                pass
            start = time.perf_counter()
            images = sum(len(b) for b in itertools.islice(batches, args.batches))
            rate = images / (time.perf_counter() - start)
            print(f"| {n} | {rate:.1f} | {rate / max(n, 1):.1f} |", flush=True)
            del batches
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
