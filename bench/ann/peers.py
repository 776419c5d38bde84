#!/usr/bin/env python3
"""The peers of the ANN benchmark: hnswlib and faiss IndexHNSWFlat on the files of datasets.py.

Takes the same arguments as RecDB's Swift `recdb-ann` plus --lib, and writes the same RESULT.json shape:
  {"name", "n", "dim", "build_seconds", "bytes_per_vector", "open_ms", "first_query_ms",
   "curve": [{"ef", "recall", "qps", "p50_us", "p99_us", "qps_batch"}, ...],
   "filtered": [{"name", "kind", "selectivity", "recall", "qps", "ef", "p50_us", "p99_us"}, ...],
   "churn": {"recall", "ef", "deleted", "seconds"}}
(keys past the Swift contract are extras that report.py shows when present).

How it measures, so the Swift side can do the same:
  build        index construction + insertion of all N rows with --threads threads, wall time
  bytes/vector size of the saved index file(s) / N
  open         loading the saved index from its file into a usable index (page cache warm: it was just written)
  first query  the first k=10 query (ef=100) right after opening
  curve        per ef, queries one at a time (batch of 1, single thread) in a loop, wall time -> QPS; per-query
               latency -> p50/p99 µs; recall@10 = hits / valid ground-truth ids over all 1000 queries. The extra
               qps_batch is one 1000-query call on one thread (no per-call Python overhead: the library's own speed)
  filtered     per filter row, ef swept over FILTER_EFS in increasing order; reported: the smallest ef whose recall
               reaches 0.95, else the last (ef=400). hnswlib gets a Python callable (list.__getitem__, the cheapest
               callable: each call still costs a Python round trip), faiss an IDSelectorBitmap in SearchParametersHNSW
  churn        delete a seeded random 10 % (hnswlib mark_deleted; faiss IndexHNSWFlat has no delete, so a
               tombstone IDSelectorBitmap excludes the old ids), re-insert the same vectors under new labels
               N.., then recall@10 at ef=100 with new labels mapped back to the original ids
"""
import argparse
import gc
import json
import os
import sys
import time

import numpy as np

K = 10
FIRST_QUERY_EF = 100
CHURN_EF = 100
FILTER_EFS = (10, 40, 120, 200, 400)
FILTER_TARGET = 0.95
CHURN_SEED = 7


def log(msg):
    print(f"peers: {msg}", file=sys.stderr, flush=True)


def recall(found, gt):
    """found: nq x k ids (-1 for none), gt: nq x k ids (-1 padding). Hits / valid ground-truth ids."""
    hits = valid = 0
    for f, g in zip(found, gt):
        g = g[g >= 0]
        valid += len(g)
        hits += len(np.intersect1d(f[f >= 0], g, assume_unique=False))
    return hits / valid if valid else 1.0


class Timing:
    """What a loop of single queries cost: wall seconds, per-query latencies in µs, and the thread's CPU seconds
    (the load-insensitive figure: time spent descheduled by other processes is not counted)."""

    def __init__(self, wall, lat, cpu):
        self.wall, self.lat, self.cpu = wall, lat, cpu


def timed_loop(search_one, queries):
    """Runs search_one(i) for each query one at a time; returns (ids nq x k, Timing)."""
    nq = len(queries)
    out = np.full((nq, K), -1, np.int64)
    lat = np.empty(nq)
    clock = time.perf_counter_ns
    cpu0 = time.thread_time()
    t0 = clock()
    for i in range(nq):
        s = clock()
        ids = search_one(i)
        lat[i] = clock() - s
        out[i, :len(ids)] = ids
    wall = (clock() - t0) / 1e9
    return out, Timing(wall, lat / 1e3, time.thread_time() - cpu0)


def stats(found, timing, gt):
    lat = timing.lat
    return {"recall": round(recall(found, gt), 4), "qps": round(len(lat) / timing.wall, 1),
            "p50_us": round(float(np.percentile(lat, 50)), 1), "p99_us": round(float(np.percentile(lat, 99)), 1),
            "cpu_us_per_query": round(timing.cpu / len(lat) * 1e6, 2)}


