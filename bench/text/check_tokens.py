import json, sys, subprocess, random
from tokenizers import Tokenizer
# Usage: check_tokens.py MODEL_FOLDER MINILM_BENCH_BINARY TEXTS_JSONL
# Compares RecML's token ids with the tokenizers package (tokenizer.json, no padding, truncation 256) on the texts of
# TEXTS_JSONL (bench/out/text/texts.jsonl after a bench run), some tricky strings and 6,000 random strings.
model = sys.argv[1]; binary = sys.argv[2]
tok = Tokenizer.from_file(model + "/tokenizer.json"); tok.no_padding(); tok.enable_truncation(max_length=256)
texts = [json.loads(l) for l in open(sys.argv[3])]
tricky = ["[CLS] hello [SEP]", "a[MASK]b", "[mask]", "İstanbul ǅemal ΣΑΣ ﬁne ½ ①", "\u00ad soft\u00adhyphen", "zero\u200bwidth",
          "\ue000private", "🥲 new emoji 🫠", "a\u0085b\u2028c\u3000d", "x" * 101, "x" * 100, "ＦＵＬＬwidth！", "Ǆ ǆ",
          "naïve ﬀ ẞ ß", "\U0001F600" * 3, "tab\ttab", "ĳ Ŀ", "〈angle〉 «guillemets» „quotes“", "a‐b–c—d", "€5 ¥3 ₹9 ©®™°",
          "ą́ e̊ o̸", "Ꭰ Ꮳ", "ｶﾀｶﾅ ｸﾞ", "한국어 텍스트", "ไทย", "עברית", "العربية", "Ελληνικά", "Русский ТЕКСТ", "\x00nul\x01ctl\x7f"]
random.seed(1)
alphabet = [chr(c) for c in list(range(0x300, 0x370)) + list(range(0x1f300, 0x1fb00, 7)) + list(range(0x4e00, 0x4f00)) + list(range(0xac00, 0xac80)) + list(range(0xe00, 0xe80)) + list(range(0xe000, 0xe010)) + list(range(0x600, 0x700)) + list(range(0x1e00, 0x2000)) + list(range(0x2e00, 0x2e60)) + list(range(0x1ab0, 0x1b00)) + list(range(0x1dc0, 0x1e00)) + list(range(0x8d0, 0x900)) + [0x110cd, 0x11a3f, 0x16fe2, 0x1f972] + list(range(0xfb00, 0xfb50)) + list(range(0xfe00, 0xfe70)) + list(range(0x20000, 0x20010)) + list(range(0x2a6d0, 0x2a720)) + list(range(32, 0x250)) + list(range(0x370, 0x3ff)) + list(range(0x2000, 0x2070)) + list(range(0x3000, 0x3040)) + list(range(0xff00, 0xff60))]
rand = ["".join(random.choice(alphabet) for _ in range(random.randint(1, 60))) for _ in range(6000)]
all_texts = texts + tricky + rand
with open("/tmp/recml-check-tokens.jsonl", "w") as f:
    for t in all_texts: f.write(json.dumps(t) + "\n")
out = subprocess.run([binary, "--tokens", model, "/tmp/recml-check-tokens.jsonl"], capture_output=True, text=True, check=True).stdout.splitlines()
bad = 0
for t, line in zip(all_texts, out):
    ref = tok.encode(t).ids; mine = json.loads(line)
    if ref != mine:
        bad += 1
        if bad <= 12: print(repr(t[:80]), "\n  ref ", ref[:20], "\n  mine", mine[:20])
print(f"{len(all_texts)} texts, {bad} differ (2000 product texts, {len(tricky)} tricky, {len(rand)} random)")
