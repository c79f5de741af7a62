#!/usr/bin/env python3
"""Where one head's hits on another corpus's gold entities come from.

`biotag eval --confusion` counts how many gold entities of corpus C a head H tags, fully or
partly. This script splits those hits for one (H, C) pair into
  - pathological formations: the gold or the predicted text names a tumour, cancer, carcinoma,
    lesion, ... (AnatEM annotates these as anatomy, NCBI-disease as diseases);
  - nested: one mention strictly inside the other (the site "breast" inside "breast cancer");
  - other: real confusions,
and lists the most frequent "other" hits. It runs `biotag annotate --tasks H` over C's test
sentences (tokens joined by spaces, as biotag eval reads them).

  bench/confusion_detail.py --model DIR --head disease --corpus anatomy
"""
import argparse, collections, json, os, re, subprocess, sys, tempfile

PATHOLOGICAL = re.compile(
    r"(tumou?r|cancer|carcinom|sarcom|oma\b|omas\b|lesion|metasta|neoplas|nodul|cyst|polyp|leuka?emi|malignan|"
    r"adenoma|plaque|ulcer|abscess|fibros|o?edema|thromb|infarct|aneurysm|hyperplas|dysplas|granulom|wound|scar)", re.I)


def sentences(path):
    """(text, [(start, end)]) per sentence: tokens joined by spaces, gold spans read leniently."""
    block = []
    for line in list(open(path, encoding="utf-8")) + [""]:
        line = line.rstrip("\n").rstrip("\r")
        if line and not line.startswith("-DOCSTART-"):
            parts = line.split("\t") if "\t" in line else line.split()
            block.append((parts[0], parts[-1]))
            continue
        if not block:
            continue
        text, offsets = "", []
        for token, _ in block:
            text += (" " if text else "")
            offsets.append((len(text), len(text) + len(token)))
            text += token
        spans, start, end, kind = [], None, None, None
        for (token, label), (s, e) in zip(block, offsets):
            tag, _, typ = label.partition("-")
            if tag == "B" or (tag == "I" and (start is None or typ != kind)):
                if start is not None:
                    spans.append((start, end))
                start, end, kind = s, e, typ
            elif tag == "I":
                end = e
            else:
                if start is not None:
                    spans.append((start, end))
                start = None
        if start is not None:
            spans.append((start, end))
        yield text, spans
        block = []


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--head", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--data", default=os.environ.get("BIOTAG_SHARED", "../shared") + "/data/bioner")
    parser.add_argument("--split", default="test")
    parser.add_argument("--biotag", default=".build/release/biotag")
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--show", choices=["other", "nested", "pathological"], default="other", help="which hits to list")
    args = parser.parse_args()

    gold = list(sentences(os.path.join(args.data, args.corpus, args.split + ".tsv")))
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "in.jsonl")
        with open(source, "w", encoding="utf-8") as out:
            for i, (text, _) in enumerate(gold):
                out.write(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n")
        result = subprocess.run([args.biotag, "annotate", source, "--model", args.model, "--tasks", args.head, "--quiet"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(result.stderr)
        predicted = {r["id"]: r["entities"] for r in map(json.loads, result.stdout.splitlines())}

    counts = collections.Counter()
    examples = collections.Counter()
    total = 0
    for i, (text, spans) in enumerate(gold):
        for s, e in spans:
            total += 1
            hits = [p for p in predicted.get(str(i), []) if p["start"] < e and p["end"] > s]
            if not hits:
                continue
            counts["hit"] += 1
            if PATHOLOGICAL.search(text[s:e]) or any(PATHOLOGICAL.search(p["text"]) for p in hits):
                kind = "pathological"
            elif all(p["end"] - p["start"] != e - s and ((p["start"] <= s and p["end"] >= e) or (p["start"] >= s and p["end"] <= e)) for p in hits):
                kind = "nested"
            else:
                kind = "other"
            counts[kind] += 1
            if kind == args.show:
                examples[f'{text[s:e]} <- {" | ".join(p["text"] for p in hits)}'] += 1
    share = lambda n: f"{n} ({100 * n / max(total, 1):.1f}%)"
    print(f"{args.head} head on {total} gold {args.corpus} entities ({args.split}): tagged {share(counts['hit'])}")
    print(f"  pathological formations {share(counts['pathological'])}, nested {share(counts['nested'])}, other {share(counts['other'])}")
    for example, n in examples.most_common(args.examples):
        print(f"    {n:3d}  {example}")


if __name__ == "__main__":
    main()
