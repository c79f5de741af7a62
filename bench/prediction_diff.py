#!/usr/bin/env python3
"""How far a model's predictions are from another's, word by word and entity by entity.

Reads the folders `biotag eval --predictions DIR` writes (one `<task>.<split>.tsv` per head:
word, gold label, predicted label) and prints, per split and task, how many words got another
label and how many predicted entities (type and word span) one model has and the other has not.

    python3 bench/prediction_diff.py BASE_DIR OTHER_DIR [OTHER_DIR ...]
"""
import os
import sys


def read(path):
    sentences, current = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                sentences.append(current)
                current = []
            else:
                current.append(line.split("\t")[2])
    if current:
        sentences.append(current)
    return sentences


def entities(labels):
    """IOB2 spans as (start, end, type); an I- after another type or O starts an entity, as seqeval reads it."""
    spans, start, kind = set(), None, None
    for index, label in enumerate(labels + ["O"]):
        if start is not None and (label == "O" or label.startswith("B-") or label[2:] != kind):
            spans.add((start, index, kind))
            start = None
        if label != "O" and start is None:
            start, kind = index, label[2:]
    return spans


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    base = sys.argv[1]
    files = sorted(name for name in os.listdir(base) if name.endswith(".tsv"))
    for other in sys.argv[2:]:
        for split in sorted({name.rsplit(".", 2)[1] for name in files}):
            words = entity_total = 0
            per_task = []
            for name in files:
                if name.rsplit(".", 2)[1] != split or not os.path.exists(os.path.join(other, name)):
                    continue
                a, b = read(os.path.join(base, name)), read(os.path.join(other, name))
                if len(a) != len(b):
                    sys.exit(f"{name}: {len(a)} sentences in {base}, {len(b)} in {other}")
                changed = sum(x != y for left, right in zip(a, b) for x, y in zip(left, right))
                differing = sum(len(entities(left) ^ entities(right)) for left, right in zip(a, b))
                words += changed
                entity_total += differing
                per_task.append(f"{name.rsplit('.', 2)[0]} {differing}")
            print(f"{other} {split}: {words} words, {entity_total} entities differ ({', '.join(per_task)})")


if __name__ == "__main__":
    main()
