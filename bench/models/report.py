#!/usr/bin/env python3
"""Prints bench/models' tables from the evaluation results (NAME.json, written by `recdb-models evaluate`) and the
alternating timing rounds (NAME.times.json), then, as the last line, one JSON object.

  report.py --results DIR --sets ml-100k,online-retail [--primary ml-100k]

Training seconds are the best (smallest) wall time over every run of a model: the evaluation runs and the timing
rounds, which alternate RecDB and implicit so both see the same load. The JSON's top-level figures are the primary
data set's (ml-100k); `datasets` holds every data set's.
"""
import argparse
import json
import os
import sys

RECDB = ("popularity", "itemknn", "als", "bpr")
REFERENCES = ("ease", "puresvd")


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def rnd(x, nd=4):
    x = num(x)
    return None if x is None else round(x, nd)


def ratio(a, b, nd=3):
    a, b = num(a), num(b)
    return round(a / b, nd) if a is not None and b else None


def fmt(x, spec=".4f", width=7):
    x = num(x)
    return f"{'-':>{width}}" if x is None else f"{x:>{width}{spec}}"


def key_of(model):
    """A model's key: RecDB's by family (als, bpr, ...), the peers by name (implicit-als, ease, puresvd)."""
    return model["family"] if model.get("source") == "recdb" else model["model"]


def load(results, name):
    with open(os.path.join(results, f"{name}.json")) as f:
        result = json.load(f)
    times = {}
    path = os.path.join(results, f"{name}.times.json")
    if os.path.exists(path):
        with open(path) as f:
            times = json.load(f)
    models = {}
    for m in result["models"]:
        key = key_of(m)
        runs = list(m.get("train_seconds_runs") or []) + list(times.get(key) or [])
        m["train_seconds_all"] = runs
        m["train_seconds"] = min(runs) if runs else m.get("train_seconds")
        models[key] = m
    result["by_key"] = models
    path = os.path.join(results, f"{name}.ncf.json")
    if os.path.exists(path):  # bench/models/ncf.py (MODELS_NCF=1)
        with open(path) as f:
            result["ncf"] = json.load(f)
    return result


def describe(m):
    p = m.get("params") or {}
    if m["model"] == "ease":
        return f"λ={p.get('lambda'):g}"
    if m["model"] == "puresvd":
        return f"rank {p.get('rank')}"
    if m.get("family") == "itemknn":
        return f"k={p.get('neighbours')}"
    if m.get("family") in ("als", "bpr"):
        return f"{len(m.get('ndcg_runs') or [])} seeds"
    return ""


def table(name, r):
    print(f"\n{name} ({r['split']}): {r['users']:,} users x {r['items']:,} items, {r['train_pairs']:,} training pairs "
          f"from {r['train_events']:,} of {r['events']:,} events; {r['test_users']:,} test users; K=10, "
          f"{r['threads']} threads")
    head = (f"{'model':<14} {'from':<8} {'P@10':>7} {'R@10':>7} {'F1@10':>7} {'NDCG@10':>7} {'MRR@10':>7} "
            f"{'HR@10':>7} {'cover':>7} {'divers':>7} {'novelty':>7} {'cold NDCG':>14} {'train s':>8} "
            f"{'val NDCG':>8}  setting")
    print(head)
    print("-" * len(head))
    for m in r["models"]:
        cold = m.get("coldStart")
        cold_text = f"{cold['ndcg']:.4f} ({int(cold['users'])})" if cold else "-"
        print(f"{m['model']:<14} {m['source']:<8} {fmt(m.get('precision'))} {fmt(m.get('recall'))} {fmt(m.get('f1'))} "
              f"{fmt(m.get('ndcg'))} {fmt(m.get('mrr'))} {fmt(m.get('hitRate'))} {fmt(m.get('coverage'))} "
              f"{fmt(m.get('diversity'))} {fmt(m.get('novelty'), '.2f')} {cold_text:>14} "
              f"{fmt(m.get('train_seconds'), '.3f', 8)} {fmt(m.get('validation_ndcg'), '.4f', 8)}  {describe(m)}")
    b = r["by_key"]
    for family in ("als", "bpr"):
        ours, theirs = b.get(family), b.get(f"implicit-{family}")
        if ours and theirs:
            print(f"RecDB {family.upper()} vs implicit: NDCG@10 x{ratio(ours['ndcg'], theirs['ndcg']):.3f}, "
                  f"training time x{ratio(ours['train_seconds'], theirs['train_seconds']):.3f} "
                  f"(best of {len(ours['train_seconds_all'])} vs {len(theirs['train_seconds_all'])} runs; "
                  f"> 1 = RecDB slower)")
    for m in r["models"]:
        if m.get("candidates"):
            tried = ", ".join(f"{describe({**m, 'params': c['params']})}: {c['validation_ndcg']:.4f}"
                              for c in m["candidates"])
            print(f"{m['model']} tuned on validation NDCG@10: {tried}")


def ncf_summary(per):
    """Keys of bench/models/ncf.py's results (NAME.ncf.json: each model's grid chosen on validation, one test run):
    ndcg10_ncf (the NCF variant best on validation), ndcg10_ncf_gmf/_mlp/_neumf, ndcg10_als_tuned, ndcg10_bpr_tuned."""
    if not per:
        return {}
    out = {}
    for model, r in per.items():
        out[f"ndcg10_{model.replace('-', '_')}"] = rnd(r["test"]["ndcg"])
    if "als" in per:
        out["ndcg10_als_tuned"] = out.pop("ndcg10_als")
    if "bpr" in per:
        out["ndcg10_bpr_tuned"] = out.pop("ndcg10_bpr")
    out.pop("ndcg10_als_default", None)
    out.pop("ndcg10_bpr_default", None)
    variants = [m for m in per if m.startswith("ncf-")]
    if variants:
        chosen = max(variants, key=lambda m: per[m]["validation_ndcg10"])
        out["ndcg10_ncf"] = rnd(per[chosen]["test"]["ndcg"])
        out["ncf_variant"] = chosen
        out["ncf_settings"] = per[chosen]["settings"]
        if "als" in per:
            out["ndcg_ratio_ncf_vs_als_tuned"] = ratio(per[chosen]["test"]["ndcg"], per["als"]["test"]["ndcg"])
    return out


