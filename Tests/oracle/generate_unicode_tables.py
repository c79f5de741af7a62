#!/usr/bin/env python3
"""Writes Sources/Tokenization/BertUnicodeTables.swift: what Hugging Face `tokenizers` does with
every Unicode scalar, measured on the pinned `tokenizers` itself rather than read from a Unicode
database.

`tokenizers` 0.22.2 does not use one Unicode version: its general categories come from the crate
unicode_categories 0.1.1, whose tables are Unicode 8.0 (U+08D4, a 9.0 mark, is neither stripped
nor anything else); NFD and combining classes from unicode-normalization-alignments 0.1.12, Unicode
9.0 (so U+08D4 is reordered as class 230 all the same); whitespace and lowercasing from the Rust
standard library it was compiled with (Unicode 17 for the 0.22.2 wheels: U+A7CE lowercases).
Swift's own tables are of yet another version, so the tokenizer reads these.

Each code point (surrogates excepted) is put through BertNormalizer one step at a time and through
BertPreTokenizer:
  - clean_text alone: removed (NUL, U+FFFD, Cc/Cf/Co of Unicode 8.0 except tab, LF, CR) or kept;
  - the pre-tokenizer on "a" + c + "b": split off and dropped (whitespace), isolated (punctuation);
  - handle_chinese_chars alone: surrounded by spaces or not;
  - NFD alone: the full canonical decomposition (Hangul syllables are checked against the
    algorithm and left out);
  - strip_accents alone on a scalar NFD leaves unchanged: removed means a nonspacing mark (Mn);
  - lowercase alone: the lowercase mapping;
  - the canonical combining class, from how NFD orders the scalar against marks of each class.

Usage: .build/oracle-venv/bin/python Tests/oracle/generate_unicode_tables.py > Sources/Tokenization/BertUnicodeTables.swift
"""

import sys
import unicodedata

import tokenizers
from tokenizers import normalizers, pre_tokenizers

PINNED_TOKENIZERS = "0.22.2"

REMOVED, WHITESPACE, PUNCTUATION, CHINESE, NONSPACING_MARK, DECOMPOSES, LOWERCASES = (1 << i for i in range(7))
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def scalars():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)


def hangul_decomposition(cp):
    index = cp - HANGUL_FIRST
    lead, vowel, trail = 0x1100 + index // 588, 0x1161 + (index % 588) // 28, 0x11A7 + index % 28
    return [lead, vowel] + ([trail] if trail != 0x11A7 else [])


def measure():
    def bert(clean=False, chinese=False, strip=False, lower=False):
        return normalizers.BertNormalizer(clean_text=clean, handle_chinese_chars=chinese,
                                          strip_accents=strip, lowercase=lower)

    clean, chinese, strip, lower = bert(clean=True), bert(chinese=True), bert(strip=True), bert(lower=True)
    nfd = normalizers.NFD()
    pre = pre_tokenizers.BertPreTokenizer()

    flags, decompositions, lowercases = {}, {}, {}
    for cp in scalars():
        c = chr(cp)
        value = 0
        cleaned = clean.normalize_str(c)
        if cleaned == "":
            value |= REMOVED
        else:
            assert cleaned in (c, " "), hex(cp)
        pieces = len(pre.pre_tokenize_str("a" + c + "b"))
        value |= {1: 0, 2: WHITESPACE, 3: PUNCTUATION}[pieces]
        assert cleaned == c or (cleaned == " " and value & WHITESPACE) or value & REMOVED, hex(cp)
        isolated = chinese.normalize_str(c)
        assert isolated in (c, " " + c + " "), hex(cp)
        if isolated != c:
            value |= CHINESE
        decomposed = nfd.normalize_str(c)
        if decomposed != c:
            if HANGUL_FIRST <= cp <= HANGUL_LAST:
                assert [ord(d) for d in decomposed] == hangul_decomposition(cp), hex(cp)
            else:
                value |= DECOMPOSES
                decompositions[cp] = [ord(d) for d in decomposed]
        else:
            stripped = strip.normalize_str(c)
            assert stripped in ("", c), hex(cp)
            if stripped == "":
                value |= NONSPACING_MARK
        lowered = lower.normalize_str(c)
        if lowered != c:
            value |= LOWERCASES
            lowercases[cp] = [ord(d) for d in lowered]
        flags[cp] = value
    assert not any(flags[cp] & DECOMPOSES for cp in range(HANGUL_FIRST, HANGUL_LAST + 1))
    return flags, decompositions, lowercases


def combining_classes(flags, decompositions):
    """The canonical combining class that NFD sorts by: c has class > k exactly when NFD moves a
    mark of class k in front of it. Reference marks are the first scalar of each class in Python's
    tables (classes of assigned characters never change between Unicode versions)."""
    nfd = normalizers.NFD()

    def moves(first, second):
        return nfd.normalize_str(chr(first) + chr(second)) == chr(second) + chr(first)

    candidates = [cp for cp in scalars() if cp not in decompositions]
    nonstarters = [cp for cp in candidates if moves(cp, 0x0334) or moves(0x0301, cp)]
    references = {}
    for cp in nonstarters:
        references.setdefault(unicodedata.combining(chr(cp)), cp)
    references.pop(0, None)
    classes = sorted(references)
    result = {}
    for cp in nonstarters:
        below = [k for k in classes if references[k] != cp and moves(cp, references[k])]
        result[cp] = next(k for k in classes if k > max(below, default=0))
    for k, cp in references.items():
        assert result[cp] == k, (hex(cp), k)
    return result


def runs(table):
    """Maximal runs of equal values: [(start, value)], the first starting at 0."""
    out = []
    for cp in range(0x110000):
        value = table.get(cp, 0)
        if not out or out[-1][1] != value:
            out.append((cp, value))
    return out


