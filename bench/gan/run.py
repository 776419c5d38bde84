#!/usr/bin/env python3
"""Generative models of issue 15 (and tuned BPR of issue 14), every setting chosen on the validation split only,
scored once on the test split by RecDB's Evaluator (`recctl eval`, leave-last-out, full ranking, K=10).

  bench/gan/run.py --recctl PATH [--work DIR] [--parts bpr,irgan,cfgan] [--sets ml-100k,sports] [--cfgan-sets ...]

Parts:
  bpr    RecDB's BPR: a grid (learning rate, regularisation, iterations, factors, negative sampling) on validation,
         the best on test (`ndcg10_bpr_tuned`); with --implicit, implicit's BPR over the same grid on the same split
         (bench/models/peers.py and recdb-models, which score implicit's factors with the same Evaluator).
  irgan  IRGAN pre-trained from the chosen BPR: its step size and rounds on validation, test once, beside the BPR it
         started from (`ndcg10_irgan`, `ndcg10_bpr`).
  cfgan  ALS and BPR with CFGAN-synthesised interactions for sparse users: the weight on validation (0 = without),
         test once with and without (`ndcg10_als_cfgan` vs `ndcg10_als`).
Prints a table and, as its last line, one JSON object. Writes DIR/results/gan.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models"))
from ncf import DATASETS, cpu_model, load, make_db  # noqa: E402


def say(*args):
    print("bench/gan:", *args, file=sys.stderr, flush=True)


def db_for(recctl, name, work):
    if name == "office":
        db = os.path.join(work, "office.gan.recdb")
        if not os.path.exists(os.path.join(db, "ready")):
            subprocess.run(["rm", "-rf", db], check=True)
            subprocess.run([recctl, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([recctl, "import", "amazon", f"{DATASETS}/amazon-office-lcrec", "--db", db,
                            "--nosync"], check=True, stdout=subprocess.DEVNULL)
            open(os.path.join(db, "ready"), "w").close()
        return db
    return make_db(recctl, name, work)



def evaluate(recctl, db, model, args, validation):
    cmd = [recctl, "eval", "--db", db, "--models", model, "--json", "--threads", "2", "-k", "10"] + args
    if validation:
        cmd.append("--validation")
    started = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {out.stderr.strip()[-500:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("{")][-1]
    row = json.loads(line)["results"][0]
    return {"ndcg": row["ndcg"], "hit_rate": row.get("hitRate"), "training_seconds": row.get("training_seconds"),
            "wall_seconds": round(time.time() - started, 1), "load": load()}


def choose(recctl, db, name, model, grid, label, known=None):
    """Scores every setting of `grid` on validation (or takes its score from `known`, settings → NDCG@10, measured
    earlier on the same split); the best on test. Returns the record."""
    tried = []
    if len(grid) == 1:
        test = evaluate(recctl, db, model, grid[0], validation=False)
        say(f"{name} {label} only {' '.join(grid[0])}: test NDCG@10 {test['ndcg']:.4f}")
        return {"settings": grid[0], "validation_ndcg10": None, "test": test, "grid": []}
    for args in grid:
        if known and " ".join(args) in known:
            tried.append((known[" ".join(args)], args))
            say(f"{name} {label} {' '.join(args)}: validation NDCG@10 {tried[-1][0]:.4f} (measured earlier)")
            continue
        r = evaluate(recctl, db, model, args, validation=True)
        say(f"{name} {label} {' '.join(args) or '(defaults)'}: validation NDCG@10 {r['ndcg']:.4f} "
            f"({r['wall_seconds']} s, load {r['load']})")
        tried.append((r["ndcg"], args))
    best = max(tried, key=lambda t: t[0])
    test = evaluate(recctl, db, model, best[1], validation=False)
    say(f"{name} {label} chosen {' '.join(best[1]) or '(defaults)'}: test NDCG@10 {test['ndcg']:.4f}")
    return {"settings": best[1], "validation_ndcg10": best[0], "test": test,
            "grid": [{"settings": " ".join(a), "validation_ndcg10": v} for v, a in tried]}


# factors:learning_rate:regularization:iterations. The same grid for RecDB and implicit; Sports needs many more
# epochs than ml-100k (8 items per user against 106), so its grid reaches further.
BPR_GRIDS = {
    "ml-100k": ["64:0.01:0.01:100", "64:0.01:0.001:100", "128:0.01:0.01:100", "64:0.05:0.01:100", "64:0.01:0.01:300"],
    "sports": ["64:0.05:0.01:100", "128:0.05:0.01:300", "128:0.1:0.01:300", "128:0.05:0.01:1000"],
}


def bpr_grid(name, quick):
    grid = [["--factors", f, "--learning-rate", lr, "--regularization", reg, "--iterations", it]
            for f, lr, reg, it in (g.split(":") for g in BPR_GRIDS.get(name, BPR_GRIDS["ml-100k"]))]
    return grid[:2] if quick else grid


def implicit_tuned(args, name, db, grid):
    """implicit's BPR over `grid` (64 factors as RecDB's), through the export and the Swift evaluator."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    bench = subprocess.run(["swift", "build", "-c", "release", "--package-path", f"{root}/bench/models/swift",
                            "--show-bin-path"], capture_output=True, text=True, check=True).stdout.strip()
    tool = os.path.join(bench, "recdb-models")
    export, peers = os.path.join(args.work, f"{name}.export"), os.path.join(args.work, f"{name}.peers")
    subprocess.run([tool, "export", "--db", db, "--split", "leave-last-out", "--out", export], check=True)
    spec = ",".join(f"{g[1]}:{g[3]}:{g[5]}:{g[7]}" for g in grid)
    py = os.path.join(root, "bench", ".venv", "bin", "python")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    subprocess.run([py, f"{root}/bench/models/peers.py", "--export", export, "--out", peers, "--threads", "2",
                    "--repeats", "1", "--skip", "implicit,ease,puresvd", "--bpr-grid", spec], check=True, env=env)
    result = os.path.join(args.work, f"{name}.implicit.json")
    subprocess.run([tool, "evaluate", "--db", db, "--split", "leave-last-out", "--peers", peers, "--threads", "2",
                    "--repeats", "1", "--name", name, "--out", result], check=True)
    with open(result) as f:
        models = json.load(f)["models"]
    row = next(m for m in models if m.get("source") == "implicit" and m.get("family") == "bpr")
    recdb = next(m for m in models if m.get("source") == "recdb" and m.get("family") == "bpr")
    return {"test_ndcg10": row["ndcg"], "validation_ndcg10": row.get("validation_ndcg"), "params": row.get("params"),
            "candidates": row.get("candidates"), "recdb_bpr_defaults_same_evaluator": recdb["ndcg"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--recctl", required=True)
    p.add_argument("--work", default="bench/out/gan")
    p.add_argument("--parts", default="bpr,irgan,cfgan")
    p.add_argument("--sets", default="ml-100k,sports")
    p.add_argument("--cfgan-sets", default="ml-100k,office")
    p.add_argument("--implicit", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--results", default="gan.json", help="results file in WORK/results (runs in parallel: one each)")
    p.add_argument("--skip-defaults", action="store_true", help="no test run of BPR at its defaults")
    p.add_argument("--irgan-pretraining", help="JSON {set: 'recctl flags'}: IRGAN's BPR pre-training (default: the "
                   "tuned BPR)")
    p.add_argument("--known", help="JSON {set: {settings: validation NDCG@10}} measured earlier on the same split")
    a = p.parse_args()
    os.makedirs(os.path.join(a.work, "results"), exist_ok=True)
    path = os.path.join(a.work, "results", a.results)
    results = json.load(open(path)) if os.path.exists(path) else {}
    line = {"cpu": cpu_model(), "load_start": load()}
    parts = a.parts.split(",")

    def save():
        with open(path, "w") as f:
            json.dump(results, f, indent=1)

    for name in a.sets.split(","):
        if not ({"bpr", "irgan"} & set(parts)):
            break
        db = db_for(a.recctl, name, a.work)
        per = results.setdefault(name, {})
        if "bpr" in parts:
            grid = bpr_grid(name, a.quick)
            known = json.load(open(a.known)).get(name) if a.known else None
            per["bpr_tuned"] = choose(a.recctl, db, name, "bpr", grid, "bpr", known)
            if not a.skip_defaults:
                per["bpr_default"] = {"test": evaluate(a.recctl, db, "bpr", [], validation=False)}
            if a.implicit:
                per["implicit_bpr_tuned"] = implicit_tuned(a, name, db, grid)
            save()
        if "irgan" in parts:
            pre = per.get("bpr_tuned", {}).get("settings", [])
            if a.irgan_pretraining and name in json.loads(a.irgan_pretraining):
                pre = json.loads(a.irgan_pretraining)[name].split()
            grid = [pre + ["--gan-learning-rate", lr, "--rounds", "5"] for lr in ("0.001", "0.01", "0.05")]
            if name == "sports":
                # One setting: each IRGAN run on Sports costs the BPR pre-training plus the game.
                grid = [pre + ["--gan-learning-rate", "0.01", "--rounds", "2"]]
            if a.quick:
                grid = grid[:1]
            per["irgan"] = choose(a.recctl, db, name, "irgan", grid, "irgan")
            same = per.get("bpr_tuned", {}).get("settings") == pre
            per["irgan_pretraining_bpr"] = {
                "settings": pre, "test": per["bpr_tuned"]["test"] if same else evaluate(a.recctl, db, "bpr", pre, False)}
            save()
    if "cfgan" in parts:
        for name in a.cfgan_sets.split(","):
            db = db_for(a.recctl, name, a.work)
            per = results.setdefault(name, {})
            for model in ("als", "bpr"):
                base = per.get("bpr_tuned", {}).get("settings", []) if model == "bpr" else []
                # Sparse users: at most 5 training items on the Amazon set (5-core); ml-100k has none that sparse
                # (20 ratings or more per user), so there its users with at most 30.
                sparse = ["--augment-sparse-users", "30" if name == "ml-100k" else "5"]
                grid = [base] + [base + ["--augment", "cfgan", "--augment-weight", w] + sparse for w in ("0.3", "1")]
                if a.quick:
                    grid = grid[:2]
                chosen = choose(a.recctl, db, name, model, grid, f"{model} cfgan")
                without = evaluate(a.recctl, db, model, base, validation=False)
                per[f"{model}_cfgan"] = {**chosen, "without": without}
                save()
    line["load_end"] = load()
    print(f"{'set':<8} {'model':<22} {'val NDCG@10':>11} {'test NDCG@10':>12} {'HR@10':>7} {'train s':>8}  settings")
    for name, per in results.items():
        for model, r in per.items():
            if "test" not in r or not isinstance(r["test"], dict):
                continue
            t = r["test"]
            v = r.get("validation_ndcg10")
            print(f"{name:<8} {model:<22} {(v if v is not None else float('nan')):>11.4f} {t['ndcg']:>12.4f} "
                  f"{(t['hit_rate'] or 0):>7.4f} {(t['training_seconds'] or 0):>8.1f}  {' '.join(r.get('settings', []))}")
            prefix = "" if name == "ml-100k" else f"{name}_"
            line[f"{prefix}ndcg10_{model}"] = round(t["ndcg"], 4)
            if "without" in r:
                line[f"{prefix}ndcg10_{model}_without_augmentation"] = round(r["without"]["ndcg"], 4)
        if "implicit_bpr_tuned" in per and per["implicit_bpr_tuned"].get("test_ndcg10"):
            prefix = "" if name == "ml-100k" else f"{name}_"
            imp = per["implicit_bpr_tuned"]["test_ndcg10"]
            line[f"{prefix}ndcg10_implicit_bpr_tuned"] = round(imp, 4)
            if "bpr_tuned" in per:
                line[f"{prefix}bpr_tuned_over_implicit"] = round(per["bpr_tuned"]["test"]["ndcg"] / imp, 3)
    print(json.dumps(line, separators=(",", ":")))


if __name__ == "__main__":
    main()
