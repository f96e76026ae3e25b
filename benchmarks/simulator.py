"""Throughput of the synthetic atlas: crops per second of one process, and with workers.

    python benchmarks/simulator.py [--fields 80] [--crop-size 64] [--workers 2]
"""
from __future__ import annotations

import argparse
import time

from cellnb.sim import AtlasConfig, generate_crops, measure_throughput


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=80)
    parser.add_argument("--crop-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    config = AtlasConfig(crop_size=args.crop_size)
    one = measure_throughput(config, n_fields=args.fields)
    print(f"one process: {one['crops']} crops of {args.crop_size}x{args.crop_size} in "
          f"{one['seconds']:.1f} s = {one['crops_per_second']:.0f} crops/s "
          f"({one['crops_per_cpu_second']:.0f} per CPU-second)")
    if args.workers > 1:
        fields_per_protein = max(1, args.fields // config.n_proteins)
        parallel = AtlasConfig(crop_size=args.crop_size, fields_per_protein=fields_per_protein)
        start = time.perf_counter()
        crops = generate_crops(parallel, workers=args.workers, progress=False)
        seconds = time.perf_counter() - start
        print(f"{args.workers} workers: {len(crops)} crops in {seconds:.1f} s = "
              f"{len(crops) / seconds:.0f} crops/s")


if __name__ == "__main__":
    main()
