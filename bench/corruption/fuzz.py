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

KINDS = ["flips", "zero_pages", "truncate", "meta_flips", "branch_flips", "header_flips", "value_flips"]


def page_layout(data):
    """Page size and the page numbers of the branch pages and of all tree pages (branch or leaf) that the newest
    snapshot uses, found by walking its B-trees (free list, main, named databases, sub-databases of duplicates)."""
    psize = struct.unpack_from("<I", data, 40)[0]
    metas = [struct.unpack_from("<48s48sQQ", data, offset + 40) for offset in (0, psize)]
    meta = max(metas, key=lambda m: m[3])
    branches, trees, seen = [], [], set()
    inline, big = [], []  # (offset, length) of values kept in leaf pages and on overflow pages

    def record(raw):
        flags, depth = struct.unpack_from("<HH", raw, 4)
        return flags, struct.unpack_from("<Q", raw, 40)[0]

    def walk(root, dupsort, main):
        stack = [root]
        while stack:
            pgno = stack.pop()
            if pgno in seen or pgno == 0xFFFFFFFFFFFFFFFF or (pgno + 1) * psize > len(data):
                continue
            seen.add(pgno)
            base = pgno * psize
            flags, lower = struct.unpack_from("<HH", data, base + 10)
            trees.append(pgno)
            if flags & 0x20:  # LEAF2: no nodes
                continue
            for i in range((lower - 16) // 2):
                node = base + struct.unpack_from("<H", data, base + 16 + 2 * i)[0]
                lo, hi, nflags, ksize = struct.unpack_from("<HHHH", data, node)
                if flags == 0x01:
                    stack.append(lo | hi << 16 | nflags << 32)
                elif nflags & 0x01:  # a value on overflow pages
                    first = struct.unpack_from("<Q", data, node + 8 + ksize)[0]
                    size = lo | hi << 16
                    if (first + 1) * psize + size <= len(data) + psize:
                        big.append((first * psize + 16, size))
                elif not nflags & 0x02 and (lo | hi << 16) > 0 and not main:
                    inline.append((node + 8 + ksize, lo | hi << 16))
                elif nflags & 0x02:  # a named database, or a sub-database of duplicates
                    raw = data[node + 8 + ksize:node + 8 + ksize + 48]
                    sub_flags, sub_root = record(raw)
                    walk(sub_root, bool(sub_flags & 0x04), False) if main else walk(sub_root, False, False)
            if flags == 0x01:
                branches.append(pgno)

    walk(record(meta[0])[1], False, False)
    walk(record(meta[1])[1], False, True)
    return psize, branches, trees, inline, big


def flip(buffer, offset, rng):
    buffer[offset] ^= rng.randrange(1, 256)


def damage(source, layout, index, seed):
    """The damaged bytes of copy `index` and a short description."""
    rng = random.Random(seed * 1_000_003 + index)
    psize, branches, trees, inline, big = layout
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
    elif kind == "value_flips":
        # A few bytes inside stored values (records, model blobs, HNSW chunks): the file stays sound, so the damage
        # reaches the code that decodes values.
        n = rng.randint(1, 4)
        for _ in range(n):
            pool = big if big and (rng.random() < 0.5 or not inline) else inline
            offset, length = rng.choice(pool)
            flip(data, min(size - 1, offset + rng.randrange(max(1, length))), rng)
        what = f"{n} bytes flipped in stored values"
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
