#!/usr/bin/env python3
"""Reference training run for biotag: fine-tune a BERT token classifier on CPU.

Fine-tunes a Hugging Face BERT encoder with a two-layer MLP tagging head on one
IOB corpus with PyTorch and transformers, and reports the entity-level F1 on the
test set and the training speed, so that biotag's own training can be compared
against an established implementation of the same recipe.

    bench/.venv/bin/python bench/train_reference.py [--model DIR] [--data DIR]
        [--epochs 3] [--batch-size 32] [--lr 5e-5] [--threads 2] [--max-steps N]
        [--device cpu|cuda] [--json]

Recipe
  * Data: DIR/train.tsv, DIR/devel.tsv, DIR/test.tsv; `token<TAB>label` lines,
    a blank line between sentences, IOB2 labels (B-Disease, I-Disease, O).
    Labels: the sorted label set of train.tsv, with "O" first.
  * Tokenization: BertTokenizerFast with is_split_into_words=True; word_ids()
    maps wordpieces back to words. A sentence longer than --max-length
    wordpieces (with [CLS]/[SEP]) is cut into windows at word boundaries;
    nothing is dropped. Windows are trained on and predicted independently.
  * Model: AutoModel encoder (no pooler) -> dropout(hidden_dropout_prob) ->
    Linear(hidden, hidden) -> GELU (exact, erf) -> Linear(hidden, labels).
    The head is initialised like BERT's own layers: N(0, initializer_range)
    weights, zero biases.
  * Loss: cross-entropy on the first wordpiece of each word; later wordpieces,
    [CLS], [SEP] and padding are ignored (-100).
  * Optimization: torch.optim.AdamW (betas 0.9/0.999, eps 1e-8), weight decay
    on everything but biases and LayerNorm weights, linear warm-up over
    --warmup of all steps then linear decay to 0 (over the steps of the full
    --epochs run; --max-steps only stops that run early), gradient norm
    clipped to --max-grad-norm.
  * Batches (--sort-by-length, default on): each epoch, the windows are
    shuffled, cut into chunks of 100 batches, sorted by length within a chunk
    and cut into batches, each padded to its own longest window; the order of
    the batches is then shuffled too, so that the first steps (and a
    --max-steps run) see a fair mix of lengths. --no-sort-by-length: plain
    shuffled batches.
  * Evaluation: argmax at the first wordpiece of each word (a word the
    tokenizer turns into no wordpiece at all is predicted "O"), scored with
    entity-level micro precision / recall / F1 as seqeval (default mode) and
    conlleval score them. On devel after each epoch, on test at the end.
  * Device: the CPU (the speed reference). --device cuda runs the same recipe on
    a GPU, for seed-spread runs of the F1 only; its speed is not comparable.
  * Speed: only the training steps are timed (forward, loss, backward,
    clipping, optimizer and scheduler step; batches are built before the clock
    starts; evaluation is excluded). Real tokens are the non-padding
    wordpieces, [CLS]/[SEP] included; padded tokens count every position of
    every padded batch.

Output: progress on stderr; at the end a summary on stdout, or with --json one
JSON object: {"model", "data", "epochs", "steps", "batch_size", "lr", "seed",
"threads", "train_seconds", "real_tokens", "tokens_per_second",
"padded_tokens_per_second", "devel_f1": [per epoch], "test_precision",
"test_recall", "test_f1", "torch_version", "transformers_version", ...}.
Usage errors, a missing model or data directory and unreadable data give a
one-line message on stderr and exit status 2; other failures a traceback, a
last one-line message and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

# Shared with the encoder benchmark; importing it also keeps transformers offline.
from reference import BenchError, check_model_dir, one_line, read_do_lower_case, run_keeping_stdout

EXIT_USAGE = 2
IGNORE = -100            # label of positions that carry no loss
CHUNK_BATCHES = 100      # length bucketing: sort within chunks of this many batches
EVAL_BATCH_SIZE = 64

REPO_ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(f"[train_reference] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as a single line (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BenchError(f"usage: {message}")


def _number(kind, low, low_ok: bool):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not low_ok):
            raise argparse.ArgumentTypeError(f"must be {'>=' if low_ok else '>'} {low}: {text!r}")
        return value
    return parse


def default_model_dir() -> Path:
    home = os.environ.get("BIOTAG_HOME") or str(Path.home() / ".cache" / "biotag")
    return Path(home) / "models" / "all-MiniLM-L6-v2"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(prog="train_reference.py",
                description="Fine-tune a BERT token classifier on CPU with PyTorch (biotag's "
                            "training reference) and report test F1 and training speed.")
    p.add_argument("--model", type=Path, default=default_model_dir(),
                   help="Hugging Face BERT directory (default $BIOTAG_HOME/models/all-MiniLM-L6-v2)")
    p.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared/data/bioner/disease",
                   help="directory with train.tsv, devel.tsv, test.tsv "
                        "(default ../shared/data/bioner/disease from the repository root)")
    p.add_argument("--epochs", type=_number(int, 1, True), default=3)
    p.add_argument("--batch-size", type=_number(int, 1, True), default=32)
    p.add_argument("--lr", type=_number(float, 0.0, False), default=5e-5)
    p.add_argument("--warmup", type=_number(float, 0.0, True), default=0.1,
                   help="fraction of all steps spent in linear warm-up (default 0.1)")
    p.add_argument("--weight-decay", type=_number(float, 0.0, True), default=0.01)
    p.add_argument("--max-grad-norm", type=_number(float, 0.0, False), default=1.0)
    p.add_argument("--max-length", type=_number(int, 3, True), default=128,
                   help="wordpieces per window, [CLS]/[SEP] included (default 128)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=_number(int, 1, True), default=2)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="torch device to train on (default cpu, the speed reference; "
                        "'cuda' only for seed-spread runs of the F1)")
    p.add_argument("--max-steps", type=_number(int, 1, True), default=None,
                   help="stop after N optimizer steps (for speed measurements)")
    p.add_argument("--sort-by-length", action=argparse.BooleanOptionalAction, default=True,
                   help="length-bucketed batches (default on)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with all results on stdout")
    args = p.parse_args(argv)
    if args.warmup > 1:
        raise BenchError(f"usage: --warmup is a fraction of the steps, got {args.warmup}")
    return args


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


@dataclass
class Sentence:
    words: list[str]
    labels: list[str]


def read_iob(path: Path) -> list[Sentence]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"data file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read {path}: {exc}") from None
    sentences: list[Sentence] = []
    current = Sentence([], [])
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            if current.words:
                sentences.append(current)
                current = Sentence([], [])
            continue
        if line.startswith("-DOCSTART-"):  # CoNLL document separator
            continue
        word, tab, label = line.partition("\t")
        if not tab or not word.strip() or not label.strip():
            raise BenchError(f"{path}:{lineno}: expected 'token<TAB>label', got {line[:60]!r}")
        current.words.append(word.strip())
        current.labels.append(label.strip())
    if current.words:
        sentences.append(current)
    if not sentences:
        raise BenchError(f"no sentences in {path}")
    return sentences


@dataclass
class Window:
    """Up to max_length wordpieces of one sentence, [CLS]/[SEP] included."""
    sentence: int                    # index into the split's sentences
    ids: list[int]
    labels: list[int]                # label id at a word's first wordpiece, else IGNORE
    words: list[int] = field(default_factory=list)   # sentence word index of each word here
    firsts: list[int] = field(default_factory=list)  # position of each word's first wordpiece


@dataclass
class Split:
    sentences: list[Sentence]
    windows: list[Window]


def encode(tokenizer, sentences: list[Sentence], label_ids: dict[str, int], max_length: int,
           name: str) -> Split:
    """Tokenize whole sentences once, then cut them into windows at word boundaries.

    WordPiece splits each word on its own, so the wordpieces of a window are
    exactly those the window's words would get if tokenized alone."""
    enc = tokenizer([s.words for s in sentences], is_split_into_words=True,
                    add_special_tokens=False)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    budget = max_length - 2
    windows: list[Window] = []
    split_sentences = empty_words = cut_words = 0
    for si, sentence in enumerate(sentences):
        # Wordpieces of each word, in order (a word may have none).
        pieces: list[list[int]] = [[] for _ in sentence.words]
        for piece, word in zip(enc["input_ids"][si], enc.word_ids(si)):
            pieces[word].append(piece)
        start = len(windows)
        window = Window(si, [cls], [IGNORE])
        for wi, word_pieces in enumerate(pieces):
            if not word_pieces:
                empty_words += 1
                continue
            if len(word_pieces) > budget:   # one word longer than a window: keep its head
                word_pieces = word_pieces[:budget]
                cut_words += 1
            if len(window.ids) - 1 + len(word_pieces) > budget:
                window.ids.append(sep); window.labels.append(IGNORE)
                windows.append(window)
                window = Window(si, [cls], [IGNORE])
            window.words.append(wi)
            window.firsts.append(len(window.ids))
            # A label unseen in train.tsv (devel/test only) cannot be learned: no loss.
            window.labels.append(label_ids.get(sentence.labels[wi], IGNORE))
            window.labels.extend([IGNORE] * (len(word_pieces) - 1))
            window.ids.extend(word_pieces)
        if window.words:  # a sentence of words without wordpieces gets no window
            window.ids.append(sep); window.labels.append(IGNORE)
            windows.append(window)
        split_sentences += len(windows) - start > 1
    notes = f"{name}: {len(sentences)} sentences -> {len(windows)} windows"
    if split_sentences:
        notes += f"; {split_sentences} split (longer than {max_length} wordpieces)"
    if empty_words:
        notes += f"; {empty_words} words without wordpieces (predicted O)"
    if cut_words:
        notes += f"; {cut_words} words cut to {budget} wordpieces"
    log(notes)
    return Split(sentences, windows)


