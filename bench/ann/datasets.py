#!/usr/bin/env python3
"""Synthetic data sets for the ANN benchmark, written as .npy files (fixed seeds, so every run sees the same data).

For each set NAME the work folder gets
  NAME.base.npy      N x d float32 (C order, little endian, .npy format 1.0)
  NAME.queries.npy   1000 x d float32, drawn from the same distribution as the base but not part of it
  NAME.gt.npy        1000 x 10 int32: exact top-10 base row ids per query, best first (numpy brute force)
  NAME.meta.json     n, dim, metric, k, generator parameters
and mix64 also
  mix64.filters.npy      F x N uint8, 1 = the item is allowed under filter f
  mix64.filters.json     [{"name", "kind", "selectivity", "allowed"}, ...] in row order
  mix64.filtered_gt.npy  F x 1000 x 10 int32: exact top-10 among the allowed items, -1 padding when fewer allowed
  mix64.labels.npy       N int32: the mixture component of each base row (what the correlated filters are made of)

Sets (metric):
  mix64      100,000 x 64, Gaussian mixture of 100 clusters, rows L2-normalised (ip)
  mix32_1m   1,000,000 x 32, the same kind (ip); left out with --skip-1m
  gauss128   100,000 x 128 isotropic Gaussian (l2): no structure, the hard case for graphs
  lowrank64  100,000 x 64 "recommendation-like" (ip, not normalised): item = rank-16 factor x random 16x64
             projection + small noise, rescaled to a log-normal popularity norm; queries = user vectors of the model
  real384    real vectors: every distinct item text in ../shared/datasets (MovieLens titles and genres, Amazon
             Office titles, categories and descriptions, Online Retail product descriptions; about 8,000) encoded by
             RecDB's own MiniLM (--encoder: bench/ann/swift's recdb-encode), unit length (ip); 1,000 of them, drawn
             at random, are the queries and the rest the base. Left out with a note when the data sets or the
             encoder are missing.

--small divides every N by 10 (the queries stay 1000). A set whose files exist with the same parameters is kept.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

K = 10
NQ = 1000
SEED = 20261127
SELECTIVITIES = (0.5, 0.1, 0.01, 0.001)

SETS = {
    # name: (kind, n, dim, metric, seed offset)
    "mix64": ("mixture", 100_000, 64, "ip", 1),
    "mix32_1m": ("mixture", 1_000_000, 32, "ip", 2),
    "gauss128": ("gauss", 100_000, 128, "l2", 3),
    "lowrank64": ("lowrank", 100_000, 64, "ip", 4),
    "real384": ("text", 0, 384, "ip", 5),
}
# real384: the longest description kept per item text (MiniLM reads at most 256 word pieces anyway).
TEXT_DESCRIPTION_CHARS = 400

# Gaussian mixture: unit-norm centres, isotropic noise whose norm is MIX_NOISE times the centre's, then each row is
# L2-normalised. 1.0 puts a point about 45 degrees off its centre: the clusters are visible but overlap.
MIX_CLUSTERS = 100
MIX_NOISE = 1.0
# Low-rank model: factor variances decay as 1/(k+1), item noise is LOWRANK_NOISE of the signal per coordinate,
# item norms are exp(N(0, LOWRANK_POP_SIGMA)).
LOWRANK_RANK = 16
LOWRANK_NOISE = 0.1
LOWRANK_POP_SIGMA = 0.5


def log(msg):
    print(f"datasets: {msg}", file=sys.stderr, flush=True)


def normalise(x):
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def gen_mixture(rng, n, d):
    centres = normalise(rng.standard_normal((MIX_CLUSTERS, d)))
    sigma = MIX_NOISE / np.sqrt(d)

    def draw(m):
        labels = rng.integers(0, MIX_CLUSTERS, m).astype(np.int32)
        x = np.empty((m, d), np.float32)
        for s in range(0, m, 200_000):
            e = min(m, s + 200_000)
            x[s:e] = centres[labels[s:e]] + sigma * rng.standard_normal((e - s, d))
        return normalise(x), labels

    base, labels = draw(n)
    queries, qlabels = draw(NQ)
    return base, queries, {"labels": labels, "qlabels": qlabels, "centres": centres}


def gen_gauss(rng, n, d):
    base = rng.standard_normal((n, d), dtype=np.float32)
    queries = rng.standard_normal((NQ, d), dtype=np.float32)
    return base, queries, {}


def gen_lowrank(rng, n, d):
    r = LOWRANK_RANK
    scale = 1.0 / np.sqrt(np.arange(1, r + 1))
    proj = rng.standard_normal((r, d)) / np.sqrt(r)
    signal = np.sqrt((scale ** 2).sum() / r)       # per-coordinate std of factor @ proj
    noise = LOWRANK_NOISE * signal

    def draw(m):
        f = rng.standard_normal((m, r)) * scale
        return (f @ proj + noise * rng.standard_normal((m, d))).astype(np.float32)

    items = normalise(draw(n))
    items *= np.exp(LOWRANK_POP_SIGMA * rng.standard_normal(n)).astype(np.float32)[:, None]
    users = draw(NQ)
    return items, users, {}


def item_texts(datasets):
    """Every distinct item text of the data sets that have text, in a fixed order; {source: count} beside it."""
    import csv
    import gzip
    texts, counts, seen = [], {}, set()

    def add(source, text):
        text = " ".join(text.split())
        if len(text) < 3 or text in seen:
            return
        seen.add(text)
        texts.append(text)
        counts[source] = counts.get(source, 0) + 1

    with open(os.path.join(datasets, "ml-100k", "ml-100k.item"), encoding="latin-1") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                year = f" ({parts[2]})" if len(parts) > 2 and parts[2] else ""
                genres = f". {parts[3]}" if len(parts) > 3 and parts[3] else ""
                add("ml-100k", parts[1] + year + genres)
    with gzip.open(os.path.join(datasets, "amazon-office-lcrec", "Office.item.json.gz"), "rt", encoding="utf-8") as f:
        items = json.load(f)
    for key in sorted(items, key=lambda k: int(k) if k.isdigit() else k):
        it = items[key]
        title = (it.get("title") or "").strip()
        if title:
            extra = [x for x in ((it.get("categories") or "").strip(),
                                 (it.get("description") or "").strip()[:TEXT_DESCRIPTION_CHARS]) if x]
            add("amazon-office", ". ".join([title] + extra))
    with gzip.open(os.path.join(datasets, "online-retail-uci", "online_retail.csv.gz"), "rt", encoding="utf-8",
                   errors="replace") as f:
        described = {}
        for row in csv.DictReader(f):
            code, text = row.get("StockCode", ""), (row.get("Description") or "").strip()
            if code and text and code not in described and any(c.isalpha() for c in text):
                described[code] = text
    for code in sorted(described):
        add("online-retail", described[code].capitalize())
    return texts, counts


def gen_text(rng, out, datasets, encoder):
    """real384: the item texts encoded by RecDB's MiniLM, split into queries and base at random."""
    import subprocess
    texts, counts = item_texts(datasets)
    path = os.path.join(out, "real384.texts.txt")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    os.replace(path + ".tmp", path)
    vectors = os.path.join(out, "real384.all.npy")
    log(f"real384: encoding {len(texts)} texts ({counts}) with {encoder}")
    subprocess.run([encoder, path, vectors], check=True)
    allv = np.load(vectors).astype(np.float32)
    if allv.shape != (len(texts), 384):
        sys.exit(f"datasets: {vectors} has shape {allv.shape}, expected ({len(texts)}, 384)")
    order = rng.permutation(len(texts))
    queries, base = allv[order[:NQ]], allv[order[NQ:]]
    return base, queries, {"texts": len(texts), "sources": counts}


