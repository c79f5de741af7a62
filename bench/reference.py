#!/usr/bin/env python3
"""Reference encoder benchmark for `biotag bench encode`.

Times the forward pass of a Hugging Face BERT model (the encoder only: no
tokenization, no pooling, no classifier head) on CPU with PyTorch and with
ONNX Runtime, on the sentences of an IOB file, so that biotag's own encoder
can be compared against established runtimes on the same inputs.

    python bench/reference.py --model DIR --sentences FILE.tsv --threads N \
        --batch-sizes 1,32 [--limit K] [--warmup W] \
        [--runtimes torch,torch-int8,onnxruntime,onnxruntime-int8,torch-tasks] [--tasks 8]

Method
  * Sentences: blank-line separated blocks of `token<TAB>label` lines; the
    text of a sentence is its tokens joined by single spaces. `--limit K`
    keeps the first K sentences.
  * Tokenization (BertTokenizerFast over DIR/vocab.txt, with [CLS]/[SEP],
    truncated to the model's max_position_embeddings) happens once, up front,
    and is not timed. Input tensors are also built before the clock starts:
    only the model call is timed.
  * Batch 1: each sentence alone, unpadded; per-sentence latencies give the
    mean, p50 and p99.
  * Batch B > 1: sentences are sorted by token count, cut into consecutive
    batches of B, and each batch is padded to its own longest sentence (with
    an attention mask). ms_per_sentence = total model time / sentences.
  * Before each timed configuration, a warm-up runs W sentences' worth of
    that configuration's inputs (spread evenly over the length range).
  * torch: eval mode, fp32, torch.inference_mode(), torch.set_num_threads(N).
  * torch-int8: the same model after torch.ao.quantization.quantize_dynamic
    (every nn.Linear: qint8 weights, activations quantized per call), with
    the x86 quantized engine.
  * onnxruntime: the model is exported to ONNX once (cached under
    bench/.cache, see --cache-dir) and also fused by onnxruntime's BERT
    optimizer; per batch size the faster of the two graphs on a quick check
    is timed (see --ort-optimizer). CPUExecutionProvider, ORT_ENABLE_ALL,
    intra-op threads N, inter-op threads 1.
  * onnxruntime-int8: onnxruntime.quantization.quantize_dynamic (QInt8
    weights per channel, uint8 activations, the MatMul/Attention/Gather ops
    onnxruntime quantizes by default) applied to both graphs, cached; the
    faster on a quick check is timed, as for fp32.
  * torch-tasks: the multi-task baseline: --tasks separate
    BertForTokenClassification models (3 labels each; the encoder weights
    from DIR, each model its own copy) run one after another on every
    sentence at batch 1, in fp32; ms_per_sentence is for all of them.
  * Memory: for each runtime, the peak resident set while it loads and runs
    (Linux VmHWM, reset before it starts) minus the resident set just before
    it starts, so the interpreter and libraries loaded earlier do not count.
    size_mib: the model file that runtime reads (safetensors, ONNX, or the
    quantized torch state_dict as torch.save writes it).

Output: a single JSON object on stdout:
    {"threads": N, "sentences": K, "versions": {...}, "model": ..., "cpu": ...,
     "instruction_sets": ["AVX2", ...], "truncated_sentences": n,
     "results": [{"runtime": "torch" | "onnxruntime", "batch": B,
                  "ms_per_sentence": x, "p50_ms": x, "p99_ms": x,  (null unless B == 1)
                  "sentences_per_second": x, "tokens": n, "padded_tokens": n,
                  "total_seconds": x, "notes": "..."}, ...]}
All logging, and anything the libraries print, goes to stderr. Usage errors,
a missing model directory or an unreadable sentence file give a one-line
message on stderr and exit status 2; other failures a traceback, a last
one-line message and exit status 1.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

# Everything is local; never let transformers / huggingface_hub try the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EXIT_USAGE = 2
RUNTIMES = ("torch", "torch-int8", "onnxruntime", "onnxruntime-int8", "torch-tasks")
# ONNX opset for the export; 17 is the first with LayerNormalization and is
# well supported by onnxruntime's transformer fusions.
ONNX_OPSET = 17


class BenchError(Exception):
    """An error reported to the caller as one line on stderr, exit status 2."""


def log(msg: str) -> None:
    print(f"[reference] {msg}", file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    """'Type: first line of the message' for one-line error reports."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as a single line (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BenchError(f"usage: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _batch_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if part:
            sizes.append(_positive_int(part))
    if not sizes:
        raise argparse.ArgumentTypeError("no batch sizes given")
    return list(dict.fromkeys(sizes))  # de-duplicate, keep order


