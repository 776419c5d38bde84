#!/usr/bin/env python3
"""Prints the ANN benchmark's tables from the result files NAME.LIB.json (LIB = recdb, hnswlib, faiss) and, as the
last line, one JSON object with the key figures (RecDB's, and the peers' where meaningful; null when missing).

  report.py --results DIR [--data DIR] [--skipped-1m]
"""
import argparse
import glob
import json
import os
import sys

LIBS = ("recdb", "recdb_int8", "recdb_float16", "hnswlib", "faiss")
RECDB = ("recdb", "recdb_int8", "recdb_float16")
LABEL = {"recdb": "RecDB float32", "recdb_int8": "RecDB int8", "recdb_float16": "RecDB float16", "hnswlib": "hnswlib",
         "faiss": "faiss"}
ORDER = ("mix64", "mix32_1m", "gauss128", "lowrank64", "real384")
TARGET = 0.95
DESCRIBE = {
    "mixture": "Gaussian mixture, {clusters} clusters, rows L2-normalised",
    "gauss": "isotropic Gaussian",
    "lowrank": "rank-{rank} factor model, log-normal item norms (sigma {popularity_sigma})",
    "text": "real: {texts:,} item texts of ../shared/datasets encoded by RecDB's MiniLM (1,000 of them the queries)",
}


def load(results):
    """(sets, rounds): sets[name][lib] from NAME.LIB.json (round 1, with filters and churn); rounds[name][lib] the
    curves of every round in order, round 1 first, then NAME.LIB.rN.json (N = 2, 3, ...: curve-only repeats,
    interleaved library by library); NAME.LIB.churn.json adds a churn figure measured after the rounds."""
    out, rounds, extra = {}, {}, {}
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        base = os.path.basename(path)[:-5]
        parts = base.split(".")
        if len(parts) < 2 or parts[1] not in LIBS:
            continue
        name, lib, tail = parts[0], parts[1], parts[2] if len(parts) > 2 else None
        try:
            with open(path) as f:
                value = json.load(f)
        except (OSError, ValueError) as e:
            print(f"report: skipping unreadable {path}: {e}", file=sys.stderr)
            continue
        if tail is None:
            out.setdefault(name, {})[lib] = value
        elif tail == "churn":
            extra[(name, lib)] = value
        elif tail.startswith("r") and tail[1:].isdigit():
            rounds.setdefault(name, {}).setdefault(lib, []).append((int(tail[1:]), value))
    for (name, lib), value in extra.items():
        if name in out and lib in out[name] and isinstance(value.get("churn"), dict):
            out[name][lib]["churn"] = value["churn"]
    merged = {}
    for name, libs in out.items():
        for lib, first in libs.items():
            later = [v for _, v in sorted(rounds.get(name, {}).get(lib, []), key=lambda x: x[0])]
            merged.setdefault(name, {})[lib] = [first] + later
    return out, merged


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def fmt(x, spec, width):
    x = num(x)
    if x is None:
        return f"{'-':>{width}}"
    if spec == "d":
        x = int(round(x))
    return f"{x:>{width}{spec}}"


def curve(r):
    return sorted((c for c in (r or {}).get("curve") or [] if num(c.get("ef")) is not None), key=lambda c: c["ef"])


def best_recall(r):
    rs = [num(c.get("recall")) for c in curve(r)]
    rs = [x for x in rs if x is not None]
    return max(rs) if rs else None


def at_target(r):
    """The curve row at the smallest ef whose recall reaches TARGET, or None."""
    for c in curve(r):
        if (num(c.get("recall")) or 0) >= TARGET:
            return c
    return None


def rnd(x, nd):
    x = num(x)
    return None if x is None else round(x, nd)


def ratio(a, b):
    a, b = num(a), num(b)
    return round(a / b, 3) if a is not None and b else None


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def round_ratios(rounds, name, lib, peer="hnswlib"):
    """Per round i: lib's QPS at its smallest ef reaching TARGET over peer's at its own, both from round i (they ran
    one after the other, so they share that moment's machine load)."""
    a, b = rounds.get(name, {}).get(lib, []), rounds.get(name, {}).get(peer, [])
    if len(a) > 1 and len(b) > 1:      # interleaved repeats exist: pair those only
        a, b = a[1:], b[1:]
    out = []
    for x, y in zip(a, b):
        out.append(ratio((at_target(x) or {}).get("qps"), (at_target(y) or {}).get("qps")))
    return [r for r in out if r is not None]


