#!/usr/bin/env python3
"""Records for the work-queue measurements: the sentences of ../shared/data/bioner's corpora (words
joined by single spaces), regrouped in order, --sentences per record, as JSON lines with an id and
a text. The output stays outside the repository (corpus text lives in ../shared)."""
import argparse
import json
import pathlib

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--data", default="../shared/data/bioner", help="folder of corpora, one sub-folder per task")
parser.add_argument("--records", type=int, default=20000, help="records to write")
parser.add_argument("--sentences", type=int, default=2, help="sentences per record")
parser.add_argument("--out", required=True, help="the JSON lines file to write")
args = parser.parse_args()


def sentences():
    for split in ("train", "devel", "test"):
        for corpus in sorted(p for p in pathlib.Path(args.data).iterdir() if p.is_dir()):
            words = []
            for line in (corpus / f"{split}.tsv").open(encoding="utf-8"):
                line = line.rstrip("\n")
                if not line:
                    if words:
                        yield f"{corpus.name}-{split}", " ".join(words)
                    words = []
                elif not line.startswith("-DOCSTART-"):
                    words.append(line.split("\t")[0])
            if words:
                yield f"{corpus.name}-{split}", " ".join(words)


written = 0
group, source = [], None
with open(args.out, "w", encoding="utf-8") as out:
    for name, sentence in sentences():
        group.append(sentence)
        source = name
        if len(group) == args.sentences:
            out.write(json.dumps({"id": f"{source}-{written + 1}", "text": " ".join(group)}, ensure_ascii=False) + "\n")
            written += 1
            group = []
            if written == args.records:
                break
if written < args.records:
    raise SystemExit(f"only {written} records of {args.sentences} sentences in {args.data}")
print(f"{written} records written to {args.out}")
