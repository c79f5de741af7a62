#!/usr/bin/env python3
"""The speed/accuracy frontier of compressed models: eight-task int8 speed against mean test F1.

For each point NAME=MODEL:EVAL (a multi-task model directory and the `biotag eval --split test
--json` output of the model as it ships), every round runs `biotag bench tasks --model MODEL
--modes int8 --no-reference` (encoder and every head in one pass, int8, the 940 NCBI-disease test
sentences: batch 1, and batches of 32 on two workers of one thread and on one worker of two
threads), then ONNX Runtime int8 on the reference model's encoder (`bench/reference.py --runtimes
onnxruntime-int8`, batch 1 and 32, the same sentences and threads), each round in another order.
Figures are medians over the rounds; ratios are medians of each round's own ratio, so both sides
meet the same minutes.

    python3 bench/frontier.py --point default=.build/default-model-f32:default.json \\
        --point student=.build/student:student.json --reference-model .build/default-model-f32 \\
        --rounds 3 --json frontier.json --plot docs/compression-frontier.png

The plot needs matplotlib (`make frontier-plot` installs it into .build/plot-venv); --json alone
needs only the standard library and bench/.venv (bench/setup.sh) for the reference.
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mean_f1(path):
    """Mean lenient micro F1 over the heads of a `biotag eval --json` file, and each head's."""
    data = json.loads(Path(path).read_text())
    heads = {task["task"]: 100 * task["lenient"]["micro"]["f1"] for task in data["tasks"]}
    return statistics.mean(heads.values()), heads


def bench_biotag(biotag, model, sentences, threads):
    command = [biotag, "bench", "tasks", "--model", model, "--modes", "int8", "--no-reference", "--json", "--repeats", "1",
               "--threads", str(threads)]
    if sentences:
        command += ["--sentences", sentences]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    configurations = json.loads(out)["configurations"]
    batch1 = next(c for c in configurations if c["batch"] == 1)
    batched = min((c for c in configurations if c["batch"] > 1), key=lambda c: c["ms_per_sentence"])
    return {"batch1_ms": batch1["ms_per_sentence"], "batched_ms": batched["ms_per_sentence"], "batched_setup": batched["name"]}