def _runtimes(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    for name in names:
        if name not in RUNTIMES:
            raise argparse.ArgumentTypeError(
                f"unknown runtime {name!r} (choose from {', '.join(RUNTIMES)})")
    if not names:
        raise argparse.ArgumentTypeError("no runtimes given")
    return list(dict.fromkeys(names))


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(
        prog="reference.py",
        description="Time BERT encoder inference with PyTorch and ONNX Runtime on CPU.")
    p.add_argument("--model", required=True, type=Path,
                   help="Hugging Face BERT model directory (config.json, weights, vocab.txt)")
    p.add_argument("--sentences", required=True, type=Path,
                   help="IOB file: token<TAB>label per line, blank line between sentences")
    p.add_argument("--threads", required=True, type=_positive_int,
                   help="intra-op threads for both runtimes")
    p.add_argument("--batch-sizes", required=True, type=_batch_sizes,
                   help="comma-separated batch sizes, e.g. 1,32")
    p.add_argument("--ids", type=Path, default=None,
                   help="JSON file with the token ids of every sentence (a list of lists, [CLS]/[SEP] "
                        "included), as biotag tokenized them: both sides then run exactly the same inputs")
    p.add_argument("--limit", type=_positive_int, default=None,
                   help="use only the first K sentences")
    p.add_argument("--runtimes", type=_runtimes, default=["torch", "onnxruntime"],
                   help=f"comma-separated subset of: {','.join(RUNTIMES)} (default torch,onnxruntime)")
    p.add_argument("--tasks", type=_positive_int, default=8,
                   help="how many separate models torch-tasks runs per sentence (default 8)")
    p.add_argument("--warmup", type=_non_negative_int, default=20,
                   help="warm-up sentences before timing each configuration (default 20)")
    p.add_argument("--torch-attn", choices=("sdpa", "eager"), default="sdpa",
                   help="attention implementation for the torch runtime (default sdpa, "
                        "the faster one on CPU)")
    p.add_argument("--ort-optimizer", choices=("auto", "on", "off"), default="auto",
                   help="onnxruntime.transformers BERT fusion: auto = per batch size, "
                        "time whichever of the fused and plain graphs is faster on a "
                        "quick check (fused only if it matches torch); on = always the "
                        "fused graph (fail if fusion fails); off = plain graph only")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where exported ONNX models are cached (default "
                        "$BIOTAG_BENCH_CACHE, else bench/.cache)")
    return p.parse_args(argv)


# --------------------------------------------------------------------------
# Inputs: model directory, sentences, tokenization
# --------------------------------------------------------------------------

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def check_model_dir(model_dir: Path) -> dict:
    """Validate the model directory and return its parsed config.json."""
    if not model_dir.is_dir():
        raise BenchError(f"model directory not found: {model_dir}")
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise BenchError(f"no config.json in model directory {model_dir}")
    if not (model_dir / "vocab.txt").is_file():
        raise BenchError(f"no vocab.txt in model directory {model_dir}")
    if not any((model_dir / name).is_file() for name in WEIGHT_FILES):
        raise BenchError(f"no model.safetensors in model directory {model_dir}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read {config_path}: {exc}") from None
    if not isinstance(config, dict):
        raise BenchError(f"{config_path} is not a JSON object")
    if config.get("model_type") != "bert":
        raise BenchError(f"{config_path}: model_type is {config.get('model_type')!r}, "
                         "expected 'bert'")
    return config


def read_sentences(path: Path, limit: int | None) -> list[str]:
    """Read an IOB file into sentence texts (tokens joined by single spaces)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"sentence file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read sentence file {path}: {exc}") from None

    sentences: list[str] = []
    tokens: list[str] = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            if tokens:
                sentences.append(" ".join(tokens))
                tokens = []
                if limit is not None and len(sentences) >= limit:
                    break
            continue
        if line.startswith("-DOCSTART-"):  # CoNLL document separator
            continue
        token, tab, _label = line.partition("\t")
        if not tab or not token.strip():
            raise BenchError(f"{path}:{lineno}: expected 'token<TAB>label', got {line[:60]!r}")
        tokens.append(token.strip())
    if tokens and (limit is None or len(sentences) < limit):
        sentences.append(" ".join(tokens))
    if not sentences:
        raise BenchError(f"no sentences in {path}")
    return sentences


def read_do_lower_case(model_dir: Path) -> bool:
    """do_lower_case from tokenizer_config.json, defaulting to True."""
    path = model_dir / "tokenizer_config.json"
    if path.is_file():
        try:
            value = json.loads(path.read_text(encoding="utf-8")).get("do_lower_case")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            value = None
        if isinstance(value, bool):
            return value
    return True


@dataclass
class Encoded:
    """Token ids of every sentence (with [CLS]/[SEP]), in file order."""
    ids: list[list[int]]
    truncated: int  # sentences cut to max_len

    @property
    def total_tokens(self) -> int:
        return sum(len(x) for x in self.ids)


def tokenize(model_dir: Path, sentences: list[str], max_len: int) -> Encoded:
    from transformers import BertTokenizerFast

    # from_pretrained reads vocab.txt and tokenizer_config.json; with transformers 5,
    # BertTokenizerFast(vocab_file=...) silently builds an empty vocabulary (all [UNK]).
    tokenizer = BertTokenizerFast.from_pretrained(str(model_dir), do_lower_case=read_do_lower_case(model_dir))
    full = tokenizer(sentences, add_special_tokens=True)["input_ids"]
    truncated = sum(1 for ids in full if len(ids) > max_len)
    if truncated:
        # Keep [CLS] ... [SEP] framing when cutting long sentences.
        sep = tokenizer.sep_token_id
        full = [ids if len(ids) <= max_len else ids[: max_len - 1] + [sep] for ids in full]
    return Encoded(ids=full, truncated=truncated)


# --------------------------------------------------------------------------
# Work units: what one timed model call gets
# --------------------------------------------------------------------------


@dataclass
class Unit:
    """One model call: int64 arrays of shape (batch, seq_len)."""
    input_ids: "np.ndarray"
    attention_mask: "np.ndarray"
    token_type_ids: "np.ndarray"
    sentences: int


def make_units(enc: Encoded, batch: int) -> list[Unit]:
    """Batch 1: every sentence alone, unpadded, in file order. Batch B > 1:
    sentences sorted by length, consecutive groups of B, each padded to the
    longest sentence in its group (pad id 0, attention mask 0)."""
    import numpy as np

    if batch == 1:
        order = list(range(len(enc.ids)))
    else:
        order = sorted(range(len(enc.ids)), key=lambda i: (len(enc.ids[i]), i))
    units = []
    for start in range(0, len(order), batch):
        group = [enc.ids[i] for i in order[start:start + batch]]
        width = max(len(ids) for ids in group)
        input_ids = np.zeros((len(group), width), dtype=np.int64)
        mask = np.zeros((len(group), width), dtype=np.int64)
        for row, ids in enumerate(group):
            input_ids[row, :len(ids)] = ids
            mask[row, :len(ids)] = 1
        units.append(Unit(input_ids, mask, np.zeros_like(input_ids), len(group)))
    return units


def spread(items: list, sentences: int, batch: int) -> list:
    """About `sentences` sentences' worth of `items` (calls of `batch`
    sentences each; at least one call unless `sentences` is 0), taken evenly
    over the list: for batches it is length-sorted, so several shapes are
    seen. Used for warm-ups and quick checks."""
    if sentences <= 0 or not items:
        return []
    count = min(len(items), max(1, math.ceil(sentences / batch)))
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def time_calls(run, inputs: list, warmup: list) -> list[float]:
    """Call `run` on every warm-up input, then time `run(x)` for every x in
    `inputs`; returns seconds per call. The garbage collector is paused while
    timing."""
    for x in warmup:
        run(x)
    times = []
    gc.collect()
    gc.disable()
    try:
        for x in inputs:
            t0 = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return times


def summarize(runtime: str, batch: int, units: list[Unit], times: list[float],
              enc: Encoded, notes: str) -> dict:
    import numpy as np

    n_sentences = sum(u.sentences for u in units)
    total = float(sum(times))
    result = {
        "runtime": runtime,
        "batch": batch,
        "ms_per_sentence": round(total * 1000.0 / n_sentences, 4),
        "p50_ms": None,
        "p99_ms": None,
        "sentences_per_second": round(n_sentences / max(total, 1e-9), 3),
        "tokens": enc.total_tokens,
        "padded_tokens": int(sum(u.input_ids.size for u in units)),
        "total_seconds": round(total, 4),
        "notes": notes,
    }
    if batch == 1:
        ms = np.asarray(times) * 1000.0
        result["p50_ms"] = round(float(np.percentile(ms, 50)), 4)
        result["p99_ms"] = round(float(np.percentile(ms, 99)), 4)
    return result


# --------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------


def load_torch_model(model_dir: Path, attn: str):
    """BertModel in eval mode, fp32, without the pooler (the benchmark times
    the encoder's last_hidden_state only). Checkpoints with or without the
    `bert.` tensor-name prefix both load; encoder weights missing from the
    checkpoint are reported on stderr."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bars on stderr
    model, info = AutoModel.from_pretrained(
        str(model_dir), attn_implementation=attn, dtype=torch.float32,
        add_pooling_layer=False, output_loading_info=True)
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        log(f"warning: {len(missing)} weights not in the checkpoint (randomly "
            f"initialised): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    model.eval()
    return model


def bench_torch(model, enc: Encoded, batch_sizes: list[int], warmup: int,
                attn: str, runtime: str = "torch", precision: str = "fp32") -> list[dict]:
    import torch

    results = []
    for batch in batch_sizes:
        units = make_units(enc, batch)
        # Tensors are built before the clock starts (from_numpy shares memory).
        tensors = [(torch.from_numpy(u.input_ids), torch.from_numpy(u.attention_mask),
                    torch.from_numpy(u.token_type_ids)) for u in units]

        def run(inputs) -> None:
            ids, mask, types = inputs
            model(input_ids=ids, attention_mask=mask, token_type_ids=types)

        log(f"{runtime} batch {batch}: {len(units)} calls")
        with torch.inference_mode():
            times = time_calls(run, tensors, spread(tensors, warmup, batch))
        notes = (f"torch {torch.__version__}, BertModel without pooler, {precision}, eval, inference_mode, "
                 f"attn_implementation={attn}, intra-op threads {torch.get_num_threads()}")
        if precision == "int8":
            notes += (f"; torch.ao.quantization.quantize_dynamic(nn.Linear, qint8), "
                      f"engine {torch.backends.quantized.engine}")
        if batch > 1:
            notes += "; length-sorted batches padded to their own max length"
        results.append(summarize(runtime, batch, units, times, enc, notes))
    return results


def quantize_torch(model):
    """PyTorch's dynamic int8 quantization of every nn.Linear (a new model)."""
    import copy

    import torch
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def torch_state_size(model) -> int:
    """Bytes of the model's state_dict as torch.save writes it."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def bench_torch_tasks(model_dir: Path, enc: Encoded, warmup: int, attn: str, tasks: int) -> dict:
    """`tasks` separate BertForTokenClassification models (3 labels), each sentence through
    all of them at batch 1: the cost of one model per entity type."""
    import torch
    from transformers import BertForTokenClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # the heads are new: no "newly initialized" warnings
    models = []
    for _ in range(tasks):
        model = BertForTokenClassification.from_pretrained(
            str(model_dir), num_labels=3, attn_implementation=attn, dtype=torch.float32)
        models.append(model.eval())
    units = make_units(enc, 1)
    tensors = [(torch.from_numpy(u.input_ids), torch.from_numpy(u.attention_mask),
                torch.from_numpy(u.token_type_ids)) for u in units]

    def run(inputs) -> None:
        ids, mask, types = inputs
        for model in models:
            model(input_ids=ids, attention_mask=mask, token_type_ids=types)

    log(f"torch-tasks: {len(units)} sentences x {tasks} models")
    with torch.inference_mode():
        times = time_calls(run, tensors, spread(tensors, max(1, warmup // tasks), 1))
    notes = (f"torch {torch.__version__}, {tasks} separate BertForTokenClassification models "
             f"(3 labels each) per sentence, fp32, eval, inference_mode, attn_implementation={attn}, "
             f"intra-op threads {torch.get_num_threads()}")
    return summarize("torch-tasks", 1, units, times, enc, notes)


# --------------------------------------------------------------------------
# ONNX export and onnxruntime
# --------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """$BIOTAG_BENCH_CACHE, else bench/.cache next to this script (git-ignored)."""
    if os.environ.get("BIOTAG_BENCH_CACHE"):
        return Path(os.environ["BIOTAG_BENCH_CACHE"])
    return Path(__file__).resolve().parent / ".cache"


def cache_key(model_dir: Path) -> str:
    """Key for the exported model: directory path, plus name/size/mtime of its
    config and weight files (a re-saved model gets a new key), plus the
    exporter versions and opset."""
    import torch

    parts = [str(model_dir.resolve()), f"torch={torch.__version__}", f"opset={ONNX_OPSET}",
             f"dir_mtime={model_dir.stat().st_mtime_ns}"]
    for name in ("config.json",) + WEIGHT_FILES:
        path = model_dir / name
        if path.is_file():
            st = path.stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def last_hidden_state_module(model):
    """Wrap `model` in an nn.Module with positional inputs that returns only
    last_hidden_state, so the exported graph has exactly one output."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    return LastHiddenState(model).eval()


def export_onnx(model_dir: Path, path: Path) -> str:
    """Export BertModel (eager attention, the op pattern onnxruntime's fusions
    recognise) to `path` with dynamic batch and sequence axes; returns a
    description of the exporter used."""
    import torch

    model = load_torch_model(model_dir, "eager")
    wrapper = last_hidden_state_module(model)
    example = (torch.ones(2, 8, dtype=torch.int64), torch.ones(2, 8, dtype=torch.int64),
               torch.zeros(2, 8, dtype=torch.int64))
    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with torch.inference_mode(False), torch.no_grad():
            exporter = _export(wrapper, example, inputs, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left over when the export failed
    return exporter


def _export(wrapper, example, inputs: list[str], dest: Path) -> str:
    """torch.onnx.export with dynamic (batch, sequence) axes; returns which
    exporter was used."""
    import torch

    try:
        # The TorchScript-based exporter (dynamo=False) produces the graph
        # that onnxruntime.transformers' BERT fusions (Attention,
        # EmbedLayerNormalization) are written against; the torch.export
        # one (the default since torch 2.9) gets no attention fusion.
        torch.onnx.export(
            wrapper, example, str(dest), dynamo=False, opset_version=ONNX_OPSET,
            input_names=inputs, output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "sequence"}
                          for name in inputs + ["last_hidden_state"]},
            do_constant_folding=True)
        return f"TorchScript exporter, opset {ONNX_OPSET}"
    except Exception:  # noqa: BLE001 - e.g. a torch without the legacy exporter
        traceback.print_exc(file=sys.stderr)
        log("TorchScript export failed; trying the torch.export-based exporter")
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    torch.onnx.export(
        wrapper, example, str(dest), dynamo=True, external_data=False,
        input_names=inputs, output_names=["last_hidden_state"],
        dynamic_shapes={name: {0: batch, 1: seq} for name in inputs})
    return "torch.export-based exporter"


def fuse_onnx(src: Path, dst: Path, config: dict) -> dict:
    """Run onnxruntime's BERT optimizer (Attention, SkipLayerNormalization,
    BiasGelu, EmbedLayerNormalization fusions); returns fused-op counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(src), model_type="bert",
                               num_heads=int(config["num_attention_heads"]),
                               hidden_size=int(config["hidden_size"]),
                               opt_level=0)  # fusions only; ORT does the rest at load
    stats = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
    optimized.save_model_to_file(str(tmp))
    os.replace(tmp, dst)
    return stats


@dataclass
class OnnxModels:
    plain: Path            # the export as is (ORT applies its own graph optimizations)
    exporter: str          # how it was exported
    fused: Path | None     # after onnxruntime.transformers' BERT fusions, if they ran
    fused_ops: dict        # fused operator counts, e.g. {"Attention": 12, ...}
    fuse_error: str        # one line, when the fusion step failed


def prepare_onnx(model_dir: Path, config: dict, cache_dir: Path, want_fused: bool) -> OnnxModels:
    """Export (and fuse) the model, or reuse an earlier run's files from the cache."""
    key_dir = cache_dir / cache_key(model_dir)
    key_dir.mkdir(parents=True, exist_ok=True)
    (key_dir / "source.txt").write_text(str(model_dir.resolve()) + "\n")
    plain, plain_meta = key_dir / "model.onnx", key_dir / "model.json"
    if plain.is_file() and plain_meta.is_file():
        log(f"using cached ONNX export {plain}")
        exporter = json.loads(plain_meta.read_text())["exporter"]
    else:
        log(f"exporting ONNX model to {plain}")
        exporter = export_onnx(model_dir, plain)
        plain_meta.write_text(json.dumps({"exporter": exporter}))
    models = OnnxModels(plain, exporter, None, {}, "")
    if not want_fused:
        return models

    fused, fused_meta = key_dir / "model.bert-fused.onnx", key_dir / "model.bert-fused.json"
    if fused.is_file() and fused_meta.is_file():
        log(f"using cached fused ONNX model {fused}")
        models.fused, models.fused_ops = fused, json.loads(fused_meta.read_text())
        return models
    log("fusing with onnxruntime.transformers.optimizer (model_type=bert)")
    try:
        models.fused_ops = fuse_onnx(plain, fused, config)
        models.fused = fused
        fused_meta.write_text(json.dumps(models.fused_ops))
    except Exception as exc:  # noqa: BLE001 - any failure means "no fusion"
        traceback.print_exc(file=sys.stderr)
        models.fuse_error = one_line(exc)
    return models


def ort_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), sess_options=opts,
                                providers=["CPUExecutionProvider"])


