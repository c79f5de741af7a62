#!/usr/bin/env python3
"""Reference WordPiece encodings of generated text, from Hugging Face `tokenizers`.

Generates `--count` random strings (fixed `--seed`) that mix ordinary ASCII words and whitespace
with code points of every Unicode general category: letters of many scripts, combining
sequences (Hebrew and Arabic points, marks of different combining classes), digits and numbers,
punctuation and symbols, every kind of separator, C0/C1 controls, format characters (ZWJ,
variation selectors, bidi marks, tags), private use, unassigned and noncharacter code points
(surrogates excluded: a Swift String cannot hold one), fullwidth forms, CJK (every ideograph
block, compatibility ideographs), emoji sequences, special tokens written in the text, and words
around the 100-character WordPiece limit. After them come about 1,800 sweep strings that put
every mark, punctuation, symbol, separator, control and format character, and every scalar that
decomposes or lowercases, in five contexts (see `sweep_strings`). Each string is encoded by
every `--tokenizer` (`Tokenizer.from_file`, add_special_tokens=True, no truncation, no padding)
and written as one JSON line {"vocabulary", "text", "input_ids", "offsets"}; offsets are
[start, end) in code points.
The first line is a header {"header": {...}} naming the versions and arguments.

Usage (the Makefile's `tokenizer-oracle` target does this in .build/oracle-venv, where
`pip install tokenizers==0.22.2` put the pinned version; any other version is refused):
    tokenizer_oracle.py [--seed 20240611] [--count 4000] --tokenizer uncased=PATH/tokenizer.json \
        --tokenizer cased=PATH/tokenizer.json --out .build/oracle/tokenizer_generated.jsonl

The generator draws by Python's own Unicode tables (`unicodedata.unidata_version`), which need not
be the versions that `tokenizers` was built with (categories of Unicode 8.0, NFD of 9.0): that is
intended, the strings only need to be varied; what counts is what `tokenizers` does with them.
"""

import argparse
import json
import os
import random
import sys
import unicodedata

PINNED_TOKENIZERS = "0.22.2"
DEFAULT_SEED = 20240611
DEFAULT_COUNT = 4000

WORDS = (
    "the of and in to with a is was for by patients cells protein gene mutation expression "
    "BRCA1 p53 TNF-alpha IL-6 HIV-1 COVID-19 SARS-CoV-2 mRNA DNA kinase receptor tumour tumor "
    "carcinoma leukaemia Ataxia telangiectasia insulin glucose cisplatin doxorubicin mice rats "
    "Escherichia coli Homo sapiens hepatocyte neuron mitochondria cytoplasm 5-fluorouracil "
    "12.5 mg/kg 3' 5' n=42 p<0.05 95% CI e.g. i.e. et al. vs. Dr. O'Brien naive cafe resume"
).split()

# Whitespace of every kind, including the controls that are White_Space and those that are not.
WHITESPACE = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e",
              "\x1f", "\x85", "\xa0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004",
              "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a", "\u2028", "\u2029",
              "\u202f", "\u205f", "\u3000", "\u180e", "\u200b", "\ufeff"]

# Format and other invisible characters: ZW(N)J, variation selectors, bidi controls, tags, soft
# hyphen, Arabic and Egyptian format characters (some assigned after Unicode 8.0), annotations.
FORMAT = ([0x00AD, 0x034F, 0x061C, 0x180B, 0x180C, 0x180D, 0x180E, 0x180F, 0x200B, 0x200C, 0x200D,
           0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x2065, 0xFEFF, 0xFFF9, 0xFFFA,
           0xFFFB, 0x0600, 0x0601, 0x0602, 0x0603, 0x0604, 0x0605, 0x06DD, 0x070F, 0x0890, 0x0891,
           0x08E2, 0x110BD, 0x110CD, 0x1BCA0, 0x1BCA3, 0xE0001, 0xE0020, 0xE007F]
          + list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A)) + list(range(0x206A, 0x2070))
          + list(range(0xFE00, 0xFE10)) + list(range(0xE0100, 0xE0110)) + [0xE01EF]
          + list(range(0x13430, 0x13440)) + list(range(0x1D173, 0x1D17B)))