def lowercase_tables(lowercases):
    """Single-scalar mappings as runs (first, last, stride, delta): every stride-th scalar from
    first to last maps to itself + delta, runs not overlapping; longer mappings listed apart."""
    single = {cp: mapped[0] - cp for cp, mapped in lowercases.items() if len(mapped) == 1}
    expansions = {cp: mapped for cp, mapped in lowercases.items() if len(mapped) > 1}
    result = []
    keys = sorted(single)
    index = 0
    while index < len(keys):
        first, delta = keys[index], single[keys[index]]
        best = (first, 1)
        for stride in (1, 2):
            last = first
            while single.get(last + stride) == delta and not (stride == 2 and last + 1 in single):
                last += stride
            if last > best[0]:
                best = (last, stride)
        result.append((first, best[0], best[1], delta))
        while index < len(keys) and keys[index] <= best[0]:
            index += 1
    for (first, last, stride, delta), following in zip(result, result[1:] + [(0x110000, 0, 0, 0)]):
        assert last < following[0]
        for cp in range(first, last + 1):
            assert single.get(cp) == (delta if (cp - first) % stride == 0 else None), hex(cp)
    assert sum(len(range(f, l + 1, s)) for f, l, s, _ in result) == len(single)
    return result, expansions


def swift_array(name, kind, values, doc, per_line=12):
    lines = [f"    /// {doc}", f"    static let {name}: [{kind}] = ["]
    for i in range(0, len(values), per_line):
        chunk = values[i:i + per_line]
        lines.append("        " + ", ".join(f"0x{v:X}" if v >= 0 else f"-0x{-v:X}" for v in chunk) + ",")
    lines.append("    ]")
    return "\n".join(lines)


def main():
    if tokenizers.__version__ != PINNED_TOKENIZERS:
        sys.exit(f"expected tokenizers {PINNED_TOKENIZERS}, found {tokenizers.__version__}")
    flags, decompositions, lowercases = measure()
    classes = combining_classes(flags, decompositions)
    properties = {cp: flags[cp] | (classes.get(cp, 0) << 8) for cp in flags}
    property_runs = runs(properties)

    decomposition_keys = sorted(decompositions)
    decomposition_starts, decomposition_scalars = [], []
    for cp in decomposition_keys:
        decomposition_starts.append(len(decomposition_scalars))
        decomposition_scalars.extend(decompositions[cp])
    decomposition_starts.append(len(decomposition_scalars))

    lowercase_runs, lowercase_expansions = lowercase_tables(lowercases)
    expansions = "".join(f"        0x{cp:X}: [{', '.join(f'0x{d:X}' for d in mapped)}],\n"
                         for cp, mapped in sorted(lowercase_expansions.items()))
    run_scalars = sum(len(range(first, last + 1, stride)) for first, last, stride, _ in lowercase_runs)
    flag_names = [("removedByCleanText", REMOVED), ("whitespace", WHITESPACE), ("punctuation", PUNCTUATION),
                  ("chineseCharacter", CHINESE), ("nonspacingMark", NONSPACING_MARK), ("decomposes", DECOMPOSES),
                  ("lowercases", LOWERCASES)]
    sections = [
        "\n".join(f"    static let {name}: UInt16 = 0x{bit:02X}" for name, bit in flag_names),
        swift_array("runStarts", "UInt32", [start for start, _ in property_runs],
                    f"First scalar of each run of scalars with equal properties ({len(property_runs)} runs)."),
        swift_array("runProperties", "UInt16", [value for _, value in property_runs],
                    "Properties of each run: the flags above, and the canonical combining class << 8."),
        swift_array("decompositionKeys", "UInt32", decomposition_keys,
                    f"Scalars with a canonical decomposition, Hangul syllables excepted ({len(decomposition_keys)})."),
        swift_array("decompositionStarts", "UInt16", decomposition_starts,
                    "Where each key's decomposition begins in `decompositionScalars`; one more entry ends the last."),
        swift_array("decompositionScalars", "UInt32", decomposition_scalars,
                    "Full canonical decompositions, each in canonical order."),
        swift_array("lowercaseRuns", "Int32", [n for run in lowercase_runs for n in run],
                    f"Single-scalar lowercase mappings as runs (first, last, stride, delta), not overlapping: "
                    f"every stride-th scalar from first to last lowercases to itself + delta "
                    f"({len(lowercase_runs)} runs, {run_scalars} scalars).", per_line=8),
        f"    /// Lowercase mappings longer than one scalar.\n"
        f"    static let lowercaseExpansions: [UInt32: [UInt32]] = [\n{expansions}    ]",
    ]
    version = tokenizers.__version__
    print(f"""// Generated by Tests/oracle/generate_unicode_tables.py from Hugging Face tokenizers {version}.
// Do not edit: run `.build/oracle-venv/bin/python Tests/oracle/generate_unicode_tables.py >
// Sources/Tokenization/BertUnicodeTables.swift` after changing the pinned tokenizers version.

/// What Hugging Face `tokenizers` {version} makes of each Unicode scalar in BERT's normalizer and
/// pre-tokenizer, measured scalar by scalar on the library itself. Its general categories are
/// Unicode 8.0 (crate unicode_categories 0.1.1), its NFD and combining classes Unicode 9.0
/// (unicode-normalization-alignments 0.1.12), its whitespace and lowercasing those of the Rust
/// standard library it was built with (Unicode 17). Swift's own tables (Unicode 17 in Swift 6.3)
/// disagree on characters assigned since 8.0 and on a few whose category changed since.
/// `BertScalarProperties` reads these tables.
enum BertUnicodeTables {{
""" + "\n\n".join(sections) + "\n}")


if __name__ == "__main__":
    main()