def min_filtered(r):
    rs = [num(f.get("recall")) for f in (r or {}).get("filtered") or []]
    rs = [x for x in rs if x is not None]
    return min(rs) if rs else None


def describe(name, data, r):
    meta = {}
    if data:
        try:
            with open(os.path.join(data, f"{name}.meta.json")) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            pass
    any_r = next(iter(r.values()))
    n, dim = meta.get("n", any_r.get("n")), meta.get("dim", any_r.get("dim"))
    metric = meta.get("metric", any_r.get("metric", "?"))
    head = f"{name}: {n:,} x {dim}, metric {metric}" if num(n) and num(dim) else f"{name}, metric {metric}"
    kind = meta.get("kind")
    if kind in DESCRIBE:
        try:
            head += " — " + DESCRIBE[kind].format(**meta)
        except KeyError:
            pass
    return head


def print_set(name, r, data):
    libs = [l for l in LIBS if l in r]
    print()
    print(f"== {describe(name, data, r)} ==")
    print(f"{'library':<15} {'ef':>5} {'recall@10':>10} {'QPS':>10} {'p50 µs':>9} {'p99 µs':>9} {'QPS batch':>10}")
    for lib in libs:
        for c in curve(r[lib]):
            print(f"{LABEL[lib]:<15} {fmt(c['ef'], 'd', 5)} {fmt(c.get('recall'), '.4f', 10)} {fmt(c.get('qps'), ',.0f', 10)} "
                  f"{fmt(c.get('p50_us'), '.1f', 9)} {fmt(c.get('p99_us'), '.1f', 9)} "
                  f"{fmt(c.get('qps_batch'), ',.0f', 10)}")
    print()
    print(f"{'library':<15} {'build s':>9} {'bytes/vec':>10} {'open ms':>9} {'1st query ms':>13} "
          f"{'ef@' + str(TARGET):>8} {'QPS@' + str(TARGET):>10}")
    for lib in libs:
        x = r[lib]
        t = at_target(x) or {}
        print(f"{LABEL[lib]:<15} {fmt(x.get('build_seconds'), '.2f', 9)} {fmt(x.get('bytes_per_vector'), '.1f', 10)} "
              f"{fmt(x.get('open_ms'), '.2f', 9)} {fmt(x.get('first_query_ms'), '.3f', 13)} "
              f"{fmt(t.get('ef'), 'd', 8)} {fmt(t.get('qps'), ',.0f', 10)}")

    filt = {lib: {f.get("name"): f for f in r[lib].get("filtered") or []} for lib in libs}
    names = []
    if data:
        try:
            with open(os.path.join(data, f"{name}.filters.json")) as f:
                names = [m["name"] for m in json.load(f) if any(m["name"] in filt[l] for l in libs)]
        except (OSError, ValueError, KeyError, TypeError):
            names = []
    for lib in libs:
        names += [n for n in filt[lib] if n not in names]
    if names:
        print()
        print(f"filtered search, recall@10 / QPS at the smallest ef reaching {TARGET} (else ef=400):")
        head = f"{'filter':<20} {'allowed':>8}"
        for lib in libs:
            head += f" | {LABEL[lib] + ' recall':>15} {'QPS':>8} {'ef':>4}"
        if "hnswlib" in libs:
            print("(hnswlib's filter is a Python callable run per candidate: its filtered QPS is a lower bound of the "
                  "library's, its recall is not affected; faiss gets an IDSelectorBitmap)")
        print(head)
        for n in names:
            sel = next((filt[l][n].get("selectivity") for l in libs if n in filt[l]), None)
            line = f"{n:<20} {fmt(sel, 'g', 8)}"
            for lib in libs:
                f = filt[lib].get(n, {})
                line += f" | {fmt(f.get('recall'), '.4f', 15)} {fmt(f.get('qps'), ',.0f', 8)} {fmt(f.get('ef'), 'd', 4)}"
            print(line)
    churn = [(lib, r[lib]["churn"]) for lib in libs if isinstance(r[lib].get("churn"), dict)]
    if churn:
        parts = []
        for lib, c in churn:
            s = f"{LABEL[lib]} {fmt(c.get('recall'), '.4f', 0)} (ef={c.get('ef', '?')}"
            s += f", {c['seconds']:.1f} s to delete + re-insert" if num(c.get("seconds")) is not None else ""
            s += ", tombstones" if c.get("note") else ""
            parts.append(s + ")")
        frac = next((c.get("fraction") for _, c in churn if num(c.get("fraction"))), 0.1)
        print()
        print(f"churn: delete {frac:.0%} and re-insert under new labels, recall@10: " + "; ".join(parts))


