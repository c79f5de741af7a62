#!/usr/bin/env bash
# Regenerates the figures of docs/RESULTS.md: the eight single-task models, the multi-task model
# with and without negatives, their test scores and confusion tables, and the PyTorch reference
# run on NCBI-disease. Long (several hours on 2 cores): run it in the background, e.g.
#   nohup bash bench/results.sh > results.log 2>&1 &
# Each model goes to $RUNS/<name> (default .build/runs); a model already trained is skipped, and an
# interrupted training resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
BIOTAG=${BIOTAG:-.build/release/biotag}
DATA=${DATA:-../shared/data/bioner}
RUNS=${RUNS:-.build/runs}
TASKS=(disease chemical gene species cell anatomy cellular_component cell_type)
ALL=$(IFS=,; echo "${TASKS[*]}")
mkdir -p "$RUNS"

train() {  # name, then train flags
  local name=$1; shift
  if [[ -f "$RUNS/$name/done" ]]; then echo "== $name: trained already"; return; fi
  echo "== training $name"
  "$BIOTAG" train --data "$DATA" --out "$RUNS/$name" --resume --json "$@" > "$RUNS/$name.summary.json" 2> "$RUNS/$name.log"
  touch "$RUNS/$name/done"
}

evaluate() {  # name, then eval flags
  local name=$1; shift
  "$BIOTAG" eval --model "$RUNS/$name" --data "$DATA" --split test --json "$@" > "$RUNS/$name.test.json"
  "$BIOTAG" eval --model "$RUNS/$name" --data "$DATA" --split test "$@" | tee "$RUNS/$name.test.txt"
}

for task in "${TASKS[@]}"; do
  extra=()
  # 3 epochs (285 steps) teach the cellular-component head nothing: it never predicts an entity.
  [[ $task == cellular_component ]] && extra=(--epochs 10)
  train "single-$task" --tasks "$task" "${extra[@]}"
  evaluate "single-$task"
  "$BIOTAG" eval --model "$RUNS/single-$task" --data "$DATA" --split test --decoding viterbi | tee "$RUNS/single-$task.test-viterbi.txt"
done
# biotag's own seed spread on NCBI-disease (seed 13 is single-disease above).
for seed in 14 15 16; do
  train "single-disease-s$seed" --tasks disease --seed "$seed"
  evaluate "single-disease-s$seed" --tasks disease
done

# The multi-task model without and with negatives (the default model's recipe: four epochs give
# every corpus at least its single-task steps), and the earlier 3-epoch model with fewer negatives.
train multi --tasks "$ALL" --alpha 0.5 --epochs 4 --devel-limit 1000
evaluate multi --confusion
train multi-neg --tasks "$ALL" --alpha 0.5 --negative-rate 0.25 --devel-limit 1000
evaluate multi-neg --confusion
train multi-neg50 --tasks "$ALL" --alpha 0.5 --negative-rate 0.5 --epochs 4 --devel-limit 1000
evaluate multi-neg50 --confusion
# 0.2.0: another corpus's entities that hold the head's own words are no negatives.
train multi-hw --tasks "$ALL" --alpha 0.5 --negative-rate 0.5 --head-word-share 0.5 --epochs 4 --devel-limit 1000
evaluate multi-hw --confusion
"$BIOTAG" eval --model "$RUNS/multi-hw" --data "$DATA" --split test --decoding viterbi | tee "$RUNS/multi-hw.test-viterbi.txt"
# The same recipe with twice the negatives for the gene head (not chosen: gene F1 falls).
train multi-gene --tasks "$ALL" --alpha 0.5 --negative-rate 0.5 --negative-rate-for gene=1 --head-word-share 0.5 --epochs 4 --devel-limit 1000
evaluate multi-gene --confusion
# The default model 0.3.x: multi-hw with a bias on the gene head's O, chosen on devel among these.
for delta in 0.5 0.75 1.0; do
  "$BIOTAG" convert --model "$RUNS/multi-hw" --out "$RUNS/multi-hw-gene$delta" --weights f32 --label-bias gene:O=$delta
