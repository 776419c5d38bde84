#!/usr/bin/env python3
"""Corruption fuzz: damaged copies of a RecDB database through `recctl check` and one query each.

Every copy is made deterministically from the source file, the base seed and its index, so a copy that kills recctl
with a signal can be made again with `--only INDEX` (same source, same seed). Copies that end in a signal or a
timeout are kept under WORK/failures/INDEX with what was run.

Prints a table per kind of damage and, as the last line, one JSON object:
{"copies":…,"signals":0,"timeouts":0,"check_exit_1":…,"query_exit_1":…,"query_ok":…}
"""
import argparse
import concurrent.futures
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

KINDS = ["flips", "zero_pages", "truncate", "meta_flips", "branch_flips", "header_flips"]


def page_layout(data):
    """Page size and the page numbers of branch pages and of tree pages (branch or leaf) in the newest snapshot's
    region of the file. Read from page headers only (free pages may hold stale copies, which is fine for a fuzz)."""
    psize = struct.unpack_from("<I", data, 40)[0]
    if psize < 512 or psize & (psize - 1):
        psize = 4096
    branches, trees = [], []
    for pgno in range(2, len(data) // psize):
        flags = struct.unpack_from("<H", data, pgno * psize + 10)[0]
        stored = struct.unpack_from("<Q", data, pgno * psize)[0]
        if stored != pgno:
            continue
        if flags == 0x01:
            branches.append(pgno)
            trees.append(pgno)
        elif flags in (0x02, 0x22):
            trees.append(pgno)
    return psize, branches, trees


def flip(buffer, offset, rng):
    buffer[offset] ^= rng.randrange(1, 256)


def damage(source, layout, index, seed):
    """The damaged bytes of copy `index` and a short description."""
    rng = random.Random(seed * 1_000_003 + index)
    psize, branches, trees = layout
    kind = KINDS[index % len(KINDS)]
    data = bytearray(source)
    size = len(data)
    if kind == "flips":
        n = rng.randint(1, 200)
        for _ in range(n):
            flip(data, rng.randrange(size), rng)
        what = f"{n} random bytes flipped"
    elif kind == "zero_pages":
        n = rng.randint(1, 64)
        first = rng.randrange(0, max(1, size // psize - n))
        data[first * psize:(first + n) * psize] = bytes(min(n * psize, size - first * psize))
        what = f"pages {first}…{first + n - 1} zeroed"
    elif kind == "truncate":
        cut = rng.randrange(0, size)
        del data[cut:]
        what = f"truncated to {cut} of {size} bytes"
    elif kind == "meta_flips":
        n = rng.randint(1, 8)
        pages = rng.choice([[0], [1], [0, 1]])
        for _ in range(n):
            # The meaningful part of a meta page: its header and MDB_meta (152 bytes).
            flip(data, rng.choice(pages) * psize + rng.randrange(152), rng)
        what = f"{n} bytes flipped in meta page(s) {pages}"
    elif kind == "branch_flips":
        n = rng.randint(1, 20)
        pool = branches or trees or [2]
        for _ in range(n):
            page = rng.choice(pool)
            flip(data, page * psize + rng.randrange(psize), rng)
        what = f"{n} bytes flipped in branch pages"
    else:
        n = rng.randint(1, 20)
        pool = trees or [2]
        for _ in range(n):
            page = rng.choice(pool)
            flip(data, page * psize + rng.randrange(64), rng)
        what = f"{n} bytes flipped in the headers and node tables of tree pages"
    return kind, what, bytes(data)


def run(command, timeout):
    """(status, signal, timed_out, seconds, stderr tail)."""
    start = time.monotonic()
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout, env={**os.environ, "RECDB_PATH": ""})
    except subprocess.TimeoutExpired as expired:
        return None, None, True, time.monotonic() - start, (expired.stderr or b"")[-2000:].decode(errors="replace")
    stderr = done.stderr[-2000:].decode(errors="replace")
    if done.returncode < 0:
        return None, -done.returncode, False, time.monotonic() - start, stderr
    return done.returncode, None, False, time.monotonic() - start, stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recctl", required=True)
    parser.add_argument("--source", required=True, help="database folder whose data.mdb is damaged")
    parser.add_argument("--work", required=True)
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=1800, help="stop starting copies after this long")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60, help="seconds per command")
    parser.add_argument("--only", type=int, action="append", help="make and run only copy INDEX (repeatable)")
    parser.add_argument("--query", default="RECOMMEND 10 ITEMS FOR USER '196' USING als")
    args = parser.parse_args()

    with open(os.path.join(args.source, "data.mdb"), "rb") as f:
        source = f.read()
    layout = page_layout(source)
    copies_dir = os.path.join(args.work, "copies")
    failures_dir = os.path.join(args.work, "failures")
    shutil.rmtree(copies_dir, ignore_errors=True)
    os.makedirs(copies_dir)
    os.makedirs(failures_dir, exist_ok=True)

    indices = args.only or list(range(args.copies))
    start = time.monotonic()
    lock = threading.Lock()
    stats = {kind: {"copies": 0, "check_0": 0, "check_1": 0, "check_other": 0, "query_0": 0, "query_1": 0,
                    "query_other": 0, "signals": 0, "timeouts": 0} for kind in KINDS}
    failures = []
    slowest = [0.0]

    def one(index):
        if time.monotonic() - start > args.seconds:
            return
        kind, what, data = damage(source, layout, index, args.seed)
        folder = os.path.join(copies_dir, str(index))
        os.makedirs(folder)
        with open(os.path.join(folder, "data.mdb"), "wb") as f:
            f.write(data)
        commands = [("check", [args.recctl, "check", "--db", folder]),
                    ("query", [args.recctl, "query", args.query, "--db", folder])]
        results = [(name, command, *run(command, args.timeout)) for name, command in commands]
        bad = [r for r in results if r[3] is not None or r[4]]
        with lock:
            s = stats[kind]
            s["copies"] += 1
            for name, _, status, sig, timed_out, seconds, _ in results:
                slowest[0] = max(slowest[0], seconds)
                if sig is not None:
                    s["signals"] += 1
                elif timed_out:
                    s["timeouts"] += 1
                elif status in (0, 1):
                    s[f"{name}_{status}"] += 1
                else:
                    s[f"{name}_other"] += 1
            for name, command, status, sig, timed_out, seconds, stderr in bad:
                failures.append({"index": index, "kind": kind, "damage": what, "command": name,
                                 "signal": signal.Signals(sig).name if sig else None, "timeout": timed_out,
                                 "stderr": stderr.strip().splitlines()[-3:] if stderr.strip() else []})
                print(f"corruption: copy {index} ({what}): recctl {name} "
                      f"{'timed out' if timed_out else 'died of ' + signal.Signals(sig).name}", file=sys.stderr)
        if bad:
            keep = os.path.join(failures_dir, str(index))
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(folder, keep)
            with open(os.path.join(keep, "failure.json"), "w") as f:
                json.dump({"index": index, "seed": args.seed, "kind": kind, "damage": what,
                           "commands": [" ".join(c if " " not in c else repr(c) for c in r[1]) for r in bad],
                           "signals": [r[3] for r in bad]}, f, indent=2)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for future in [pool.submit(one, index) for index in indices]:
            future.result()
    seconds = time.monotonic() - start

    header = f"{'damage':<14}{'copies':>7}{'check 0':>9}{'check 1':>9}{'query 0':>9}{'query 1':>9}{'other':>7}" \
             f"{'signals':>9}{'timeouts':>10}"
    print(header)
    print("-" * len(header))
    total = {key: 0 for key in stats[KINDS[0]]}
    for kind in KINDS:
        s = stats[kind]
        for key in total:
            total[key] += s[key]
    for kind, s in list(stats.items()) + [("all", total)]:
        print(f"{kind:<14}{s['copies']:>7}{s['check_0']:>9}{s['check_1']:>9}{s['query_0']:>9}{s['query_1']:>9}"
              f"{s['check_other'] + s['query_other']:>7}{s['signals']:>9}{s['timeouts']:>10}")
    print(f"{total['copies']} copies in {seconds:.0f} s (seed {args.seed}, {args.jobs} jobs, "
          f"slowest command {slowest[0]:.1f} s); failures kept in {failures_dir}" if failures else
          f"{total['copies']} copies in {seconds:.0f} s (seed {args.seed}, {args.jobs} jobs, "
          f"slowest command {slowest[0]:.1f} s)")
    for failure in failures[:20]:
        print(f"  copy {failure['index']} ({failure['damage']}): recctl {failure['command']}: "
              f"{failure['signal'] or 'timeout'} {' | '.join(failure['stderr'])}")
    print(json.dumps({"copies": total["copies"], "signals": total["signals"], "timeouts": total["timeouts"],
                      "check_exit_1": total["check_1"], "query_exit_1": total["query_1"], "query_ok": total["query_0"],
                      "check_ok": total["check_0"], "other_exits": total["check_other"] + total["query_other"],
                      "seed": args.seed, "seconds": round(seconds, 1)}))
    return 1 if total["signals"] or total["timeouts"] else 0


if __name__ == "__main__":
    sys.exit(main())
