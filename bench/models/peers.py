#!/usr/bin/env python3
"""The peers of bench/models, trained on the training matrix that `recdb-models export` wrote:

- implicit's ALS and BPR (CPU, 2 threads) with RecDB's settings, read from the export's meta.json;
- EASE (Steck 2019) and PureSVD (Cremonesi et al. 2010) in numpy/scipy, a few settings each: the Swift side picks
  the one with the best validation NDCG@10 and reports it on the test part.

Writes factor and item-item matrices as .npy files and peers.json (what to load, training seconds) into --out.
Scoring and metrics happen in the Swift evaluator, not here.

  peers.py --export DIR --out DIR [--threads 2] [--repeats 3] [--ease-lambdas 50,100,200,500,1000]
           [--svd-ranks 16,32,64,128] [--skip ease,puresvd]
  peers.py --export DIR --time-only TIMES.json [--threads 2]
           trains implicit's ALS and BPR once each (seed 42) and appends their seconds to TIMES.json
           (`run` alternates this with `recdb-models time`, so both sides are timed under the same load)
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import scipy
import scipy.sparse as sp
import scipy.sparse.linalg
import threadpoolctl

import implicit
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking


def say(message):
    print(f"bench/models peers: {message}", file=sys.stderr, flush=True)


def load(export):
    with open(os.path.join(export, "meta.json")) as f:
        meta = json.load(f)
    users = np.load(os.path.join(export, "train_users.npy"))
    items = np.load(os.path.join(export, "train_items.npy"))
    weights = np.load(os.path.join(export, "train_weights.npy"))
    assert len(users) == len(items) == len(weights) == meta["nnz"], "export files disagree with meta.json"
    matrix = sp.csr_matrix((weights.astype(np.float32), (users, items)), shape=(meta["users"], meta["items"]))
    matrix.sort_indices()
    assert matrix.nnz == meta["nnz"], "duplicate pairs in the export"
    return meta, matrix


def save(out, name, array):
    path = f"{name}.npy"
    np.save(os.path.join(out, path), np.ascontiguousarray(array, dtype=np.float32))
    return path


def factor_runs(out, stem, fit, repeats, bias=False):
    """Trains `repeats` times with seeds 42, 43, …, saving each run's factors; returns the runs and their times."""
    runs = []
    for run in range(repeats):
        model = None
        t0 = time.perf_counter()
        model = fit(42 + run)
        seconds = time.perf_counter() - t0
        runs.append({
            "seed": 42 + run, "seconds": seconds,
            "user_factors": save(out, f"{stem}.run{run}.users", model.user_factors),
            "item_factors": save(out, f"{stem}.run{run}.items", model.item_factors),
        })
        if bias:
            assert model.item_factors.shape[1] == model.factors + 1, model.item_factors.shape
    times = [r["seconds"] for r in runs]
    say(f"{stem}: best {min(times):.3f} s, median {np.median(times):.3f} s "
        f"(runs {', '.join(f'{t:.3f}' for t in times)})")
    return runs


def implicit_fits(meta, matrix, threads):
    a, b = meta["als"], meta["bpr"]

    def fit_als(seed):
        model = AlternatingLeastSquares(
            factors=a["factors"], regularization=a["regularization"], alpha=a["alpha"], iterations=a["iterations"],
            use_native=True, use_cg=True, calculate_training_loss=False, num_threads=threads, random_state=seed)
        model.cg_steps = a["cg_steps"]
        model.fit(matrix, show_progress=False)
        return model

    def fit_bpr(seed):
        model = BayesianPersonalizedRanking(
            factors=b["factors"], learning_rate=b["learning_rate"], regularization=b["regularization"],
            iterations=b["iterations"], num_threads=threads, verify_negative_samples=True, random_state=seed)
        model.fit(matrix, show_progress=False)
        return model

    return fit_als, fit_bpr


def train_implicit(meta, matrix, out, threads, repeats):
    a, b = meta["als"], meta["bpr"]
    fit_als, fit_bpr = implicit_fits(meta, matrix, threads)
    # implicit's own advice: its native loops call BLAS per row, so BLAS itself runs on one thread (the model's
    # threads are OpenMP's, num_threads).
    with threadpoolctl.threadpool_limits(1, "blas"):
        als_runs = factor_runs(out, "implicit_als", fit_als, repeats)
        # implicit's BPR keeps factors + 1 columns: users' last is 1, items' is the item bias (as RecDB's BPR).
        bpr_runs = factor_runs(out, "implicit_bpr", fit_bpr, repeats, bias=True)
    return [
        {"name": "implicit-als", "source": "implicit", "family": "als", "kind": "factors", "runs": als_runs,
         "params": {**a, "use_cg": True, "threads": threads}},
        {"name": "implicit-bpr", "source": "implicit", "family": "bpr", "kind": "factors", "bias_column": True,
         "runs": bpr_runs, "params": {**b, "verify_negative_samples": True, "threads": threads}},
    ]


def train_implicit_bpr_grid(matrix, out, grid, threads):
    """implicit's BPR at each `factors:learning_rate:regularization:iterations` of `grid` (seed 42): candidates of
    one tune group, so the Swift side keeps the setting best on validation and reports it on test."""
    entries = []
    for setting in grid:
        factors, lr, reg, iterations = setting.split(":")

        def fit(seed, factors=int(factors), lr=float(lr), reg=float(reg), iterations=int(iterations)):
            model = BayesianPersonalizedRanking(
                factors=factors, learning_rate=lr, regularization=reg, iterations=iterations, num_threads=threads,
                verify_negative_samples=True, random_state=seed)
            model.fit(matrix, show_progress=False)
            return model

        with threadpoolctl.threadpool_limits(1, "blas"):
            runs = factor_runs(out, f"implicit_bpr.{setting.replace(':', '_')}", fit, 1, bias=True)
        entries.append({
            "name": "implicit-bpr-tuned", "source": "implicit", "family": "bpr", "kind": "factors",
            "bias_column": True, "tune": "implicit-bpr-tuned", "runs": runs,
            "params": {"factors": int(factors), "learning_rate": float(lr), "regularization": float(reg),
                       "iterations": int(iterations), "verify_negative_samples": True, "threads": threads},
        })
    return entries