done
for model in multi-hw multi-hw-gene0.5 multi-hw-gene0.75 multi-hw-gene1.0; do
  "$BIOTAG" eval --model "$RUNS/$model" --data "$DATA" --split devel --tasks gene --confusion --json > "$RUNS/$model.devel-gene.json"
done
evaluate multi-hw-gene0.5 --confusion

# int8 compute (docs/BENCHMARKS.md, "int8 accuracy"): without and with calibration.
for model in multi-neg multi-neg50 multi-hw; do
  "$BIOTAG" quantize --model "$RUNS/$model" --mode int8 --out "$RUNS/$model-q8"
  evaluate "$model-q8"
  "$BIOTAG" quantize --model "$RUNS/$model" --mode int8 --out "$RUNS/$model-q8-smooth" \
    $(for task in ${ALL//,/ }; do echo --calibration "$DATA/$task/train.tsv"; done)
  evaluate "$model-q8-smooth"
done

# Storages (docs/RESULTS.md, "Storage"): 0.2.0 is multi-hw's "intermediate"; the four on multi-neg50 too.
# 0.3.0 is multi-hw-gene0.5's "intermediate".
store() {  # model, name, then convert flags
  local model=$1 name=$2; shift 2
  "$BIOTAG" convert --model "$RUNS/$model" --out "$RUNS/$model-$name" "$@"
  evaluate "$model-$name"
}
for model in multi-neg50 multi-hw multi-hw-gene0.5; do
  store $model intermediate --weights f16 --weights-for word_embeddings=int8 --weights-for intermediate=int8-g32
  store $model attention --weights f16 --weights-for word_embeddings=int8 --weights-for attention=int8-g32
done
store multi-neg50 f16 --weights f16 --weights-for word_embeddings=int8
store multi-neg50 ffn-out --weights f16 --weights-for word_embeddings=int8 --weights-for .output.dense=int8-g32 --weights-for attention.output=f16

# 0.3.1's storage (docs/RESULTS.md, "Storage"): each candidate's predictions against fp32 on devel
# and test, word by word; chosen by the fewest devel entities differing among those that fit.
predictions() {  # model: F1 and predictions on devel and test
  for split in devel test; do
    "$BIOTAG" eval --model "$RUNS/$1" --data "$DATA" --split $split --json --predictions "$RUNS/$1.pred" > "$RUNS/$1.$split.json"
  done
}
predictions multi-hw-gene0.5
for plan in "f16" "emb8 word_embeddings=int8" "inter8 intermediate=int8-g32" \
            "emb8-inter8 word_embeddings=int8 intermediate=int8-g32" \
            "emb8g-inter8 word_embeddings=int8-g32 intermediate=int8-g32" \
            "emb8g-inter8-pos8 word_embeddings=int8-g32 intermediate=int8-g32 position_embeddings=int8"; do
  set -- $plan
  name=$1; shift
  "$BIOTAG" convert --model "$RUNS/multi-hw-gene0.5" --out "$RUNS/store-$name" --weights f16 $(for rule in "$@"; do echo --weights-for $rule; done)
  predictions store-$name
  python3 bench/prediction_diff.py "$RUNS/multi-hw-gene0.5.pred" "$RUNS/store-$name.pred"
done
# (0.3.0's row in RESULTS was stored with fp32 scales, as biotag convert wrote them before fa0d320.)

# The confusion pairs RESULTS splits into nested, pathological formations and other hits.
for pair in "multi-hw disease anatomy" "multi-hw anatomy disease" "multi-hw cell cellular_component" \
            "multi-hw cell_type cellular_component" "multi-hw species gene" "multi-hw gene disease" \
            "multi-hw gene chemical" "multi-hw gene cellular_component" \
            "multi-neg50 disease anatomy" "multi-neg50 anatomy disease"; do
  set -- $pair
  python3 bench/confusion_detail.py --biotag "$BIOTAG" --model "$RUNS/$1" --head "$2" --corpus "$3" --data "$DATA"
done

bash bench/setup.sh
bench/.venv/bin/python bench/train_reference.py --json > "$RUNS/pytorch-disease.json"
cat "$RUNS/pytorch-disease.json"