CONTROL = ([0x00, 0x01, 0x07, 0x08, 0x1B, 0x7F, 0x80, 0x84, 0x86, 0x9F, 0xFFFD, 0xFFFC, 0xFFFE,
            0xFFFF, 0xFDD0, 0xFDEF, 0x1FFFE, 0x10FFFF, 0xE000, 0xF8FF, 0xF0000, 0xFFFFD, 0x100000,
            0x10FFFD])

# Blocks of ideographs and their neighbours: the BERT "Chinese character" ranges, the gaps
# between them, compatibility ideographs (NFD maps them to unified ones), kana, Hangul.
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2B91F), (0x2B920, 0x2CEAF), (0x2CEB0, 0x2EBEF),
              (0x2EBF0, 0x2EE5F), (0x30000, 0x3134F), (0x31350, 0x323AF), (0xF900, 0xFAFF),
              (0x2F800, 0x2FA1F), (0x2E80, 0x2FDF), (0x3000, 0x303F), (0x3040, 0x30FF),
              (0x3100, 0x31FF), (0xAC00, 0xD7A3), (0x1100, 0x11FF), (0xA960, 0xA97F),
              (0xD7B0, 0xD7FF), (0x3130, 0x318F), (0xFF65, 0xFF9F), (0x9FF0, 0xA00F)]

EMOJI = [0x1F600, 0x1F44D, 0x1F469, 0x1F468, 0x1F9EC, 0x1F52C, 0x2764, 0x2695, 0x1F1E9, 0x1F1EA,
         0x1F3F3, 0x1F308, 0x1FAE0, 0x1F9D1, 0x0023, 0x0031]
EMOJI_MODIFIERS = [0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF, 0xFE0F, 0xFE0E, 0x20E3, 0x200D]

SPECIAL = ["[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]", "[cls]", "[UNK", "UNK]", "[[SEP]]",
           "[MASK][MASK]", "[ CLS ]"]


