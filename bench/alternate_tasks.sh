#!/usr/bin/env bash
# Eight-task int8 speed of several models, run alternately (one after another in each round), so
# that a noisy machine slows them alike: per run, `biotag bench tasks --modes int8 --no-reference`
# over the NCBI-disease test sentences on 2 threads, printed as the model, the better of the two
# batch-32 setups and batch 1, in ms/sentence. Ratios are read per round (docs/RESULTS.md).
#
# Usage: bash bench/alternate_tasks.sh ROUNDS MODEL...   (from the repository root)
set -euo pipefail
rounds="$1"; shift
biotag="${BIOTAG:-.build/release/biotag}"
for _ in $(seq 1 "$rounds"); do
  for model in "$@"; do
    "$biotag" bench tasks --model "$model" --modes int8 --no-reference --json --repeats 1 --threads 2 2>/dev/null | python3 -c "
import json, sys
c = json.load(sys.stdin)['configurations']
batched = min(x['ms_per_sentence'] for x in c if x['batch'] > 1)
one = next(x['ms_per_sentence'] for x in c if x['batch'] == 1)
print('$model', round(batched, 3), round(one, 3))"
  done
done
