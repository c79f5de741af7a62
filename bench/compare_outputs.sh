#!/usr/bin/env bash
# Behaviour kept: runs the demo (annotate into a catalog, then search) and every output format on
# the examples with two biotag binaries and compares what they write, byte for byte.
#
# Usage: bash bench/compare_outputs.sh BEFORE_BINARY AFTER_BINARY   (from the repository root)
# Prints one line per output and exits 1 if any differs.
set -euo pipefail
before="$1" after="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run() {  # run NAME BINARY: every output of one binary into $work/NAME
    local dir="$work/$1" bin="$2"
    mkdir -p "$dir"
    "$bin" annotate examples/datasets.jsonl --text-fields title,description --store "$dir/demo.db" -o "$dir/demo.jsonl" --quiet
    "$bin" annotate examples/datasets.jsonl --text-fields title,description --store "$dir/demo.db" -o "$dir/demo-again.jsonl" --quiet
    "$bin" search --store "$dir/demo.db" 'disease:"breast cancer" AND anatomy:liver' > "$dir/search1.txt"
    "$bin" search --store "$dir/demo.db" --limit 5 'chemical:cisplatin OR chemical:doxorubicin OR "single-cell"' > "$dir/search2.txt"
    # (each run's start time differs, and is left out)
    "$bin" search --store "$dir/demo.db" --json 'disease:cancer OR chemical:cisplatin' | grep -v '"startedAt"' > "$dir/search3.json"
    # Records that cannot be annotated: rejected with their place, the rest annotated.
    # (from the same relative path, so that locations read alike; the timing is left out)
    printf '{"id": "a", "text": "Cisplatin nephrotoxicity in rats."}\nnot json\n{"id": "b"}\n{"id": "c", "text": ""}\n' > "$work/bad.jsonl"
    (cd "$work" && "$bin" annotate bad.jsonl --model "$OLDPWD/models/bioner-minilm-8" --rejects "$dir/rejects.jsonl" -o "$dir/bad.out.jsonl" 2>&1 | sed 's/, in .*//' > "$dir/bad.stderr") || true
    for format in jsonl bioc-xml bioc-json pubtator; do
        "$bin" annotate examples/records.jsonl --to "$format" -o "$dir/records.$format" --quiet
    done
    "$bin" annotate examples/records.jsonl --to brat -o "$dir/brat" --quiet
    "$bin" annotate examples/records.jsonl $( [ "$1" = before ] && echo --viterbi || echo --decoding viterbi ) --aggregation average -o "$dir/records-viterbi.jsonl" --quiet
    # The catalog's run settings, which decide whether a later run finds its records done.
    python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT model_name, model_version, tasks, settings FROM run").fetchall())' "$dir/demo.db" > "$dir/runs.txt"
    rm "$dir/demo.db"*
}

before="$(realpath "$before")" after="$(realpath "$after")"
run before "$before"
run after "$after"
status=0
for file in $(cd "$work/before" && find . -type f | sort); do
    if cmp -s "$work/before/$file" "$work/after/$file"; then echo "same      $file"; else echo "DIFFERENT $file"; status=1; fi
done
exit $status
