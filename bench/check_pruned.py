#!/usr/bin/env python3
"""Checks a model `biotag prune --no-recovery` wrote against Hugging Face transformers.

Removing an attention head or an FFN neuron is the same as zeroing the weights that read it
(the head's columns of the attention output projection, the neuron's column of the FFN output).
This script loads the unpruned source with transformers (BertModel, fp32, eager attention),
zeroes those columns as --pruned/pruning.json says, runs it on the sentences, and compares the
last hidden states with `biotag encode` of the pruned model (fp32, as an unquantized model runs). Prints the largest absolute
difference and exits 1 when it is above --tolerance.

    bench/.venv/bin/python bench/check_pruned.py --source .build/default-model-f32 --pruned /tmp/pruned \\
        --sentences ../shared/data/bioner/disease/test.tsv --limit 64
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def read_sentences(path, limit):
    """Sentences of an IOB file (first column, words joined by spaces) or of a text file."""
    sentences, words = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if "\t" not in line:
            if words:
                sentences.append(" ".join(words))
                words = []
            elif line.strip():
                sentences.append(line.strip())
        else:
            words.append(line.split("\t")[0])
        if len(sentences) >= limit:
            break
    if words and len(sentences) < limit:
        sentences.append(" ".join(words))
    return sentences[:limit]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="the unpruned model directory")
    parser.add_argument("--pruned", required=True, help="the model biotag prune --no-recovery wrote (with pruning.json)")
    parser.add_argument("--sentences", required=True, help="IOB or one-sentence-per-line file")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--biotag", default=str(ROOT / ".build/release/biotag"))
    args = parser.parse_args()

    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    record = json.loads((Path(args.pruned) / "pruning.json").read_text())
    plan = record["plan"]
    model = AutoModel.from_pretrained(args.source, attn_implementation="eager", dtype=torch.float32, add_pooling_layer=False)
    model.eval()
    head_size = model.config.hidden_size // model.config.num_attention_heads
    with torch.no_grad():
        for index, layer in enumerate(model.encoder.layer):
            kept = set(plan["heads"][index])
            for head in range(model.config.num_attention_heads):
                if head not in kept:
                    layer.attention.output.dense.weight[:, head * head_size:(head + 1) * head_size] = 0
            neurons = set(plan["neurons"][index])
            removed = [n for n in range(layer.output.dense.weight.shape[1]) if n not in neurons]
            layer.output.dense.weight[:, removed] = 0

    sentences = read_sentences(args.sentences, args.limit)
    tokenizer = AutoTokenizer.from_pretrained(args.source)
    with tempfile.TemporaryDirectory() as work:
        lines = Path(work) / "in.jsonl"
        lines.write_text("".join(json.dumps({"text": s}) + "\n" for s in sentences), encoding="utf-8")
        out = Path(work) / "out.safetensors"
        subprocess.run([args.biotag, "encode", "--model", args.pruned, "--input", str(lines), "--output", str(out)],
                       check=True, capture_output=True)
        ours = load_file(str(out))
    worst = 0.0
    with torch.no_grad():
        for index, sentence in enumerate(sentences):
            encoded = tokenizer(sentence, return_tensors="pt")
            theirs = model(**encoded).last_hidden_state[0]
            mine = ours[f"s{index}"]
            if mine.shape != theirs.shape:
                print(f"sentence {index}: {tuple(mine.shape)} tokens from biotag, {tuple(theirs.shape)} from transformers", file=sys.stderr)
                return 1
            worst = max(worst, (mine - theirs).abs().max().item())
    print(f"{len(sentences)} sentences: largest |biotag - transformers| = {worst:.2e} (tolerance {args.tolerance:.0e})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
