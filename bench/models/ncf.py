#!/usr/bin/env python3
"""NCF (GMF, MLP, NeuMF) against ALS, BPR and EASE with settings chosen on the validation split only, through recctl.

  bench/models/ncf.py --recctl PATH --work DIR --sets ml-100k,sports [--quick]

Per data set: one database (ml-100k through `recctl import movielens`; Amazon Sports, one line per user
`user item item ...` in time order, converted to an events CSV with increasing timestamps and imported through
`recctl import csv --kind events`), then for every model a small grid scored by `recctl eval --validation`
(leave-last-out: the last item is the test, the one before it validation; full ranking, K=10), and the setting
with the best validation NDCG@10 trained again and scored once on the test part. Writes NAME.ncf.json per data
set into DIR/results, prints a table, and as its last line one JSON object (ndcg10_ncf, ndcg10_als, ...).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

DATASETS = "/work/shared/datasets"


def load():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def say(*args):
    print("bench/models/ncf:", *args, file=sys.stderr, flush=True)


def make_db(recctl, name, work):
    db = os.path.join(work, f"{name}.ncf.recdb")
    if os.path.exists(os.path.join(db, "ready")):
        return db
    subprocess.run(["rm", "-rf", db], check=True)
    subprocess.run([recctl, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
    if name == "ml-100k":
        subprocess.run([recctl, "import", "movielens", f"{DATASETS}/ml-100k", "--db", db, "--nosync"], check=True,
                       stdout=subprocess.DEVNULL)
    elif name == "sports":
        csv = os.path.join(work, "sports-events.csv")
        t = 1_500_000_000
        with gzip.open(f"{DATASETS}/amazon-sports-s3rec/Sports_and_Outdoors.txt.gz", "rt") as f, \
                open(csv, "w") as out:
            out.write("user,item,time\n")
            for line in f:
                parts = line.split()
                if len(parts) < 2:
                    continue
                for item in parts[1:]:
                    t += 1  # increasing timestamps keep each user's order
                    out.write(f"u{parts[0]},i{item},{t}\n")
        subprocess.run([recctl, "import", "csv", csv, "--kind", "events", "--type", "purchase", "--db", db,
                        "--nosync"], check=True, stdout=subprocess.DEVNULL)
    else:
        say(f"no NCF bench for data set {name} (known: ml-100k, sports): skipped")
        return None
    open(os.path.join(db, "ready"), "w").close()
    return db


def evaluate(recctl, db, model, args, validation):
    cmd = [recctl, "eval", "--db", db, "--models", model, "--json", "--threads", "2", "-k", "10"] + args
    if validation:
        cmd.append("--validation")
    started = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {out.stderr.strip()[-500:]}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{") or line.startswith("[")]
    result = json.loads(lines[-1])
    row = result["results"][0]
    return {"ndcg": row.get("ndcg"), "hit_rate": row.get("hitRate"), "recall": row.get("recall"),
            "training_seconds": row.get("training_seconds"), "wall_seconds": round(time.time() - started, 1),
            "load": load()}


def grids(name, quick):
    als = [["--factors", str(f), "--regularization", str(r), "--alpha", str(a)]
           for f in (64, 128) for r in (0.01, 0.1, 1, 10) for a in (1, 10)]
    bpr = [["--factors", "64", "--learning-rate", str(lr), "--regularization", str(r)]
           for lr in (0.01, 0.05) for r in (0.001, 0.01)]
    factors = (8, 32) if not quick else (16,)
    ncf = {v: [["--variant", v, "--factors", str(f)] for f in factors] for v in ("gmf", "mlp", "neumf")}
    if name == "sports":
        # 35,598 users x 18,357 items: Adam updates every embedding row each step, so batches of 256 cost about
        # 45x ml-100k's epoch; larger batches (and a larger rate) keep a run within minutes. One setting per variant.
        big = ["--factors", "32", "--batch-size", "2048", "--learning-rate", "0.005"]
        ncf = {v: [["--variant", v] + big] for v in ("gmf", "mlp", "neumf")}
    # EASE's λ on the Gram diagonal: the grid around each set's best in README's λ table (ml-100k 500, Sports 50).
    ease = [["--lambda", str(v)] for v in ((100, 250, 500, 1000) if name == "ml-100k" else (25, 50, 100, 250))]
    if quick:
        ease = ease[1:3]
        als = als[:4]
        bpr = bpr[:2]
    # RecDB's defaults, for reference (one point: "chosen" trivially).
    return {"als": als, "bpr": bpr, "ease": ease, "als-default": [[]], "bpr-default": [[]],
            **{f"ncf-{v}": g for v, g in ncf.items()}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--recctl", required=True)
    p.add_argument("--work", default="bench/out/models")
    p.add_argument("--sets", default="ml-100k")
    p.add_argument("--models", default="als,bpr,ease,als-default,bpr-default,ncf-gmf,ncf-mlp,ncf-neumf")
    p.add_argument("--quick", action="store_true", help="smaller grids")
    a = p.parse_args()
    os.makedirs(os.path.join(a.work, "results"), exist_ok=True)
    summary = {"cpu": cpu_model(), "load_start": load(), "datasets": {}}
    for name in a.sets.split(","):
        db = make_db(a.recctl, name, a.work)
        if db is None:
            continue
        per = {}
        for model, grid in grids(name, a.quick).items():
            if model not in a.models.split(","):
                continue
            kind = "ncf" if model.startswith("ncf") else model.split("-")[0]
            tried = []
            for args in grid:
                r = evaluate(a.recctl, db, kind, args, validation=True)
                say(f"{name} {model} {' '.join(args)}: validation NDCG@10 {r['ndcg']:.4f} "
                    f"({r['wall_seconds']} s, load {r['load']})")
                tried.append((r["ndcg"], args, r))
            best = max(tried, key=lambda t: t[0])
            test = evaluate(a.recctl, db, kind, best[1], validation=False)
            say(f"{name} {model} best {' '.join(best[1])}: test NDCG@10 {test['ndcg']:.4f}")
            per[model] = {"settings": " ".join(best[1]), "validation_ndcg10": best[0], "test": test,
                          "grid": [{"settings": " ".join(t[1]), "validation_ndcg10": t[0]} for t in tried]}
            path = os.path.join(a.work, "results", f"{name}.ncf.json")
            merged = json.load(open(path)) if os.path.exists(path) else {}
            merged.update(per)
            with open(path, "w") as f:
                json.dump(merged, f, indent=1)
        path = os.path.join(a.work, "results", f"{name}.ncf.json")
        # Every model measured on this data set so far (runs with --models add to the file).
        summary["datasets"][name] = json.load(open(path)) if os.path.exists(path) else per
    summary["load_end"] = load()
    print(f"{'data set':<10} {'model':<10} {'val NDCG@10':>11} {'test NDCG@10':>12} {'HR@10':>7} {'train s':>8}  "
          "settings (chosen on validation)")
    line = {"cpu": summary["cpu"], "load_start": summary["load_start"], "load_end": summary["load_end"]}
    for name, per in summary["datasets"].items():
        for model, r in per.items():
            t = r["test"]
            print(f"{name:<10} {model:<10} {r['validation_ndcg10']:>11.4f} {t['ndcg']:>12.4f} "
                  f"{(t['hit_rate'] or 0):>7.4f} {(t['training_seconds'] or 0):>8.1f}  {r['settings']}")
            prefix = "" if name == "ml-100k" else f"{name}_"
            line[f"{prefix}ndcg10_{model.replace('-', '_')}"] = round(t["ndcg"], 4)
        ncfs = {m: r["test"]["ndcg"] for m, r in per.items() if m.startswith("ncf")}
        if ncfs:
            # The NCF variant best on validation is "ncf".
            chosen = max((m for m in per if m.startswith("ncf")), key=lambda m: per[m]["validation_ndcg10"])
            prefix = "" if name == "ml-100k" else f"{name}_"
            line[f"{prefix}ndcg10_ncf"] = round(per[chosen]["test"]["ndcg"], 4)
            line[f"{prefix}ncf_variant"] = chosen
            if "als" in per:
                line[f"{prefix}ncf_over_als"] = round(per[chosen]["test"]["ndcg"] / per["als"]["test"]["ndcg"], 3)
    print(json.dumps(line, separators=(",", ":")))


if __name__ == "__main__":
    main()
