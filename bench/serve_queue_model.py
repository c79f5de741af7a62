#!/usr/bin/env python3
"""A queueing model of `biotag serve`'s lanes, to see where the half-load latency tail comes from.

The workload is `serve_load.py`'s: requests of one to three NCBI-disease test sentences (one text
each), Poisson arrivals. The server is `--workers` lanes; a free lane waits `--max-wait-ms` after
the first queued request, then takes queued texts up to its limit (DynamicBatcher.batchLimit), and
a batch takes FIXED + PER_WORD × words milliseconds. PER_WORD comes from the measured closed-loop
throughput (about 6,300 words/s on two lanes), FIXED from the measured unloaded p50.

    python3 bench/serve_queue_model.py [--tsv FILE] [--rate 64.5] [--per-word 0.317] [--unloaded-p50 22.4]

Prints, per lane-share floor (0: a busy server's idle lane takes the whole queue) and per unit
taken (whole requests or single texts), the model's unloaded p50 and half-load p50 and p99.
"""
import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import sentences_of  # noqa: E402


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def simulate(words, rate, floor, split, wait, fixed, per_word, seconds=3000, lanes=2, seed=7):
    rng = random.Random(seed)
    arrivals, t = [], 0.0
    while t < seconds * 1000:
        t += rng.expovariate(rate / 1000)
        n = rng.randint(1, 3)
        i = rng.randrange(len(words) - 3)
        arrivals.append((t, words[i:i + n]))
    # The queue's units: each text, or each request whole.
    units = [(a, r, w) for r, (a, ws) in enumerate(arrivals) for w in (ws if split else [sum(ws)])]
    free, finished, p = [0.0] * lanes, [0.0] * len(arrivals), 0
    while p < len(units):
        lane = min(range(lanes), key=lambda j: free[j])
        start = max(free[lane], units[p][0])
        if start == units[p][0]:
            start += wait
        queued, j = 0, p
        while j < len(units) and units[j][0] <= start:
            queued += units[j][2]
            j += 1
        idle = sum(1 for f in free if f <= start)
        limit = -(-queued // idle) if idle > 1 else float("inf")
        if floor:
            limit = min(limit, max(floor, -(-queued // lanes)))
        taken, total = 0, 0
        while p < len(units) and units[p][0] <= start and (taken == 0 or total + units[p][2] <= limit):
            total += units[p][2]
            taken += 1
            p += 1
        end = start + fixed + per_word * total
        free[lane] = end
        for a, r, _ in units[p - taken:p]:
            finished[r] = max(finished[r], end)
    latencies = [finished[r] - a for r, (a, _) in enumerate(arrivals)]
    return percentile(latencies, 50), percentile(latencies, 99)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tsv", default=str(Path(__file__).resolve().parents[1] / "../shared/data/bioner/disease/test.tsv"))
    parser.add_argument("--rate", type=float, default=64.5, help="half-load requests/s")
    parser.add_argument("--per-word", type=float, default=0.317, help="ms per word in a batch, one lane")
    parser.add_argument("--unloaded-p50", type=float, default=22.4, help="measured ms, fixes the per-batch part")
    parser.add_argument("--wait", type=float, default=5.0, help="--max-wait-ms")
    args = parser.parse_args()
    words = [len(s.split()) for s in sentences_of(args.tsv)]
    rng = random.Random(1)
    sizes = sorted(sum(words[i:i + rng.randint(1, 3)]) for i in (rng.randrange(len(words) - 3) for _ in range(20000)))
    fixed = args.unloaded_p50 - args.wait - args.per_word * sizes[len(sizes) // 2]
    print(f"per batch {fixed:.2f} ms + {args.per_word} ms/word; half load {args.rate} requests/s")
    for split in (False, True):
        for floor in (0, 60, 100, 150):
            unloaded = simulate(words, 0.5, floor, split, args.wait, fixed, args.per_word)
            half = simulate(words, args.rate, floor, split, args.wait, fixed, args.per_word)
            print(f"{'texts' if split else 'requests'} floor {floor:>3} words: unloaded p50 {unloaded[0]:5.1f} ms; "
                  f"half p50 {half[0]:5.1f} p99 {half[1]:6.1f} ms; p99/unloaded p50 {half[1] / unloaded[0]:.2f}")


if __name__ == "__main__":
    main()
