#!/usr/bin/env python3
"""Training speed of biotag against PyTorch/transformers, same model, corpus, batch and cores.

Alternates `biotag train` and `bench/train_reference.py` for --steps steps each, --repeats
times, on NCBI-disease (or --data), and prints each run's real training tokens/s and the
median of the per-repeat ratios biotag / PyTorch. Both count the tokens of the batches they
trained on ([CLS]/[SEP] included, padding excluded) over the wall time of the training steps.

    bench/.venv/bin/python bench/train_speed.py --steps 40 --repeats 3
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_json(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"train_speed: {' '.join(map(str, command))} failed:\n{result.stderr[-2000:]}")
    # The JSON object is the last thing on stdout (it may span several lines).
    text = result.stdout
    start = text.rfind("\n{") + 1 if "\n{" in text else text.index("{")
    return json.loads(text[start:])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--biotag", type=Path, default=REPO / ".build/release/biotag")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/bioner")
    parser.add_argument("--task", default="disease")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()

    runs = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as scratch:
            swift = run_json([args.biotag, "train", "--tasks", args.task, "--data", args.data, "--out", scratch,
                              "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
                              "--threads", str(args.threads), "--evaluate-every", "1000000", "--devel-limit", "1", "--json"])
        torch = run_json([sys.executable, REPO / "bench/train_reference.py", "--data", args.data / args.task,
                          "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
                          "--threads", str(args.threads), "--json"])
        ratio = swift["tokens_per_second"] / torch["tokens_per_second"]
        runs.append({"biotag_tokens_per_second": swift["tokens_per_second"],
                     "pytorch_tokens_per_second": torch["tokens_per_second"], "ratio": ratio})
        print(f"repeat {repeat + 1}: biotag {swift['tokens_per_second']:.0f} tokens/s, "
              f"PyTorch {torch['tokens_per_second']:.0f} tokens/s, ratio {ratio:.2f}", file=sys.stderr)
    median = statistics.median(r["ratio"] for r in runs)
    if args.json:
        print(json.dumps({"task": args.task, "steps": args.steps, "batch_size": args.batch_size,
                          "threads": args.threads, "runs": runs, "median_ratio": median}))
    else:
        print(f"training tokens/s, biotag / PyTorch (median of {args.repeats}): {median:.2f}")


if __name__ == "__main__":
    main()