def binary(matrix):
    x = matrix.copy()
    x.data = np.ones_like(x.data, dtype=np.float64)
    return x.astype(np.float64)


def train_ease(matrix, out, lambdas, threads):
    """EASE: B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹, X binary; one candidate per λ (timed with XᵀX)."""
    entries = []
    x = binary(matrix)
    with threadpoolctl.threadpool_limits(threads):
        for lam in lambdas:
            t0 = time.perf_counter()
            gram = (x.T @ x).toarray()
            gram[np.diag_indices_from(gram)] += lam
            p = np.linalg.inv(gram)
            weights = p / (-np.diag(p))
            weights[np.diag_indices_from(weights)] = 0
            seconds = time.perf_counter() - t0
            name = f"ease.l{lam:g}"
            say(f"EASE λ={lam:g}: {seconds:.3f} s")
            entries.append({
                "name": "ease", "source": "numpy", "family": "ease", "kind": "item-item", "tune": "ease",
                "runs": [{"matrix": save(out, name, weights), "seconds": seconds}],
                "params": {"lambda": lam, "binary": True},
            })
    return entries


def train_puresvd(matrix, out, ranks, threads):
    """PureSVD: X ≈ U Σ Vᵀ (X binary, truncated to rank r); user rows U Σ, item rows V, so score = x_u V Vᵀ."""
    entries = []
    x = binary(matrix)
    with threadpoolctl.threadpool_limits(threads):
        for rank in ranks:
            rank = min(rank, min(x.shape) - 1)
            t0 = time.perf_counter()
            u, s, vt = scipy.sparse.linalg.svds(x, k=rank, v0=np.full(min(x.shape), 1 / np.sqrt(min(x.shape))))
            order = np.argsort(-s)
            users, items = u[:, order] * s[order], vt[order].T
            seconds = time.perf_counter() - t0
            say(f"PureSVD rank {rank}: {seconds:.3f} s")
            entries.append({
                "name": "puresvd", "source": "numpy", "family": "puresvd", "kind": "factors", "tune": "puresvd",
                "runs": [{"user_factors": save(out, f"puresvd.r{rank}.users", users),
                          "item_factors": save(out, f"puresvd.r{rank}.items", items), "seconds": seconds}],
                "params": {"rank": rank, "binary": True},
            })
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", required=True)
    parser.add_argument("--out")
    parser.add_argument("--time-only", metavar="TIMES.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ease-lambdas", default="50,100,200,500,1000")
    parser.add_argument("--svd-ranks", default="16,32,64,128")
    parser.add_argument("--skip", default="", help="comma-separated: implicit, ease, puresvd")
    parser.add_argument("--bpr-grid", default="",
                        help="comma-separated factors:learning_rate:regularization:iterations settings of implicit's "
                             "BPR, one tune group (the Swift side keeps the best on validation)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    meta, matrix = load(args.export)
    if args.time_only:
        times = {}
        if os.path.exists(args.time_only):
            with open(args.time_only) as f:
                times = json.load(f)
        fit_als, fit_bpr = implicit_fits(meta, matrix, args.threads)
        warm_als, warm_bpr = implicit_fits(
            {"als": {**meta["als"], "iterations": 1}, "bpr": {**meta["bpr"], "iterations": 1}}, matrix, args.threads)
        with threadpoolctl.threadpool_limits(1, "blas"):
            warm_als(42)  # untimed: thread pools and first-touch costs, as the Swift side does
            warm_bpr(42)
            for name, fit in (("implicit-als", fit_als), ("implicit-bpr", fit_bpr)):
                t0 = time.perf_counter()
                fit(42)
                seconds = time.perf_counter() - t0
                times.setdefault(name, []).append(seconds)
                say(f"{name}: {seconds:.3f} s")
        with open(args.time_only, "w") as f:
            json.dump(times, f, indent=1)
        return
    if not args.out:
        parser.error("--out is required unless --time-only")
    os.makedirs(args.out, exist_ok=True)
    say(f"{matrix.shape[0]} users x {matrix.shape[1]} items, {matrix.nnz} training pairs ({meta['split']})")
    models = []
    if "implicit" not in skip:
        models += train_implicit(meta, matrix, args.out, args.threads, max(1, args.repeats))
    if "ease" not in skip:
        models += train_ease(matrix, args.out, [float(v) for v in args.ease_lambdas.split(",")], args.threads)
    if args.bpr_grid:
        models += train_implicit_bpr_grid(matrix, args.out, args.bpr_grid.split(","), args.threads)
    if "puresvd" not in skip:
        models += train_puresvd(matrix, args.out, [int(v) for v in args.svd_ranks.split(",")], args.threads)

    blas = [{k: info.get(k) for k in ("internal_api", "version", "architecture", "prefix")}
            for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]
    environment = {
        "implicit": implicit.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
        "python": platform.python_version(), "threads": args.threads, "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    with open(os.path.join(args.out, "peers.json"), "w") as f:
        json.dump({"fingerprint": meta["fingerprint"], "environment": environment, "models": models}, f, indent=1)


if __name__ == "__main__":
    main()