def bench_reference(python, model, sentences, threads):
    command = [python, str(ROOT / "bench/reference.py"), "--model", model, "--sentences", sentences, "--threads", str(threads),
               "--batch-sizes", "1,32", "--runtimes", "onnxruntime-int8"]
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    by_batch = {r["batch"]: r["ms_per_sentence"] for r in result["results"]}
    return {"batch1_ms": by_batch[1], "batched_ms": by_batch[32], "cpu": result.get("cpu")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--point", action="append", required=True, help="NAME=MODEL_DIR:EVAL_JSON (repeatable; the first is the baseline)")
    parser.add_argument("--reference-model", required=True, help="fp32 model directory whose encoder ONNX Runtime runs")
    parser.add_argument("--biotag", default=str(ROOT / ".build/release/biotag"))
    parser.add_argument("--python", default=str(ROOT / "bench/.venv/bin/python"), help="interpreter with bench/requirements.txt")
    parser.add_argument("--sentences", default=str(ROOT / "../shared/data/bioner/disease/test.tsv"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--plot", help="draw the frontier into this PNG")
    args = parser.parse_args()

    points = []
    for text in args.point:
        name, _, rest = text.partition("=")
        model, _, evaluation = rest.rpartition(":")
        if not name or not model or not evaluation:
            parser.error(f"--point {text}: expected NAME=MODEL_DIR:EVAL_JSON")
        f1, heads = mean_f1(evaluation)
        points.append({"name": name, "model": model, "mean_f1": f1, "heads": heads, "rounds": []})
    reference_rounds = []
    # Each round starts one place further along (the reference included), so no configuration
    # always runs first or right after another.
    order = list(range(len(points))) + [None]
    for round_index in range(args.rounds):
        shift = round_index % len(order)
        for index in order[shift:] + order[:shift]:
            if index is None:
                print(f"round {round_index + 1}: onnxruntime int8", file=sys.stderr)
                reference_rounds.append(bench_reference(args.python, args.reference_model, args.sentences, args.threads))
            else:
                print(f"round {round_index + 1}: {points[index]['name']}", file=sys.stderr)
                points[index]["rounds"].append(bench_biotag(args.biotag, points[index]["model"], args.sentences, args.threads))

    baseline = points[0]
    for point in points:
        rounds = point["rounds"]
        point["batch1_ms"] = statistics.median(r["batch1_ms"] for r in rounds)
        point["batched_ms"] = statistics.median(r["batched_ms"] for r in rounds)
        point["speedup_vs_baseline"] = statistics.median(b["batched_ms"] / r["batched_ms"] for r, b in zip(rounds, baseline["rounds"]))
        point["batched_vs_ort_int8"] = statistics.median(ref["batched_ms"] / r["batched_ms"] for r, ref in zip(rounds, reference_rounds))
        point["batch1_vs_ort_int8"] = statistics.median(ref["batch1_ms"] / r["batch1_ms"] for r, ref in zip(rounds, reference_rounds))
        point["f1_change"] = point["mean_f1"] - baseline["mean_f1"]
    reference = {"name": "ONNX Runtime int8 (encoder only)", "model": args.reference_model,
                 "batch1_ms": statistics.median(r["batch1_ms"] for r in reference_rounds),
                 "batched_ms": statistics.median(r["batched_ms"] for r in reference_rounds),
                 "cpu": reference_rounds[0].get("cpu"), "rounds": reference_rounds}
    summary = {"points": points, "reference": reference, "rounds": args.rounds, "threads": args.threads, "sentences": args.sentences}
    for point in points:
        print(f"{point['name']:>12}: mean F1 {point['mean_f1']:.2f} ({point['f1_change']:+.2f}), int8 batched {point['batched_ms']:.2f} ms/sentence "
              f"({point['speedup_vs_baseline']:.2f}x the first, {point['batched_vs_ort_int8']:.2f}x ORT int8), batch 1 {point['batch1_ms']:.2f} ms "
              f"({point['batch1_vs_ort_int8']:.2f}x ORT int8)")
    print(f"ORT int8 encoder of {args.reference_model}: batched {reference['batched_ms']:.2f} ms/sentence, batch 1 {reference['batch1_ms']:.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    if args.plot:
        plot(summary, args.plot)


def plot(summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    points = summary["points"]
    axes.plot([p["batched_ms"] for p in points], [p["mean_f1"] for p in points], "o", color="#1f6feb")
    placed = []
    for p in sorted(points, key=lambda p: -p["mean_f1"]):
        # A label whose point sits near one already labelled goes below it, not over it.
        near = sum(1 for q in placed if abs(q["batched_ms"] - p["batched_ms"]) < 0.3 and abs(q["mean_f1"] - p["mean_f1"]) < 0.3)
        axes.annotate(f"{p['name']}\n{p['speedup_vs_baseline']:.2f}×, {p['f1_change']:+.2f} F1", (p["batched_ms"], p["mean_f1"]),
                      textcoords="offset points", xytext=(8, -4 - 24 * near), fontsize=8)
        placed.append(p)
    reference = summary["reference"]
    axes.axvline(reference["batched_ms"], color="#cf222e", linestyle="--", linewidth=1)
    axes.annotate("ONNX Runtime int8,\ndefault encoder only", (reference["batched_ms"], min(p["mean_f1"] for p in points)),
                  textcoords="offset points", xytext=(4, 0), fontsize=8, color="#cf222e")
    axes.set_xlabel("eight-task int8 ms per sentence, batched (2 cores; lower is faster)")
    axes.set_ylabel("mean test F1 over the eight heads")
    axes.set_title("biotag compression frontier (NCBI-disease test sentences)", fontsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    main()