def ort_run(session, unit: Unit):
    return session.run(["last_hidden_state"], {
        "input_ids": unit.input_ids,
        "attention_mask": unit.attention_mask,
        "token_type_ids": unit.token_type_ids,
    })[0]


def max_abs_diff(a, b) -> float:
    import numpy as np
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


@dataclass
class OrtVariant:
    name: str         # "plain" or "fused"
    session: object   # onnxruntime.InferenceSession
    description: str  # for the notes
    diff: float       # max |difference| from torch's output on the probes


def pick_faster(variants: list[OrtVariant], sample: list[Unit]) -> tuple[OrtVariant, str]:
    """Time each variant on `sample` (one untimed pass each, then two timed
    rounds interleaved A B A B so that drift hits both; best round counts).
    Returns the faster variant and a note with the timings."""
    for v in variants:
        for unit in sample:
            ort_run(v.session, unit)
    best = {v.name: math.inf for v in variants}
    for _ in range(2):
        for v in variants:
            t0 = time.perf_counter()
            for unit in sample:
                ort_run(v.session, unit)
            best[v.name] = min(best[v.name], time.perf_counter() - t0)
    winner = min(variants, key=lambda v: best[v.name])
    n = sum(u.sentences for u in sample)
    timings = ", ".join(f"{v.name} {best[v.name] * 1e3 / n:.2f}" for v in variants)
    return winner, f"chosen by a quick check on {n} sentences: {timings} ms/sentence"