def summary(r):
    b = r["by_key"]

    def ndcg(key):
        return rnd(b[key]["ndcg"]) if key in b else None

    def seconds(key):
        return rnd(b[key]["train_seconds"], 4) if key in b else None

    ours = [k for k in RECDB if k in b]
    refs = [k for k in REFERENCES if k in b]
    peers = [k for k in b if k not in RECDB]
    best = max(ours, key=lambda k: b[k]["ndcg"]) if ours else None
    best_ref = max(refs, key=lambda k: b[k]["ndcg"]) if refs else None
    best_peer = max(peers, key=lambda k: b[k]["ndcg"]) if peers else None
    out = {
        "ndcg10_als": ndcg("als"), "ndcg10_implicit_als": ndcg("implicit-als"),
        "ndcg10_bpr": ndcg("bpr"), "ndcg10_implicit_bpr": ndcg("implicit-bpr"),
        "ndcg10_best": ndcg(best) if best else None, "best_model": best,
        "ndcg10_best_reference": ndcg(best_ref) if best_ref else None, "best_reference": best_ref,
        "ndcg10_best_peer": ndcg(best_peer) if best_peer else None, "best_peer": best_peer,
        "ndcg10_ease": ndcg("ease"), "ndcg10_puresvd": ndcg("puresvd"),
        "ndcg_ratio_als_vs_implicit": ratio(b.get("als", {}).get("ndcg"), b.get("implicit-als", {}).get("ndcg")),
        "ndcg_ratio_bpr_vs_implicit": ratio(b.get("bpr", {}).get("ndcg"), b.get("implicit-bpr", {}).get("ndcg")),
        "train_ratio_als_vs_implicit": ratio(seconds("als"), seconds("implicit-als")),
        "train_ratio_bpr_vs_implicit": ratio(seconds("bpr"), seconds("implicit-bpr")),
        "train_seconds_als": seconds("als"), "train_seconds_implicit_als": seconds("implicit-als"),
        "train_seconds_bpr": seconds("bpr"), "train_seconds_implicit_bpr": seconds("implicit-bpr"),
    }
    out.update(ncf_summary(r.get("ncf")))
    out["split"] = r["split"]
    out["threads"] = r.get("threads")
    out["test_users"] = r["test_users"]
    out["train_pairs"] = r["train_pairs"]
    out["models"] = {
        k: {
            "source": m["source"], "precision": rnd(m.get("precision")), "recall": rnd(m.get("recall")),
            "f1": rnd(m.get("f1")), "ndcg": rnd(m.get("ndcg")), "mrr": rnd(m.get("mrr")),
            "hit_rate": rnd(m.get("hitRate")), "coverage": rnd(m.get("coverage")),
            "diversity": rnd(m.get("diversity")), "novelty": rnd(m.get("novelty"), 3),
            "cold_ndcg": rnd((m.get("coldStart") or {}).get("ndcg")),
            "cold_users": (m.get("coldStart") or {}).get("users"),
            "validation_ndcg": rnd(m.get("validation_ndcg")),
            "ndcg_runs": [rnd(x) for x in m.get("ndcg_runs") or []],
            "train_seconds": rnd(m.get("train_seconds"), 4),
            "train_seconds_runs": [rnd(x, 4) for x in m.get("train_seconds_all") or []],
            "params": m.get("params"),
        }
        for k, m in b.items()
    }
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", required=True)
    parser.add_argument("--sets", default="ml-100k,online-retail")
    parser.add_argument("--primary", default="ml-100k")
    parser.add_argument("--load-start", default="", help="1-minute load average before the run (/proc/loadavg)")
    parser.add_argument("--load-end", default="", help="the same after it")
    args = parser.parse_args()
    datasets, environment = {}, None
    for name in filter(None, args.sets.split(",")):
        try:
            r = load(args.results, name)
        except (OSError, ValueError, KeyError) as e:
            print(f"report: no result for {name}: {e}", file=sys.stderr)
            continue
        table(name, r)
        datasets[name] = summary(r)
        environment = environment or r.get("peers")
    primary = datasets.get(args.primary) or (next(iter(datasets.values())) if datasets else {})
    line = {k: v for k, v in primary.items() if k != "models"}
    line["primary"] = args.primary if args.primary in datasets else next(iter(datasets), None)
    line["threads"] = primary.get("threads")
    line["timing"] = "best wall time over the evaluation runs and the alternating timing rounds"
    line["peers"] = environment
    loads = {}
    for key, text in (("loadavg_start", args.load_start), ("loadavg_end", args.load_end)):
        try:
            loads[key] = float(text)
        except ValueError:
            loads[key] = None
    line.update(loads)
    if (loads["loadavg_start"] or 0) > 1.0:
        print(f"warning: the 1-minute load average was {loads['loadavg_start']:.2f} before the run on this 2-core "
              "machine: the training times are not comparable (implicit's OpenMP threads lose far more than RecDB's "
              "under contention); run again on an idle machine", file=sys.stderr)
        print(f"(training times taken under load {loads['loadavg_start']:.2f}: see the warning on standard error)")
    line["datasets"] = datasets
    print()
    print(json.dumps(line, separators=(",", ":")))


if __name__ == "__main__":
    main()