def exact_topk(base, queries, metric, masks=None, k=K, block=None):
    """Exact top-k ids (int32, best first). float32 matmul picks 4k candidates, float64 re-ranks them.
    With masks (F x N bool) returns F x nq x k, -1 where fewer than k items are allowed."""
    n = base.shape[0]
    if block is None:
        block = max(1, min(256, (64 << 20) // (4 * n)))
    norms = (base.astype(np.float64) ** 2).sum(1) if metric == "l2" else None
    norms32 = norms.astype(np.float32) if norms is not None else None
    nf = 1 if masks is None else masks.shape[0]
    out = np.full((nf, queries.shape[0], k), -1, np.int32)
    c = min(n, 4 * k)

    def rerank(qb, cand):
        # cand: b x c ids (may contain -1); exact float64 scores, larger is better
        ok = cand >= 0
        ids = np.where(ok, cand, 0)
        v = base[ids].astype(np.float64)
        s = np.einsum("bcd,bd->bc", v, qb.astype(np.float64))
        if metric == "l2":
            s = 2 * s - norms[ids]
        s[~ok] = -np.inf
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(np.where(ok, cand, -1), order, 1)

    for qs in range(0, queries.shape[0], block):
        qb = queries[qs:qs + block]
        s = qb @ base.T
        if metric == "l2":
            s *= 2
            s -= norms32
        for f in range(nf):
            sf = s if masks is None else np.where(masks[f], s, -np.inf)
            cand = np.argpartition(-sf, c - 1, axis=1)[:, :c] if c < n else np.tile(np.arange(n), (len(qb), 1))
            if masks is not None:
                cand = np.where(masks[f][cand], cand, -1)
            out[f, qs:qs + len(qb)] = rerank(qb, cand)
    return out[0] if masks is None else out


def make_filters(rng, n, labels, qlabels, queries, centres):
    """Uncorrelated: a random subset of exactly round(s*n) items. Correlated: the items of whole clusters, taken in
    order of how few queries come from them (then lowest mean inner product of the centre with the queries), the
    last cluster only in part (a random subset of it) so the count is exact. The allowed items therefore sit together
    in the region of space farthest from most queries: the hard case for a graph walk that starts near the query."""
    qcount = np.bincount(qlabels, minlength=MIX_CLUSTERS)
    affinity = (queries.astype(np.float64) @ centres.T).mean(0)
    order = np.lexsort((affinity, qcount))          # primary key: query count, then affinity, both ascending
    members = [np.flatnonzero(labels == c) for c in range(MIX_CLUSTERS)]
    rows, meta = [], []
    for s in SELECTIVITIES:
        want = max(1, int(round(s * n)))
        m = np.zeros(n, np.uint8)
        m[rng.choice(n, want, replace=False)] = 1
        rows.append(m)
        meta.append({"name": f"uncorrelated-{s:g}", "kind": "uncorrelated", "selectivity": s, "allowed": want})
    for s in SELECTIVITIES:
        want = max(1, int(round(s * n)))
        m = np.zeros(n, np.uint8)
        got, used = 0, []
        for c in order:
            ids = members[c]
            take = ids if got + len(ids) <= want else rng.choice(ids, want - got, replace=False)
            m[take] = 1
            got += len(take)
            used.append(int(c))
            if got >= want:
                break
        rows.append(m)
        qshare = float(np.isin(qlabels, used).mean())
        meta.append({"name": f"correlated-{s:g}", "kind": "correlated", "selectivity": s, "allowed": want,
                     "clusters": used, "query_share": qshare})
    return np.stack(rows), meta


def params_for(name, small):
    kind, n, d, metric, off = SETS[name]
    if small:
        n //= 10
    p = {"name": name, "kind": kind, "n": n, "dim": d, "metric": metric, "nq": NQ, "k": K, "seed": SEED + off,
         "version": 1}
    if kind == "mixture":
        p.update(clusters=MIX_CLUSTERS, noise=MIX_NOISE, normalised=True)
    elif kind == "lowrank":
        p.update(rank=LOWRANK_RANK, noise=LOWRANK_NOISE, popularity_sigma=LOWRANK_POP_SIGMA, normalised=False)
    if name == "mix64":
        p["selectivities"] = list(SELECTIVITIES)
    return p


def save(path, arr):
    tmp = path + ".tmp.npy"
    np.save(tmp, np.ascontiguousarray(arr))
    os.replace(tmp, path)


def build(out, name, small, force=False, datasets=None, encoder=None):
    p = params_for(name, small)
    if p["kind"] == "text":
        missing = [x for x in ("ml-100k", "amazon-office-lcrec", "online-retail-uci")
                   if not datasets or not os.path.isdir(os.path.join(datasets, x))]
        if missing or not encoder or not os.access(encoder, os.X_OK):
            log(f"{name}: skipped: " + (f"{datasets}/{', '.join(missing)} missing" if missing
                                        else "no encoder (--encoder: bench/ann/swift's recdb-encode)"))
            return False
    meta_path = os.path.join(out, f"{name}.meta.json")
    files = ["base", "queries", "gt"] + (["filters", "filtered_gt", "labels"] if name == "mix64" else [])
    if not force and os.path.exists(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        same = {k: v for k, v in p.items() if not (k == "n" and p["kind"] == "text")}
        if {k: old.get(k) for k in same} == same and all(os.path.exists(os.path.join(out, f"{name}.{x}.npy")) for x in files):
            log(f"{name}: up to date ({old.get('n')} x {p['dim']}, {p['metric']})")
            return True
    t0 = time.time()
    rng = np.random.default_rng(p["seed"])
    if p["kind"] == "text":
        base, queries, extra = gen_text(rng, out, datasets, encoder)
    else:
        gen = {"mixture": gen_mixture, "gauss": gen_gauss, "lowrank": gen_lowrank}[p["kind"]]
        base, queries, extra = gen(rng, p["n"], p["dim"])
    base = np.ascontiguousarray(base, np.float32)
    queries = np.ascontiguousarray(queries, np.float32)
    log(f"{name}: generated {base.shape[0]} x {base.shape[1]} in {time.time() - t0:.1f} s; exact top-{K}...")
    t1 = time.time()
    gt = exact_topk(base, queries, p["metric"])
    log(f"{name}: ground truth in {time.time() - t1:.1f} s")
    stats = {"distinct_gt_ids": int(len(np.unique(gt)))}
    if p["kind"] == "text":
        stats.update(n=int(base.shape[0]), texts=extra["texts"], sources=extra["sources"])
    if name == "mix64":
        masks, fmeta = make_filters(rng, p["n"], extra["labels"], extra["qlabels"], queries, extra["centres"])
        t1 = time.time()
        fgt = exact_topk(base, queries, p["metric"], masks=masks.astype(bool))
        log(f"{name}: filtered ground truth for {len(fmeta)} filters in {time.time() - t1:.1f} s")
        with open(os.path.join(out, f"{name}.filters.json.tmp"), "w") as f:
            json.dump(fmeta, f, indent=1)
        os.replace(os.path.join(out, f"{name}.filters.json.tmp"), os.path.join(out, f"{name}.filters.json"))
        save(os.path.join(out, f"{name}.filters.npy"), masks)
        save(os.path.join(out, f"{name}.filtered_gt.npy"), fgt)
        save(os.path.join(out, f"{name}.labels.npy"), extra["labels"])
    save(os.path.join(out, f"{name}.base.npy"), base)
    save(os.path.join(out, f"{name}.queries.npy"), queries)
    save(os.path.join(out, f"{name}.gt.npy"), gt)
    with open(meta_path + ".tmp", "w") as f:
        json.dump({**p, **stats}, f, indent=1)
    os.replace(meta_path + ".tmp", meta_path)
    log(f"{name}: written in {time.time() - t0:.1f} s")
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/out/ann")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated names (default: all)")
    ap.add_argument("--small", action="store_true", help="N / 10")
    ap.add_argument("--skip-1m", action="store_true", help="leave out mix32_1m")
    ap.add_argument("--force", action="store_true", help="regenerate even when up to date")
    ap.add_argument("--datasets", default="../shared/datasets", help="the real data sets (real384's texts)")
    ap.add_argument("--encoder", help="recdb-encode (bench/ann/swift), for real384")
    ap.add_argument("--built", help="write the names of the sets that are ready here, one per line")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    names = [s for s in a.sets.split(",") if s]
    for s in names:
        if s not in SETS:
            sys.exit(f"datasets: unknown set {s!r} (known: {', '.join(SETS)})")
    ready = []
    for s in names:
        if s == "mix32_1m" and a.skip_1m:
            continue
        if build(a.out, s, a.small, a.force, a.datasets, a.encoder):
            ready.append(s)
    if a.built:
        with open(a.built, "w") as f:
            f.write("".join(x + "\n" for x in ready))


if __name__ == "__main__":
    main()