def quantize_onnx(src: Path) -> Path:
    """onnxruntime's dynamic int8 quantization of an ONNX model (QInt8 weights per channel,
    uint8 activations), cached beside it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst = src.with_name(src.stem + ".int8.onnx")
    if dst.is_file():
        log(f"using cached int8 model {dst}")
        return dst
    log(f"quantizing {src.name} with onnxruntime.quantization.quantize_dynamic")
    tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
    try:
        import onnx

        # The fused graph's com.microsoft ops have no ONNX shape inference: their outputs are
        # declared fp32 here so that the MatMuls after them can be quantized too.
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def bench_onnxruntime(model_dir: Path, config: dict, enc: Encoded, batch_sizes: list[int],
                      warmup: int, threads: int, optimizer_mode: str, cache_dir: Path,
                      reference, int8: bool = False) -> list[dict]:
    """Time the exported model with onnxruntime. With --ort-optimizer auto,
    the plain and the BERT-fused graphs are both candidates (when the fused
    one matches torch), and the faster one on a quick check is timed, per
    batch size: fusion tends to help batch 1 and can hurt padded batches.
    `reference(unit)` gives torch's last_hidden_state for the correctness
    check."""
    import numpy as np
    import onnxruntime as ort

    models = prepare_onnx(model_dir, config, cache_dir, want_fused=optimizer_mode != "off")
    runtime = "onnxruntime-int8" if int8 else "onnxruntime"
    if int8:
        models.plain = quantize_onnx(models.plain)
        if models.fused is not None:
            try:
                models.fused = quantize_onnx(models.fused)
            except Exception as exc:  # noqa: BLE001 - the plain graph still runs
                traceback.print_exc(file=sys.stderr)
                models.fused, models.fuse_error = None, f"int8 quantization failed: {one_line(exc)}"

    # Correctness probes with shapes unlike the export example: the first
    # sentence alone, and the two longest sentences as a padded batch (which
    # exercises the attention mask). Padding positions are not compared.
    longest = sorted(enc.ids, key=len)[-2:]
    probes = [make_units(Encoded(ids=enc.ids[:1], truncated=0), 1)[0],
              make_units(Encoded(ids=longest, truncated=0), 2)[0]]
    expected = [reference(p) for p in probes]

    def diff(session) -> float:
        worst = 0.0
        for probe, want in zip(probes, expected):
            mask = probe.attention_mask[..., None].astype(bool)
            got = ort_run(session, probe)
            worst = max(worst, max_abs_diff(np.where(mask, got, 0), np.where(mask, want, 0)))
        return worst

    plain_session = ort_session(models.plain, threads)
    quantized = "; onnxruntime.quantization.quantize_dynamic QInt8 per channel" if int8 else ""
    plain = OrtVariant("plain", plain_session,
                       f"ONNX export ({models.exporter}), no transformer fusion{quantized}",
                       diff(plain_session))
    log(f"plain ONNX model: max |diff| vs torch = {plain.diff:.2e}")
    candidates = [plain]
    rejected = ""  # why the fused model is not a candidate
    if optimizer_mode == "off":
        rejected = "--ort-optimizer off"
    elif models.fused is None:
        if optimizer_mode == "on":
            raise BenchError(f"onnxruntime BERT optimizer failed: {models.fuse_error}")
        rejected = f"optimizer failed: {models.fuse_error}"
    else:
        fused_session = ort_session(models.fused, threads)
        fused_ops = ", ".join(f"{k} x{v}" for k, v in sorted(models.fused_ops.items())) or "none"
        fused = OrtVariant("fused", fused_session,
                           f"ONNX export ({models.exporter}) + onnxruntime.transformers "
                           f"optimize_model(bert) fusions: {fused_ops}{quantized}", diff(fused_session))
        log(f"fused ONNX model: max |diff| vs torch = {fused.diff:.2e}; fused ops: {fused_ops}")
        if optimizer_mode == "on":
            candidates = [fused]
        elif fused.diff > max(1e-3, 10 * plain.diff) and not int8:
            rejected = f"fused model rejected: max |diff| vs torch {fused.diff:.1e}"
        else:
            candidates.append(fused)

    results = []
    for batch in batch_sizes:
        units = make_units(enc, batch)
        chosen, why = candidates[0], rejected
        if len(candidates) > 1:
            # About 40 sentences (at least 3 calls), spread over the lengths.
            sample = spread(units, max(40, 3 * batch), batch)
            chosen, why = pick_faster(candidates, sample)
            log(f"{runtime} batch {batch}: using the {chosen.name} model, {why}")
        log(f"{runtime} batch {batch}: {len(units)} calls")
        times = time_calls(lambda u: ort_run(chosen.session, u), units,
                           spread(units, warmup, batch))
        notes = (f"onnxruntime {ort.__version__}, CPUExecutionProvider, ORT_ENABLE_ALL, "
                 f"intra-op threads {threads}, inter-op 1; {chosen.description}"
                 f"{f' ({why})' if why else ''}; max |diff| vs torch {chosen.diff:.1e}")
        if batch > 1:
            notes += "; length-sorted batches padded to their own max length"
        result = summarize(runtime, batch, units, times, enc, notes)
        result["size_mib"] = round(chosen_path(models, chosen).stat().st_size / 2**20, 2)
        results.append(result)
    return results


def chosen_path(models: "OnnxModels", variant: "OrtVariant") -> Path:
    return models.fused if variant.name == "fused" else models.plain


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "tokenizers", "safetensors", "numpy",
                 "onnx", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def instruction_sets() -> list[str] | None:
    """The x86 extensions above SSE4.2 this process sees, as numpy reads them from CPUID (as
    ONNX Runtime and PyTorch do): shows whether a run was held to AVX2 (bench/avx2_only.c)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        return None
    wanted = ("AVX", "AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512VL", "AVX512VNNI", "AVX512BF16", "AVX512FP16")
    return [name for name in wanted if features.get(name)]