def summary(sets, skipped_1m, rounds=None, loads=None):
    rounds = rounds or {}
    mix = sets.get("mix64", {})
    big = sets.get("mix32_1m", {})
    rec, hn, fa = mix.get("recdb"), mix.get("hnswlib"), mix.get("faiss")
    quant = mix.get("recdb_int8")
    t = {lib: at_target(mix.get(lib)) for lib in LIBS}

    def q(lib):
        return (t[lib] or {}).get("qps")

    def batch_at_same_ef(peer):
        # the peer's one-call, one-thread QPS at the ef where the peer itself reaches TARGET
        return (t[peer] or {}).get("qps_batch")

    def churn(r):
        c = (r or {}).get("churn")
        return rnd(c.get("recall"), 4) if isinstance(c, dict) else None

    out = {
        "recall_at_10": rnd(best_recall(rec), 4),
        "qps_ratio_vs_hnswlib": ratio(q("recdb"), q("hnswlib")),
        "build_ratio_vs_hnswlib": ratio((rec or {}).get("build_seconds"), (hn or {}).get("build_seconds")),
        "filtered_min_recall_at_10": rnd(min_filtered(rec), 4),
        "open_ms_1m": rnd((big.get("recdb") or {}).get("open_ms"), 3),
        "qps_ratio_vs_faiss": ratio(q("recdb"), q("faiss")),
        "build_ratio_vs_faiss": ratio((rec or {}).get("build_seconds"), (fa or {}).get("build_seconds")),
        "qps_ratio_vs_hnswlib_batch": ratio(q("recdb"), batch_at_same_ef("hnswlib")),
        "churn_recall_at_10": churn(rec),
        "recdb_present": rec is not None,
        "skipped_1m": bool(skipped_1m),
    }
    # Ratios per interleaved round (median, then [min, max] over rounds): the headline is the best quantized
    # setting's median (int8 or float16, named in qps_ratio_vs_hnswlib*_codes); each kind's figures follow.
    for key, name in (("", "mix64"), ("_1m", "mix32_1m"), ("_real384", "real384")):
        kinds = {c: round_ratios(rounds, name, "recdb_" + c) for c in ("int8", "float16")}
        f32 = round_ratios(rounds, name, "recdb")
        best = max((c for c in kinds if kinds[c]), key=lambda c: median(kinds[c]), default=None)
        qs = kinds[best] if best else []
        out["qps_ratio_vs_hnswlib" + key] = (
            rnd(median(qs), 3) if qs else (out.get("qps_ratio_vs_hnswlib") if not key else None))
        out["qps_ratio_vs_hnswlib" + key + "_spread"] = [min(qs), max(qs)] if qs else None
        out["qps_ratio_vs_hnswlib" + key + "_codes"] = best
        for c in ("int8", "float16"):
            out["qps_ratio_vs_hnswlib" + key + "_" + c] = rnd(median(kinds[c]), 3) if kinds[c] else None
        out["qps_ratio_vs_hnswlib" + key + "_float32"] = rnd(median(f32), 3) if f32 else None
        out["qps_ratio_vs_hnswlib" + key + "_float32_spread"] = [min(f32), max(f32)] if f32 else None
        out["rounds" + key] = len(qs or f32)
    hb = (hn or {}).get("bytes_per_vector")
    out["bytes_per_vector_ratio_vs_hnswlib"] = ratio((rec or {}).get("bytes_per_vector"), hb)
    out["bytes_per_vector_ratio_vs_hnswlib_int8"] = ratio((quant or {}).get("bytes_per_vector"), hb)
    half = mix.get("recdb_float16")
    out["bytes_per_vector_ratio_vs_hnswlib_float16"] = ratio((half or {}).get("bytes_per_vector"), hb)
    out["compacted_bytes_per_vector_ratio_vs_hnswlib_float16"] = ratio((half or {}).get("compacted_bytes_per_vector"), hb)
    out["index_bytes_per_vector_float16"] = rnd((half or {}).get("index_bytes_per_vector"), 1)
    out["filtered_min_recall_at_10_float16"] = rnd(min_filtered(half), 4)
    out["compacted_bytes_per_vector_ratio_vs_hnswlib"] = ratio((rec or {}).get("compacted_bytes_per_vector"), hb)
    out["compacted_bytes_per_vector_ratio_vs_hnswlib_int8"] = ratio((quant or {}).get("compacted_bytes_per_vector"), hb)
    out["index_bytes_per_vector_float32"] = rnd((rec or {}).get("index_bytes_per_vector"), 1)
    out["index_bytes_per_vector_int8"] = rnd((quant or {}).get("index_bytes_per_vector"), 1)
    out["build_ratio_vs_hnswlib_int8"] = ratio((quant or {}).get("build_seconds"), (hn or {}).get("build_seconds"))
    out["build_ratio_vs_hnswlib_1m"] = ratio(
        (big.get("recdb") or {}).get("build_seconds"), (big.get("hnswlib") or {}).get("build_seconds"))
    out["build_ratio_vs_hnswlib_1m_int8"] = ratio(
        (big.get("recdb_int8") or {}).get("build_seconds"), (big.get("hnswlib") or {}).get("build_seconds"))
    out["filtered_min_recall_at_10"] = rnd(min_filtered(quant), 4) if quant else out["filtered_min_recall_at_10"]
    out["filtered_min_recall_at_10_float32"] = rnd(min_filtered(rec), 4)
    real = sets.get("real384", {})
    out["recall_at_10_real384"] = rnd(((at_target(real.get("recdb_int8")) or {}).get("recall")), 4)
    if loads:
        out["loadavg"] = loads
    for lib in LIBS:
        r = mix.get(lib)
        p = "" if lib == "recdb" else lib + "_"
        if lib not in RECDB:
            out[p + "recall_at_10"] = rnd(best_recall(r), 4)
            out[p + "filtered_min_recall_at_10"] = rnd(min_filtered(r), 4)
            out[p + "open_ms_1m"] = rnd((big.get(lib) or {}).get("open_ms"), 3)
            out[p + "churn_recall_at_10"] = churn(r)
        out[lib + "_qps_at_095"] = rnd(q(lib), 1)
        out[lib + "_ef_at_095"] = (t[lib] or {}).get("ef")
        out[lib + "_build_seconds"] = rnd((r or {}).get("build_seconds"), 3)
        out[lib + "_bytes_per_vector"] = rnd((r or {}).get("bytes_per_vector"), 1)
        out[lib + "_build_seconds_1m"] = rnd((big.get(lib) or {}).get("build_seconds"), 3)
    per = {}
    for name, r in sets.items():
        per[name] = {}
        for lib, x in r.items():
            tt = at_target(x) or {}
            per[name][lib] = {"best_recall": rnd(best_recall(x), 4), "ef_at_095": tt.get("ef"),
                              "qps_at_095": rnd(tt.get("qps"), 1), "build_seconds": rnd(x.get("build_seconds"), 3),
                              "bytes_per_vector": rnd(x.get("bytes_per_vector"), 1),
                              "open_ms": rnd(x.get("open_ms"), 3), "first_query_ms": rnd(x.get("first_query_ms"), 3)}
            if x.get("filtered"):
                per[name][lib]["filtered_min_recall"] = rnd(min_filtered(x), 4)
    out["sets"] = per
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True)
    ap.add_argument("--data", help="data folder (for NAME.meta.json descriptions)")
    ap.add_argument("--skipped-1m", action="store_true")
    ap.add_argument("--loadavg", action="append", default=[], help="a /proc/loadavg line to quote (start, end)")
    a = ap.parse_args()
    sets, rounds = load(a.results)
    names = [n for n in ORDER if n in sets] + sorted(n for n in sets if n not in ORDER)
    print("ANN benchmark: RecDB vs hnswlib and faiss IndexHNSWFlat, M=16, efConstruction=200, build on 2 threads, search single-threaded; QPS and latency from "
          "one query per call (batch of 1), wall time. The Python peers pay a few µs of binding overhead per call: "
          "'QPS batch' is one 1000-query call on one thread, the library's own speed.")
    if "recdb" not in {lib for r in sets.values() for lib in r}:
        print("RecDB: no results (the Swift bench was not run): peers only.")
    for n in names:
        print_set(n, sets[n], a.data)
    print()
    for name in names:
        for lib in ("recdb_int8", "recdb_float16", "recdb"):
            rs = round_ratios(rounds, name, lib)
            if rs:
                print(f"{name}: {LABEL[lib]} QPS / hnswlib QPS at recall@10 >= {TARGET}, per interleaved round: "
                      + ", ".join(f"{x:.3f}" for x in rs) + f" (median {median(rs):.3f})")
    print("machine load average (1, 5, 15 min) at start and end: " + " | ".join(a.loadavg)
          + " — other jobs share this machine: ratios from interleaved rounds are what count")
    print(json.dumps(summary(sets, a.skipped_1m, rounds, a.loadavg), separators=(",", ":")))


if __name__ == "__main__":
    main()