def build_pools():
    """Code points by general category (Python's Unicode tables), surrogates left out."""
    pools = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        category = unicodedata.category(chr(cp))
        pools.setdefault(category, []).append(cp)
        if category in ("Cn", "Co") and cp < 0x10000:
            # Unassigned and private-use code points among the scripts, not only in the empty planes.
            pools.setdefault(category + "-BMP", []).append(cp)
    letters = [cp for cat in ("Lu", "Ll", "Lt", "Lm", "Lo") for cp in pools.get(cat, [])]
    marks = [cp for cat in ("Mn", "Mc", "Me") for cp in pools.get(cat, [])]
    nonstarters = [cp for cp in marks if unicodedata.combining(chr(cp))]
    hebrew_arabic = [cp for cp in marks if 0x0590 <= cp <= 0x08FF or 0xFB1D <= cp <= 0xFDFF]
    return pools, letters, marks, nonstarters, hebrew_arabic


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.pools, self.letters, self.marks, self.nonstarters, self.semitic = build_pools()
        self.categories = sorted(self.pools)
        kinds = [
            (self.ascii_word, 24), (self.whitespace, 16), (self.any_category, 16),
            (self.accented_word, 7), (self.combining_sequence, 7), (self.script_word, 7),
            (self.cjk, 4), (self.format_chars, 4), (self.control_chars, 3), (self.fullwidth, 3),
            (self.numbers, 2), (self.emoji, 2), (self.special_token, 1.5), (self.long_word, 0.6),
            (self.punctuation_run, 3),
        ]
        self.kinds = [kind for kind, _ in kinds]
        self.weights = [weight for _, weight in kinds]

    def pick(self, pool):
        return chr(self.rng.choice(pool))

    def ascii_word(self):
        rng = self.rng
        if rng.random() < 0.7:
            word = rng.choice(WORDS)
        else:
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
            word = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        return word.upper() if rng.random() < 0.1 else word

    def whitespace(self):
        return " " if self.rng.random() < 0.6 else self.rng.choice(WHITESPACE)

    def any_category(self):
        category = self.rng.choice(self.categories)
        return "".join(self.pick(self.pools[category]) for _ in range(self.rng.randint(1, 3)))

    def accented_word(self):
        rng = self.rng
        out = []
        for _ in range(rng.randint(2, 9)):
            roll = rng.random()
            if roll < 0.4:
                out.append(chr(rng.randint(0x61, 0x7A)))
            elif roll < 0.75:
                out.append(chr(rng.choice(list(range(0xC0, 0x100)) + list(range(0x100, 0x250))
                                          + list(range(0x1E00, 0x1F00)) + list(range(0x370, 0x400)))))
            else:
                out.append(chr(rng.randint(0x61, 0x7A)) + chr(rng.randint(0x300, 0x36F)))
        return "".join(out)

    def combining_sequence(self):
        rng = self.rng
        base = rng.choice([chr(rng.randint(0x61, 0x7A)), self.pick(self.letters), " ", "-",
                           self.pick(self.marks), chr(rng.randint(0x5D0, 0x5EA)), chr(rng.randint(0x627, 0x64A))])
        pools = [self.marks, self.nonstarters, self.semitic, list(range(0x300, 0x370))]
        marks = "".join(self.pick(rng.choice(pools)) for _ in range(rng.randint(1, 5)))
        return base + marks

    def script_word(self):
        rng = self.rng
        start = rng.choice(self.letters)
        out = []
        cp = start
        length = rng.randint(1, 10)
        while len(out) < length and cp < 0x110000:
            if unicodedata.category(chr(cp))[0] in "LM":
                out.append(chr(cp))
            cp += rng.randint(1, 3)
        return "".join(out)

    def cjk(self):
        rng = self.rng
        low, high = rng.choice(CJK_RANGES)
        return "".join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 4)))

    def format_chars(self):
        rng = self.rng
        core = "".join(chr(rng.choice(FORMAT)) for _ in range(rng.randint(1, 3)))
        return rng.choice(["", self.ascii_word()]) + core + rng.choice(["", self.ascii_word()])

    def control_chars(self):
        rng = self.rng
        pool = CONTROL + list(range(0x00, 0x20)) + list(range(0x7F, 0xA0))
        return "".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 3)))

    def fullwidth(self):
        rng = self.rng
        low, high = rng.choice([(0xFF01, 0xFF5E), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0xFF10, 0xFF19),
                                (0xFF5F, 0xFFEE), (0xFE30, 0xFE6B)])
        return "".join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 6)))

    def numbers(self):
        rng = self.rng
        pool = self.pools["Nd"] + self.pools["Nl"] + self.pools["No"]
        return "".join(rng.choice([self.pick(pool), str(rng.randint(0, 999))]) for _ in range(rng.randint(1, 4)))

    def emoji(self):
        rng = self.rng
        out = chr(rng.choice(EMOJI))
        for _ in range(rng.randint(0, 3)):
            out += chr(rng.choice(EMOJI_MODIFIERS))
            if rng.random() < 0.5:
                out += chr(rng.choice(EMOJI))
        return out

    def special_token(self):
        return self.rng.choice(SPECIAL)

    def punctuation_run(self):
        rng = self.rng
        pool = [cp for cat in ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So")
                for cp in self.pools[cat][:400]]
        return "".join(rng.choice([chr(rng.randint(0x21, 0x7E)), self.pick(pool)])
                       for _ in range(rng.randint(1, 4)))

    def long_word(self):
        """A word near WordPiece's 100-character limit, counted after normalization."""
        rng = self.rng
        length = rng.randint(95, 106)
        letters = [chr(rng.randint(0x61, 0x7A)) for _ in range(length)]
        if rng.random() < 0.5:
            # Combining marks that accent stripping removes (or, cased, keeps).
            for _ in range(rng.randint(1, 8)):
                letters.insert(rng.randrange(1, len(letters)), chr(rng.randint(0x300, 0x36F)))
        if rng.random() < 0.3:
            letters.insert(rng.randrange(len(letters)), chr(rng.choice(FORMAT + CONTROL)))
        return "".join(letters)

    def string(self):
        rng = self.rng
        segments = rng.choice([1, 2, 3, 5, 8, 12, 20, 40])
        parts = []
        for _ in range(segments):
            kind = rng.choices(self.kinds, self.weights)[0]
            parts.append(kind())
            if rng.random() < 0.35:
                parts.append(" ")
        return "".join(parts)


