"""How many torch threads should a small CPU use? Times a conv-autoencoder training step.

    python benchmarks/threads.py [--steps 30] [--threads 1 2]

Each thread count runs in a fresh process (torch fixes its thread pool at first use), after a
warm-up; the median step time is reported. cellnb.runtime.default_thread_count encodes the
result measured on the 2-core CI-class machine.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

STEP = """
import json, statistics, time, torch
from torch import nn
torch.set_num_threads({threads})
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
    nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(),
    nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
    nn.ConvTranspose2d(32, 3, 4, 2, 1))
optimiser = torch.optim.Adam(model.parameters(), 1e-3)
x = torch.rand(64, 3, 64, 64)
times = []
for step in range({steps} + 5):
    start = time.perf_counter()
    loss = nn.functional.mse_loss(model(x), x)
    optimiser.zero_grad(); loss.backward(); optimiser.step()
    if step >= 5:
        times.append(time.perf_counter() - start)
print(json.dumps(dict(threads={threads}, median_step_s=statistics.median(times))))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    for threads in args.threads:
        out = subprocess.run([sys.executable, "-c", STEP.format(threads=threads, steps=args.steps)],
                             check=True, capture_output=True, text=True).stdout
        result = json.loads(out)
        print(f"{threads} thread(s): {result['median_step_s'] * 1000:.0f} ms per step "
              f"(batch 64, 3x64x64)")


if __name__ == "__main__":
    main()