class Hnswlib:
    name = "hnswlib"

    def __init__(self, a, dim):
        import hnswlib
        self.lib, self.a, self.dim = hnswlib, a, dim
        self.space = {"ip": "ip", "l2": "l2"}[a.metric]

    def build(self, base, extra):
        idx = self.lib.Index(space=self.space, dim=self.dim)
        idx.init_index(max_elements=len(base) + extra, M=self.a.m, ef_construction=self.a.ef_construction,
                       random_seed=100)
        idx.add_items(base, np.arange(len(base)), num_threads=self.a.threads)
        self.idx = idx

    def save(self, path):
        self.idx.save_index(path)
        return [path]

    def close(self):
        self.idx = None

    def open(self, path):
        idx = self.lib.Index(space=self.space, dim=self.dim)
        idx.load_index(path)
        idx.set_num_threads(1)
        self.idx = idx

    def set_ef(self, ef):
        self.idx.set_ef(ef)

    def searcher(self, queries, allowed=None):
        idx, qs = self.idx, [queries[i:i + 1] for i in range(len(queries))]
        filt = None if allowed is None else allowed.tolist().__getitem__

        def one(i):
            try:
                return idx.knn_query(qs[i], k=K, num_threads=1, filter=filt)[0][0]
            except RuntimeError:          # fewer than k results reachable
                return np.empty(0, np.int64)
        return one

    def batch(self, queries):
        return self.idx.knn_query(queries, k=K, num_threads=1)[0]

    def churn(self, base, dele, ef):
        n = len(base)
        t0 = time.perf_counter()
        for i in dele:
            self.idx.mark_deleted(int(i))
        if self.idx.get_max_elements() < n + len(dele):
            self.idx.resize_index(n + len(dele))
        self.idx.add_items(base[dele], n + np.arange(len(dele)), num_threads=self.a.threads)
        self.idx.set_num_threads(1)
        secs = time.perf_counter() - t0
        self.set_ef(ef)
        return self.searcher, secs