SWEEP_CONTEXTS = ["a{}b", "{}", "E{}\u0301", "{}\u0316\u0301x", "\u00e9{}"]


def sweep_strings(per_string=40):
    """Every mark, punctuation, symbol, separator, control and format character, every scalar with
    a canonical decomposition or a lowercase mapping, and the ends of every CJK range, each in
    each of SWEEP_CONTEXTS (after a letter, alone, between marks of other combining classes):
    a deterministic complement to the random strings."""
    scalars = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        category = unicodedata.category(c)
        if (category[0] in "MPSZ" or category in ("Cc", "Cf") or (category == "Co" and cp < 0x10000 and cp % 64 == 0)
                or unicodedata.decomposition(c) and not unicodedata.decomposition(c).startswith("<")
                or c.lower() != c):
            scalars.append(cp)
    scalars += [cp for low, high in CJK_RANGES for cp in (low - 1, low, high, high + 1)
                if not 0xD800 <= cp <= 0xDFFF] + CONTROL
    items = [context.format(chr(cp)) for cp in scalars for context in SWEEP_CONTEXTS]
    return [" ".join(items[i:i + per_string]) for i in range(0, len(items), per_string)]


def load(path):
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_file(path)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="random strings per vocabulary")
    parser.add_argument("--tokenizer", action="append", required=True, metavar="NAME=PATH",
                        help="a vocabulary name and its tokenizer.json; repeat for each vocabulary")
    parser.add_argument("--out", required=True, help="JSON-lines file to write")
    args = parser.parse_args(argv)

    import tokenizers

    if tokenizers.__version__ != PINNED_TOKENIZERS:
        sys.exit(f"tokenizer_oracle.py: expected tokenizers {PINNED_TOKENIZERS}, found {tokenizers.__version__} "
                 f"(pip install tokenizers=={PINNED_TOKENIZERS})")
    named = []
    for spec in args.tokenizer:
        name, sep, path = spec.partition("=")
        if not sep or not name or not os.path.isfile(path):
            sys.exit(f"tokenizer_oracle.py: --tokenizer {spec!r}: expected NAME=PATH of an existing tokenizer.json")
        named.append((name, os.path.abspath(path), load(path)))

    generator = Generator(args.seed)
    texts = [generator.string() for _ in range(args.count)]
    sweep = sweep_strings()
    texts += sweep

    header = {
        "tokenizers": tokenizers.__version__,
        "python_unicodedata": unicodedata.unidata_version,
        "seed": args.seed,
        "random_strings": args.count,
        "sweep_strings": len(sweep),
        "vocabularies": {name: path for name, path, _ in named},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    temporary = args.out + ".partial"
    with open(temporary, "w", encoding="ascii") as out:
        out.write(json.dumps({"header": header}) + "\n")
        for name, _, tokenizer in named:
            for text, encoding in zip(texts, tokenizer.encode_batch(texts, add_special_tokens=True)):
                line = {"vocabulary": name, "text": text, "input_ids": encoding.ids,
                        "offsets": [list(offset) for offset in encoding.offsets]}
                out.write(json.dumps(line, ensure_ascii=True) + "\n")
    os.replace(temporary, args.out)
    print(f"tokenizer_oracle.py: {args.count} random + {len(sweep)} sweep strings x {len(named)} vocabularies -> {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
