#!/usr/bin/env python
"""Generate the synthetic two-domain data set (source "pe" with poses, target "pd" without).

Example::

    python datasets/prepare_synthetic.py --out datasets/synthetic --seed 0 \
        --num-train 600 --num-val 100

Layout, fields and determinism: see ``occpose_d2/data/synthetic/generate.py``. The datasets
``synth_{pe,pd}_{train,val}`` and ``synth_pd_val_kp`` read ``$DETECTRON2_DATASETS/synthetic``.
"""

import argparse
import logging
import time

from occpose_d2.data.synthetic import generate_synthetic, write_previews


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="datasets/synthetic", help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    parser.add_argument("--num-train", type=int, default=600, help="train images per domain")
    parser.add_argument("--num-val", type=int, default=100, help="val images per domain")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    parser.add_argument("--no-preview", action="store_true", help="skip preview_{pe,pd}.png")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    start = time.perf_counter()
    paths = generate_synthetic(args.out, args.seed, args.num_train, args.num_val, args.workers)
    seconds = time.perf_counter() - start
    total = 2 * (args.num_train + args.num_val)
    print(f"wrote {total} images in {seconds:.1f} s ({total / max(seconds, 1e-9):.0f} images/s)")
    for name, path in paths.items():
        print(f"  {name}: {path}")
    if not args.no_preview and args.num_val > 0:
        for path in write_previews(args.out):
            print(f"  preview: {path}")


if __name__ == "__main__":
    main()
