#!/usr/bin/env python3
"""Flips random bytes inside the values of chosen LMDB databases of a RecDB database and runs queries against it.
usage: stress.py RECCTL DBDIR TRIALS [SEED]   (DBDIR is a scratch copy: it is modified and restored)"""
import collections, os, random, subprocess, sys, time, filecmp, shutil
recctl, dbdir, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
data = os.path.join(dbdir, "data.mdb")
pristine = data + ".pristine"
if not os.path.exists(pristine):
    shutil.copyfile(data, pristine)
out = subprocess.run([os.environ.get("RANGES", os.path.join(os.path.dirname(os.path.abspath(__file__)), "ranges")), dbdir, "ann", "model_data", "models", "vectors"],
                     capture_output=True, text=True, check=True).stdout
ranges = [(int(o), int(s), d) for o, s, d in (line.split() for line in out.splitlines())]
total = sum(s for _, s, _ in ranges)
by_db = collections.Counter(d for _, _, d in ranges)
print(f"{len(ranges)} values, {total} bytes: {dict(by_db)}", flush=True)
cum, acc = [], 0
for _, s, _ in ranges:
    acc += s; cum.append(acc)
import bisect
queries = ["RECOMMEND 10 ITEMS FOR USER '196' USING als", "RECOMMEND 10 ITEMS FOR USER '196' USING itemknn"]
outcomes = collections.Counter(); messages = collections.Counter(); signals = []
started = time.time()
for trial in range(trials):
    flips = rng.choice([1, 3, 10, 50, 200])
    chosen = []
    for _ in range(flips):
        if rng.random() < 0.5:
            o, s, d = ranges[rng.randrange(len(ranges))]            # a value uniformly: headers, records, blobs
        else:
            o, s, d = ranges[bisect.bisect_right(cum, rng.randrange(total))]  # a byte uniformly
        chosen.append((o + rng.randrange(s), d))
    with open(data, "r+b") as f:
        saved = []
        for offset, d in chosen:
            f.seek(offset); old = f.read(1)[0]; saved.append((offset, old))
            f.seek(offset); f.write(bytes([old ^ rng.randrange(1, 256)]))
    for q in queries:
        try:
            p = subprocess.run([recctl, "query", "--db", dbdir, q], capture_output=True, text=True, timeout=60)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            outcomes["timeout"] += 1; signals.append((trial, q, "timeout", chosen)); continue
        if rc < 0:
            outcomes[f"signal {-rc}"] += 1; signals.append((trial, q, -rc, chosen, p.stderr[-2000:]))
        else:
            outcomes[f"exit {rc}"] += 1
            if rc != 0:
                messages[(p.stderr.strip().splitlines() or ["(no message)"])[-1][:110]] += 1
    with open(data, "r+b") as f:
        for offset, old in reversed(saved):
            f.seek(offset); f.write(bytes([old]))
    if not filecmp.cmp(data, pristine, shallow=False):
        shutil.copyfile(pristine, data)
        outcomes["file rewritten by a run (restored)"] += 1
    if (trial + 1) % 50 == 0:
        print(f"{trial + 1} trials, {time.time() - started:.0f} s: {dict(outcomes)}", flush=True)
print("outcomes:", dict(outcomes))
print("signals:", len(signals))
for s in signals[:10]: print("  ", s)
print("most common error messages:")
for m, n in messages.most_common(25): print(f"  {n:5d}  {m}")