class MemoryPhase:
    """The resident memory a runtime adds: peak RSS while it loads and runs (Linux VmHWM,
    reset at the start through /proc/self/clear_refs) minus the RSS at the start. None where
    /proc does not offer it."""

    def __enter__(self):
        self.start = _status_kib("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.start = None
        self.mib = None
        return self

    def __exit__(self, *exc):
        peak = _status_kib("VmHWM")
        if self.start is not None and peak is not None:
            self.mib = round((peak - self.start) / 1024, 1)
        return False


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run(args: argparse.Namespace) -> dict:
    config = check_model_dir(args.model)
    sentences = read_sentences(args.sentences, args.limit)
    log(f"{len(sentences)} sentences from {args.sentences}")

    import torch

    # Thread settings must precede any parallel work in torch.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    max_len = int(config.get("max_position_embeddings", 512))
    if args.ids is not None:
        ids = json.loads(args.ids.read_text(encoding="utf-8"))
        if len(ids) != len(sentences):
            raise BenchError(f"{args.ids} has {len(ids)} sentences, {args.sentences} has {len(sentences)}")
        enc = Encoded(ids=ids, truncated=0)
    else:
        enc = tokenize(args.model, sentences, max_len)
    log(f"{enc.total_tokens} tokens (with [CLS]/[SEP]); {enc.truncated} truncated to {max_len}")

    model = None

    def fp32_model():
        nonlocal model
        if model is None:
            try:
                model = load_torch_model(args.model, args.torch_attn)
            except Exception as exc:  # noqa: BLE001 - report any load failure in one line
                traceback.print_exc(file=sys.stderr)
                raise BenchError(f"cannot load model from {args.model}: {one_line(exc)}") from None
        return model

    def reference(unit: Unit):
        with torch.inference_mode():
            return fp32_model()(input_ids=torch.from_numpy(unit.input_ids),
                                attention_mask=torch.from_numpy(unit.attention_mask),
                                token_type_ids=torch.from_numpy(unit.token_type_ids)
                                ).last_hidden_state.numpy()

    weights = next(args.model / name for name in WEIGHT_FILES if (args.model / name).is_file())
    cache_dir = args.cache_dir or default_cache_dir()
    results = []
    for runtime in args.runtimes:
        if runtime.startswith("onnxruntime"):
            fp32_model()  # the correctness reference, loaded before the memory phase
        with MemoryPhase() as memory:
            if runtime == "torch":
                measured = bench_torch(fp32_model(), enc, args.batch_sizes, args.warmup, args.torch_attn)
                size = weights.stat().st_size
            elif runtime == "torch-int8":
                quantized = quantize_torch(fp32_model())
                measured = bench_torch(quantized, enc, args.batch_sizes, args.warmup, args.torch_attn,
                                       runtime="torch-int8", precision="int8")
                size = torch_state_size(quantized)
                del quantized
            elif runtime == "torch-tasks":
                measured = [bench_torch_tasks(args.model, enc, args.warmup, args.torch_attn, args.tasks)]
                size = weights.stat().st_size * args.tasks
            else:
                measured = bench_onnxruntime(args.model, config, enc, args.batch_sizes, args.warmup,
                                             args.threads, args.ort_optimizer, cache_dir, reference,
                                             int8=runtime == "onnxruntime-int8")
                size = None
            gc.collect()
        for result in measured:
            result.setdefault("size_mib", round(size / 2**20, 2) if size else None)
            result["memory_mib"] = memory.mib
        results += measured

    return {
        "tokenizer": bench_tokenizer(args.model, sentences),
        "threads": args.threads,
        "sentences": len(sentences),
        "versions": versions(),
        "model": str(args.model.resolve()),
        "cpu": cpu_name(),
        "instruction_sets": instruction_sets(),
        "truncated_sentences": enc.truncated,
        "results": results,
    }


def bench_tokenizer(model_dir: Path, sentences: list[str]) -> dict:
    """Hugging Face's Rust tokenizer (BertTokenizerFast's backend) on one thread, one sentence
    per call, as biotag's tokenizer is timed: tokens (with [CLS]/[SEP]) per second."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from transformers import BertTokenizerFast

    backend = BertTokenizerFast.from_pretrained(str(model_dir), do_lower_case=read_do_lower_case(model_dir))._tokenizer
    for sentence in sentences[:50]:
        backend.encode(sentence)
    best = None
    for _ in range(3):
        start = time.perf_counter()
        tokens = sum(len(backend.encode(sentence).ids) for sentence in sentences)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None or elapsed < best else best
    return {"tokens": tokens, "tokens_per_second": tokens / best,
            "notes": "tokenizers (Rust) via Python, Tokenizer.encode per sentence, one thread, best of 3"}


def run_keeping_stdout(name, parse_args, run, render, argv) -> int:
    """Runs `render(run(parse_args(argv)), args)` with stdout kept for its result alone: file
    descriptor 1 (used by Python and by C/C++ libraries alike) points at stderr while the work
    runs, and the result goes to a saved copy of the original stdout."""
    sys.stdout.flush()
    real_stdout = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        report = run(args)
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - unexpected: traceback, then one line
        traceback.print_exc(file=sys.stderr)
        print(f"{name}: failed: {one_line(exc)}", file=sys.stderr, flush=True)
        return 1
    real_stdout.write(render(report, args) + "\n")
    real_stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_keeping_stdout("reference.py", parse_args, run, lambda report, _: json.dumps(report, indent=2), argv)


if __name__ == "__main__":
    sys.exit(main())
