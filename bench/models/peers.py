#!/usr/bin/env python3
"""The peers of bench/models, trained on the training matrix that `recdb-models export` wrote:

- implicit's ALS and BPR (CPU, 2 threads) with RecDB's settings, read from the export's meta.json;
- EASE (Steck 2019) and PureSVD (Cremonesi et al. 2010) in numpy/scipy, a few settings each: the Swift side picks
  the one with the best validation NDCG@10 and reports it on the test part.

Writes factor and item-item matrices as .npy files and peers.json (what to load, training seconds) into --out.
Scoring and metrics happen in the Swift evaluator, not here.

  peers.py --export DIR --out DIR [--threads 2] [--repeats 3] [--ease-lambdas 50,100,200,500,1000]
           [--svd-ranks 16,32,64,128] [--skip ease,puresvd]
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


def timed(fit, repeats):
    """Runs fit() `repeats` times; returns the last result and every wall time."""
    seconds, result = [], None
    for _ in range(repeats):
        result = None
        t0 = time.perf_counter()
        result = fit()
        seconds.append(time.perf_counter() - t0)
    return result, seconds


def train_implicit(meta, matrix, out, threads, repeats):
    entries = []
    a = meta["als"]

    def fit_als():
        model = AlternatingLeastSquares(
            factors=a["factors"], regularization=a["regularization"], alpha=a["alpha"], iterations=a["iterations"],
            use_native=True, use_cg=True, calculate_training_loss=False, num_threads=threads, random_state=42)
        model.cg_steps = a["cg_steps"]
        model.fit(matrix, show_progress=False)
        return model

    # implicit's own advice: its native loops call BLAS per row, so BLAS itself runs on one thread.
    with threadpoolctl.threadpool_limits(1, "blas"):
        model, seconds = timed(fit_als, repeats)
    say(f"implicit ALS: {np.median(seconds):.3f} s (runs {', '.join(f'{s:.3f}' for s in seconds)})")
    entries.append({
        "name": "implicit-als", "source": "implicit", "family": "als", "kind": "factors",
        "user_factors": save(out, "implicit_als.users", model.user_factors),
        "item_factors": save(out, "implicit_als.items", model.item_factors),
        "train_seconds": float(np.median(seconds)), "train_seconds_runs": seconds,
        "params": {**a, "use_cg": True, "threads": threads},
    })

    b = meta["bpr"]

    def fit_bpr():
        model = BayesianPersonalizedRanking(
            factors=b["factors"], learning_rate=b["learning_rate"], regularization=b["regularization"],
            iterations=b["iterations"], num_threads=threads, verify_negative_samples=True, random_state=42)
        model.fit(matrix, show_progress=False)
        return model

    with threadpoolctl.threadpool_limits(1, "blas"):
        model, seconds = timed(fit_bpr, repeats)
    # implicit's BPR keeps factors + 1 columns: users' last column is 1, items' is the item bias (as RecDB's BPR).
    assert model.item_factors.shape[1] == b["factors"] + 1, model.item_factors.shape
    say(f"implicit BPR: {np.median(seconds):.3f} s (runs {', '.join(f'{s:.3f}' for s in seconds)})")
    entries.append({
        "name": "implicit-bpr", "source": "implicit", "family": "bpr", "kind": "factors", "bias_column": True,
        "user_factors": save(out, "implicit_bpr.users", model.user_factors),
        "item_factors": save(out, "implicit_bpr.items", model.item_factors),
        "train_seconds": float(np.median(seconds)), "train_seconds_runs": seconds,
        "params": {**b, "verify_negative_samples": True, "threads": threads},
    })
    return entries


def binary(matrix):
    x = matrix.copy()
    x.data = np.ones_like(x.data, dtype=np.float64)
    return x.astype(np.float64)


def train_ease(matrix, out, lambdas, threads):
    """EASE: B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹, X binary; one candidate per λ (the time includes XᵀX)."""
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
                "matrix": save(out, name, weights), "train_seconds": seconds, "train_seconds_runs": [seconds],
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
                "user_factors": save(out, f"puresvd.r{rank}.users", users),
                "item_factors": save(out, f"puresvd.r{rank}.items", items),
                "train_seconds": seconds, "train_seconds_runs": [seconds], "params": {"rank": rank, "binary": True},
            })
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ease-lambdas", default="50,100,200,500,1000")
    parser.add_argument("--svd-ranks", default="16,32,64,128")
    parser.add_argument("--skip", default="", help="comma-separated: implicit, ease, puresvd")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    meta, matrix = load(args.export)
    os.makedirs(args.out, exist_ok=True)
    say(f"{matrix.shape[0]} users x {matrix.shape[1]} items, {matrix.nnz} training pairs ({meta['split']})")
    models = []
    if "implicit" not in skip:
        models += train_implicit(meta, matrix, args.out, args.threads, max(1, args.repeats))
    if "ease" not in skip:
        models += train_ease(matrix, args.out, [float(v) for v in args.ease_lambdas.split(",")], args.threads)
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
