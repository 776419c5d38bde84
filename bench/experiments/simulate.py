"""Simulated shoppers against a real recd: see bench/experiments/run.

Shop: 300 items in three categories. Shopper s of run r prefers one category (known to the simulator); on a page it
clicks the highest-ranked item of that category (if any) and buys with the true conversion rate of the variant that
served it (so the true difference of conversion rates per user is known exactly), paying the item's price.
Per run: a 50/50 experiment and a Thompson experiment, each with its own shoppers arriving in rounds.
"""
import json
import os
import random
import statistics
import sys
import time

import recdb

socket = sys.argv[1]
runs = int(os.environ.get("EXPERIMENTS_RUNS", "100"))
shoppers = int(os.environ.get("EXPERIMENTS_SHOPPERS", "600"))
rounds = int(os.environ.get("EXPERIMENTS_ROUNDS", "12"))
rates = [float(x) for x in os.environ.get("EXPERIMENTS_RATES", "0.10,0.16").split(",")]
categories = ["Books", "Garden", "Kitchen"]
say = lambda *a: print("bench/experiments:", *a, file=sys.stderr, flush=True)

started = time.time()
db = recdb.Client(socket, timeout=600)
with db.pipeline() as batch:
    for i in range(300):
        batch.query("UPSERT ITEM $i SET title = $t, category = $c, price = $p",
                    i=f"i{i}", t=f"Item {i}", c=categories[i % 3], p=5 + i % 40)
    rng = random.Random(1)
    for u in range(600):
        for _ in range(5):
            batch.query("EVENT view USER $u ITEM $i", u=f"seed{u}", i=f"i{(u % 3) + 3 * rng.randrange(40 if u % 2 else 100)}")
    for s in range(shoppers):
        batch.query("UPSERT USER $u", u=f"shopper{s}")
    batch.execute()
db.query("REFRESH MODEL popularity")
db.query("REFRESH MODEL itemknn")
price = {f"i{i}": 5 + i % 40 for i in range(300)}
category = {f"i{i}": categories[i % 3] for i in range(300)}

experiments = []  # (name, kind, run, rng)
for run in range(runs):
    for kind, allocation in (("split", "SPLIT 50/50"), ("bandit", "ALLOCATION thompson")):
        name = f"{kind}-{run}"
        db.query(f"CREATE EXPERIMENT '{name}' VARIANTS (control: USING popularity, b: USING itemknn) {allocation}")
        experiments.append((name, kind, run, random.Random(run * 2 + (kind == "bandit"))))
regret = {name: 0.0 for name, *_ in experiments}
best = max(rates)
per_round = shoppers // rounds
served = 0
for r in range(rounds):
    with db.pipeline() as batch:
        who = []
        for name, kind, run, rng in experiments:
            for s in range(r * per_round, (r + 1) * per_round):
                user = f"shopper{s}"  # every experiment buckets the same shoppers independently
                batch.query("RECOMMEND 6 ITEMS FOR USER $u IN EXPERIMENT $e", u=user, e=name)
                who.append((name, rng, user, rng.choice(categories)))
        pages = batch.execute()
    served += len(pages)
    with db.pipeline() as batch:
        for (name, rng, user, taste), page in zip(who, pages):
            variant = 0 if page["variant"] == "control" else 1
            regret[name] += best - rates[variant]
            items = [row["id"] for row in page["items"]]
            liked = next((i for i in items if category.get(i) == taste), None)
            rid = page["recommendation_id"]
            if liked is not None:
                batch.query("EVENT click USER $u ITEM $i FROM RECOMMENDATION $r", u=user, i=liked, r=rid)
            if rng.random() < rates[variant]:
                bought = liked or items[0]
                batch.query("EVENT purchase USER $u ITEM $i VALUE $v FROM RECOMMENDATION $r",
                            u=user, i=bought, v=price.get(bought, 10), r=rid)
        if len(batch):
            batch.execute()
    say(f"round {r + 1}/{rounds}: {served} recommendations, {time.time() - started:.0f} s")

truth = rates[1] - rates[0]
covered = covered_always = right_sign = significant = 0
split_regret, bandit_regret, bandit_share_b = [], [], []
table = []
for name, kind, run, _ in experiments:
    report = db.query("SHOW EXPERIMENT $e", e=name)
    if kind == "bandit":
        bandit_regret.append(regret[name])
        rows = report["variants"]
        bandit_share_b.append(rows[1]["impressions"] / max(1, rows[0]["impressions"] + rows[1]["impressions"]))
        continue
    split_regret.append(regret[name])
    conversion = next(c for c in report["comparisons"] if c["metric"] == "conversion_rate")
    low, high = conversion["interval"]
    covered += low <= truth <= high
    low, high = conversion["always_valid_interval"]
    covered_always += low <= truth <= high
    right_sign += (conversion["difference"] > 0) == (truth > 0)
    significant += conversion["significant"]
    table.append(conversion["difference"])

n = len(split_regret)
result = {
    "runs": n, "shoppers_per_experiment": per_round * rounds, "rounds": rounds, "true_rates": rates,
    "true_difference": round(truth, 4),
    "interval_coverage": round(covered / n, 3),
    "always_valid_coverage": round(covered_always / n, 3),
    "right_sign_share": round(right_sign / n, 3),
    "always_valid_significant_share": round(significant / n, 3),
    "mean_estimated_difference": round(statistics.mean(table), 4),
    "split_regret": round(statistics.mean(split_regret), 2),
    "bandit_regret": round(statistics.mean(bandit_regret), 2),
    "bandit_regret_sd": round(statistics.stdev(bandit_regret), 2) if n > 1 else 0,
    "split_regret_sd": round(statistics.stdev(split_regret), 2) if n > 1 else 0,
    "bandit_share_b": round(statistics.mean(bandit_share_b), 3),
    "recommendations": served, "seconds": round(time.time() - started, 1),
    "load_average": float(open("/proc/loadavg").read().split()[0]),
}
print()
print(f"{runs} seeded runs, {result['shoppers_per_experiment']} shoppers per experiment, true conversion "
      f"{rates[0]:.2f} (control) vs {rates[1]:.2f} (b)")
print(f"{'what':52} {'value':>10}")
for key in ("interval_coverage", "always_valid_coverage", "right_sign_share", "always_valid_significant_share",
            "mean_estimated_difference", "split_regret", "bandit_regret", "bandit_share_b", "seconds"):
    print(f"{key:52} {result[key]:>10}")
print(json.dumps(result, sort_keys=True))
if os.environ.get("EXPERIMENTS_CHECK"):
    # The small run of scripts/test: the numbers add up and the bandit learns (loose bounds: few runs).
    assert result["interval_coverage"] >= 0.6, result
    assert result["bandit_share_b"] > 0.5, result