@dataclass
class Batch:
    input_ids: "torch.Tensor"
    attention_mask: "torch.Tensor"
    token_type_ids: "torch.Tensor"
    labels: "torch.Tensor"
    windows: list[Window]
    real_tokens: int
    padded_tokens: int


def collate(windows: list[Window], pad_id: int) -> Batch:
    import torch

    width = max(len(w.ids) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    labels = torch.full((len(windows), width), IGNORE, dtype=torch.long)
    for row, w in enumerate(windows):
        n = len(w.ids)
        ids[row, :n] = torch.tensor(w.ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(w.labels)
    real = sum(len(w.ids) for w in windows)
    return Batch(ids, mask, torch.zeros_like(ids), labels, windows, real, ids.numel())


def epoch_batches(windows: list[Window], batch_size: int, sort_by_length: bool,
                  rng: random.Random) -> list[list[Window]]:
    order = windows[:]
    rng.shuffle(order)
    if not sort_by_length:
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    batches = []
    chunk = CHUNK_BATCHES * batch_size
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda w: len(w.ids))
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


def build_model(model_dir: Path, config: dict, num_labels: int):
    import torch
    from torch import nn
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    encoder, info = AutoModel.from_pretrained(
        str(model_dir), dtype=torch.float32, add_pooling_layer=False, output_loading_info=True)
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        log(f"warning: {len(missing)} encoder weights not in the checkpoint (randomly "
            f"initialised): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")

    class Tagger(nn.Module):
        """Encoder, then dropout -> Linear(h, h) -> GELU -> Linear(h, labels) per wordpiece."""

        def __init__(self) -> None:
            super().__init__()
            hidden = int(config["hidden_size"])
            self.encoder = encoder
            self.dropout = nn.Dropout(float(config.get("hidden_dropout_prob", 0.1)))
            self.dense = nn.Linear(hidden, hidden)
            self.activation = nn.GELU(approximate="none")
            self.classifier = nn.Linear(hidden, num_labels)
            std = float(config.get("initializer_range", 0.02))
            for layer in (self.dense, self.classifier):
                nn.init.normal_(layer.weight, mean=0.0, std=std)
                nn.init.zeros_(layer.bias)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            return self.classifier(self.activation(self.dense(self.dropout(hidden))))

    return Tagger()


def parameter_groups(model, weight_decay: float) -> list[dict]:
    """Weight decay on everything except biases and LayerNorm weights."""
    from torch import nn

    no_decay = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if name == "bias" or isinstance(module, nn.LayerNorm):
                no_decay.add(id(param))
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if id(p) not in no_decay], "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0}]