class Faiss:
    name = "faiss"

    def __init__(self, a, dim):
        import faiss
        self.lib, self.a, self.dim = faiss, a, dim
        self.metric = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}[a.metric]
        self.ef = 16
        self.sel = None

    def build(self, base, extra):
        self.lib.omp_set_num_threads(self.a.threads)
        idx = self.lib.IndexHNSWFlat(self.dim, self.a.m, self.metric)
        idx.hnsw.efConstruction = self.a.ef_construction
        idx.add(base)
        self.lib.omp_set_num_threads(1)
        self.idx = idx

    def save(self, path):
        self.lib.write_index(self.idx, path)
        return [path]

    def close(self):
        self.idx = None

    def open(self, path):
        self.lib.omp_set_num_threads(1)
        self.idx = self.lib.read_index(path)

    def set_ef(self, ef):
        self.ef = ef

    def _params(self, allowed):
        p = self.lib.SearchParametersHNSW()
        p.efSearch = self.ef
        keep = []
        if allowed is not None:
            bits = np.packbits(allowed.astype(np.uint8), bitorder="little")
            sel = self.lib.IDSelectorBitmap(len(allowed), self.lib.swig_ptr(bits))
            p.sel = sel
            keep = [bits, sel]
        return p, keep

    def searcher(self, queries, allowed=None):
        idx, qs = self.idx, [queries[i:i + 1] for i in range(len(queries))]
        p, keep = self._params(allowed)
        D = np.empty((1, K), np.float32)
        I = np.empty((1, K), np.int64)

        def one(i, _keep=keep):
            idx.search(qs[i], K, D=D, I=I, params=p)
            return I[0].copy()
        return one

    def batch(self, queries):
        p, _ = self._params(None)
        return self.idx.search(queries, K, params=p)[1]

    def churn(self, base, dele, ef):
        n = len(base)
        t0 = time.perf_counter()
        self.lib.omp_set_num_threads(self.a.threads)
        self.idx.add(base[dele])                   # ids n .. n+len(dele)-1
        self.lib.omp_set_num_threads(1)
        alive = np.ones(n + len(dele), bool)
        alive[dele] = False
        secs = time.perf_counter() - t0
        self.set_ef(ef)
        return (lambda queries: self.searcher(queries, alive)), secs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True, choices=["hnswlib", "faiss"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--metric", required=True, choices=["ip", "l2"])
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--efs", default="10,20,40,80,120,200,400")
    ap.add_argument("--db", required=True, help="index file path (the peer's counterpart of RecDB's --db)")
    ap.add_argument("--filters", action="store_true")
    ap.add_argument("--churn", type=float, default=0.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reuse", action="store_true", help="open the index file at --db when it exists (no build)")
    a = ap.parse_args()

    pre = os.path.join(a.data, a.name)
    base = np.load(pre + ".base.npy")
    queries = np.load(pre + ".queries.npy")
    gt = np.load(pre + ".gt.npy")
    n, dim = base.shape
    efs = [int(e) for e in a.efs.split(",") if e]
    lib = {"hnswlib": Hnswlib, "faiss": Faiss}[a.lib](a, dim)
    res = {"name": a.name, "library": a.lib, "n": int(n), "dim": int(dim), "metric": a.metric, "m": a.m,
           "ef_construction": a.ef_construction, "threads": a.threads}
    tag = f"{a.lib}/{a.name}"

    if a.reuse and os.path.exists(a.db):
        log(f"{tag}: reusing {a.db} (no build)")
        res["build_seconds"] = None
        res["bytes_per_vector"] = round(os.path.getsize(a.db) / n, 1)
    else:
        log(f"{tag}: building {n} x {dim} (M={a.m}, efConstruction={a.ef_construction}, {a.threads} threads)")
        extra = int(round(a.churn * n)) if a.churn else 0
        t0 = time.perf_counter()
        lib.build(base, extra)
        res["build_seconds"] = round(time.perf_counter() - t0, 3)
        log(f"{tag}: built in {res['build_seconds']} s")

        for f in [a.db]:
            if os.path.exists(f):
                os.remove(f)
        os.makedirs(os.path.dirname(os.path.abspath(a.db)), exist_ok=True)
        files = lib.save(a.db)
        res["bytes_per_vector"] = round(sum(os.path.getsize(f) for f in files) / n, 1)
        lib.close()
        gc.collect()

    t0 = time.perf_counter()
    lib.open(a.db)
    res["open_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
    lib.set_ef(FIRST_QUERY_EF)
    one = lib.searcher(queries)
    t0 = time.perf_counter()
    one(0)
    res["first_query_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
    res["first_query_ef"] = FIRST_QUERY_EF

    curve = []
    for ef in efs:
        lib.set_ef(ef)
        one = lib.searcher(queries)
        for i in range(min(50, len(queries))):   # warm-up
            one(i)
        found, timing = timed_loop(one, queries)
        row = {"ef": ef, **stats(found, timing, gt)}
        t0 = time.perf_counter()
        lib.batch(queries)
        row["qps_batch"] = round(len(queries) / (time.perf_counter() - t0), 1)
        curve.append(row)
        log(f"{tag}: ef={ef} recall={row['recall']} qps={row['qps']} p50={row['p50_us']}us "
            f"p99={row['p99_us']}us batch_qps={row['qps_batch']}")
    res["curve"] = curve

    if a.filters:
        masks = np.load(pre + ".filters.npy")
        fgt = np.load(pre + ".filtered_gt.npy")
        with open(pre + ".filters.json") as f:
            fmeta = json.load(f)
        out = []
        for fi, m in enumerate(fmeta):
            allowed = masks[fi].astype(bool)
            best = None
            for ef in FILTER_EFS:
                lib.set_ef(ef)
                found, timing = timed_loop(lib.searcher(queries, allowed), queries)
                best = {"name": m["name"], "kind": m["kind"], "selectivity": m["selectivity"], "ef": ef,
                        **stats(found, timing, fgt[fi])}
                if best["recall"] >= FILTER_TARGET:
                    break
            out.append(best)
            log(f"{tag}: filter {m['name']}: ef={best['ef']} recall={best['recall']} qps={best['qps']}")
        res["filtered"] = out

    if a.churn:
        rng = np.random.default_rng(CHURN_SEED)
        dele = np.sort(rng.choice(n, int(round(a.churn * n)), replace=False))
        make, secs = lib.churn(base, dele, CHURN_EF)
        one = make(queries)
        found, timing = timed_loop(one, queries)
        moved = found >= n
        found[moved] = dele[found[moved] - n]
        st = stats(found, timing, gt)
        res["churn"] = {"recall": st["recall"], "ef": CHURN_EF, "fraction": a.churn, "deleted": int(len(dele)),
                        "seconds": round(secs, 3), "qps": st["qps"]}
        if a.lib == "faiss":
            res["churn"]["note"] = "no delete in IndexHNSWFlat: old ids excluded by an IDSelectorBitmap tombstone"
        log(f"{tag}: churn {a.churn:g}: recall={st['recall']} at ef={CHURN_EF} ({secs:.1f} s to delete + re-insert)")

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