# --------------------------------------------------------------------------
# Evaluation: entity-level micro P/R/F1, seqeval's default (conlleval) mode
# --------------------------------------------------------------------------


def chunks(labels: list[str]) -> set[tuple[str, int, int]]:
    """(type, first, last) of every chunk, following conlleval (seqeval's default mode):
    the type is the text after 'B-' / 'I-'; an I- after O or after another type
    starts a chunk as B- would. E- and S- (IOBES) are handled the same way."""
    out = set()
    prev_tag, prev_type, begin = "O", "", 0
    for i, label in enumerate(labels + ["O"]):
        tag, typ = label[0], label[1:].split("-", 1)[-1] or "_"
        end = (prev_tag in "ES"
               or (prev_tag in "BI" and tag in "BSO")
               or (prev_tag not in "O." and prev_type != typ))
        start = (tag in "BS"
                 or (prev_tag in "ESO" and tag in "EI")
                 or (tag not in "O." and prev_type != typ))
        if end:
            out.add((prev_type, begin, i - 1))
        if start:
            begin = i
        prev_tag, prev_type = tag, typ
    return out


def score(gold: list[list[str]], pred: list[list[str]]) -> tuple[float, float, float]:
    correct = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        gc, pc = chunks(g), chunks(p)
        correct += len(gc & pc)
        n_gold += len(gc)
        n_pred += len(pc)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def evaluate(model, split: Split, labels: list[str], pad_id: int,
             device: str = "cpu") -> tuple[float, float, float]:
    import torch

    pred = [["O"] * len(s.words) for s in split.sentences]
    windows = sorted(split.windows, key=lambda w: len(w.ids))
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(windows), EVAL_BATCH_SIZE):
            batch = collate(windows[i:i + EVAL_BATCH_SIZE], pad_id)
            best = model(batch.input_ids.to(device), batch.attention_mask.to(device),
                         batch.token_type_ids.to(device)).argmax(-1).cpu()
            for row, w in enumerate(batch.windows):
                for word, j in zip(w.words, w.firsts):
                    pred[w.sentence][word] = labels[int(best[row, j])]
    model.train()
    return score([s.labels for s in split.sentences], pred)


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    if not args.model.is_dir():
        raise BenchError(f"model directory not found: {args.model} "
                         "(run `biotag fetch-model minilm`, or pass --model)")
    config = check_model_dir(args.model)
    if not args.data.is_dir():
        raise BenchError(f"data directory not found: {args.data}")
    data = {name: read_iob(args.data / f"{name}.tsv") for name in ("train", "devel", "test")}

    import torch
    import transformers
    from transformers import BertTokenizerFast, get_linear_schedule_with_warmup

    # Thread settings must precede any parallel work in torch.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda: PyTorch sees no CUDA device here")

    train_labels = {label for s in data["train"] for label in s.labels}
    labels = ["O"] + sorted(train_labels - {"O"})
    label_ids = {label: i for i, label in enumerate(labels)}
    log(f"labels: {', '.join(labels)}")

    # from_pretrained reads vocab.txt and tokenizer_config.json; with transformers 5,
    # BertTokenizerFast(vocab_file=...) silently builds an empty vocabulary (all [UNK]).
    tokenizer = BertTokenizerFast.from_pretrained(str(args.model),
                                                  do_lower_case=read_do_lower_case(args.model))
    pad_id = tokenizer.pad_token_id
    splits = {name: encode(tokenizer, sentences, label_ids, args.max_length, name)
              for name, sentences in data.items()}

    try:
        model = build_model(args.model, config, len(labels))
    except Exception as exc:  # noqa: BLE001 - report any load failure in one line
        traceback.print_exc(file=sys.stderr)
        raise BenchError(f"cannot load model from {args.model}: {one_line(exc)}") from None
    model.to(args.device)
    model.train()

    batches_per_epoch = math.ceil(len(splits["train"].windows) / args.batch_size)
    total_steps = args.epochs * batches_per_epoch
    warmup_steps = math.ceil(args.warmup * total_steps)
    optimizer = torch.optim.AdamW(parameter_groups(model, args.weight_decay), lr=args.lr,
                                  betas=(0.9, 0.999), eps=1e-8)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    log(f"{args.epochs} epochs x {batches_per_epoch} batches of {args.batch_size}; "
        f"{warmup_steps} warm-up steps; {torch.get_num_threads()} threads"
        + (f"; stopping after {args.max_steps} steps" if args.max_steps else ""))

    steps = real_tokens = padded_tokens = 0
    train_seconds = 0.0
    devel_f1: list[float] = []
    stop = False
    for epoch in range(1, args.epochs + 1):
        # Batches are built (and padded) before the clock starts.
        batches = [collate(b, pad_id) for b in
                   epoch_batches(splits["train"].windows, args.batch_size, args.sort_by_length, rng)]
        loss_sum, epoch_start_steps = 0.0, steps
        for batch in batches:
            t0 = time.perf_counter()
            logits = model(batch.input_ids.to(args.device), batch.attention_mask.to(args.device),
                           batch.token_type_ids.to(args.device))
            loss = loss_fn(logits.view(-1, logits.size(-1)), batch.labels.view(-1).to(args.device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = loss.item()  # also waits for the step to finish
            train_seconds += time.perf_counter() - t0

            steps += 1
            real_tokens += batch.real_tokens
            padded_tokens += batch.padded_tokens
            loss_sum += loss_value
            if steps == 1 or steps % 20 == 0:
                log(f"epoch {epoch} step {steps}/{total_steps}: loss {loss_value:.4f}, "
                    f"lr {scheduler.get_last_lr()[0]:.2e}, "
                    f"{real_tokens / train_seconds:.0f} tokens/s")
            if args.max_steps and steps >= args.max_steps:
                stop = True
                break
        t0 = time.perf_counter()
        p, r, f1 = evaluate(model, splits["devel"], labels, pad_id, args.device)
        devel_f1.append(f1)
        log(f"epoch {epoch}: mean loss {loss_sum / max(1, steps - epoch_start_steps):.4f}; "
            f"devel P {p:.4f} R {r:.4f} F1 {f1:.4f} ({time.perf_counter() - t0:.1f} s)")
        if stop:
            break

    t0 = time.perf_counter()
    test_p, test_r, test_f1 = evaluate(model, splits["test"], labels, pad_id, args.device)
    log(f"test P {test_p:.4f} R {test_r:.4f} F1 {test_f1:.4f} ({time.perf_counter() - t0:.1f} s)")

    return {
        "model": str(args.model.resolve()),
        "data": str(args.data.resolve()),
        "epochs": args.epochs,
        "steps": steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "device": args.device,
        "max_length": args.max_length,
        "sort_by_length": args.sort_by_length,
        "labels": labels,
        "train_windows": len(splits["train"].windows),
        "train_seconds": round(train_seconds, 3),
        "real_tokens": real_tokens,
        "padded_tokens": padded_tokens,
        "tokens_per_second": round(real_tokens / train_seconds, 1),
        "padded_tokens_per_second": round(padded_tokens / train_seconds, 1),
        "devel_f1": [round(f, 6) for f in devel_f1],
        "test_precision": round(test_p, 6),
        "test_recall": round(test_r, 6),
        "test_f1": round(test_f1, 6),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
    }


def summary(report: dict) -> str:
    return "\n".join([
        f"model {report['model']}",
        f"data  {report['data']}",
        f"{report['steps']} steps, batch {report['batch_size']}, lr {report['lr']}, "
        f"seed {report['seed']}, {report['threads']} threads "
        f"(torch {report['torch_version']}, transformers {report['transformers_version']})",
        f"training: {report['train_seconds']:.1f} s, {report['real_tokens']} real tokens, "
        f"{report['tokens_per_second']:.0f} tokens/s "
        f"({report['padded_tokens_per_second']:.0f} padded tokens/s)",
        "devel F1 per epoch: " + ", ".join(f"{f:.4f}" for f in report["devel_f1"]),
        f"test P {report['test_precision']:.4f} R {report['test_recall']:.4f} "
        f"F1 {report['test_f1']:.4f}",
    ])


def main(argv: list[str] | None = None) -> int:
    return run_keeping_stdout("train_reference.py", parse_args, run,
                              lambda report, args: json.dumps(report, indent=2) if args.json else summary(report), argv)


if __name__ == "__main__":
    sys.exit(main())
