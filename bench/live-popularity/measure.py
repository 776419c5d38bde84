"""Durable EVENT throughput through recd with the live popularity/trending counters off and on, interleaved."""

import json
import os
import random
import shutil
import statistics
import subprocess
import time

import recdb

RECD = os.environ["RECD"]
RECCTL = os.path.join(os.path.dirname(RECD), "recctl")
WORK = os.environ["LIVE_WORK"]
ROUNDS = int(os.environ.get("LIVE_ROUNDS", "3"))
EVENTS = int(os.environ.get("LIVE_EVENTS", "20000"))
ITEMS, USERS, BATCH = 5000, 2000, 500


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bytes_written(pid):
    """Bytes recd passed to write calls (/proc/PID/io wchar): LMDB's page writes, and the answers (~50 B each)."""
    for line in open("/proc/%d/io" % pid):
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def one(mode, seed):
    folder = os.path.join(WORK, "db-%s" % mode)
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([RECCTL, "init", "--db", folder], check=True, capture_output=True)
    socket = os.path.join(folder, "recd.sock")
    recd = subprocess.Popen([RECD, "--db", folder, "--log-level", "warning"])
    try:
        while not os.path.exists(socket):
            time.sleep(0.02)
        rng = random.Random(seed)
        with recdb.Client(socket) as db:
            with db.pipeline() as batch:
                for n in range(ITEMS * 2):
                    batch.query("EVENT view USER $u ITEM $i", u="u%d" % rng.randrange(USERS), i="i%d" % (n % ITEMS))
                batch.execute()
            if mode == "on":
                db.query("REFRESH MODEL popularity")
                db.query("REFRESH MODEL trending")
            cpu0, t0, written0 = cpu_seconds(recd.pid), time.perf_counter(), bytes_written(recd.pid)
            sent = 0
            while sent < EVENTS:
                with db.pipeline() as batch:
                    for _ in range(BATCH):
                        item = int(rng.paretovariate(1.2)) % ITEMS
                        batch.query("EVENT purchase USER $u ITEM $i", u="u%d" % rng.randrange(USERS), i="i%d" % item)
                    batch.execute()
                sent += BATCH
            seconds = time.perf_counter() - t0
            cpu = cpu_seconds(recd.pid) - cpu0
            written = bytes_written(recd.pid) - written0
        return sent / seconds, cpu / sent * 1e6, written / sent / 1024
    finally:
        recd.terminate()
        recd.wait(timeout=60)


results = {"off": [], "on": []}
print("| round | counters | events/s | recd CPU µs/event | KB written/event |")
print("|---|---|---|---|---|")
for r in range(ROUNDS):
    for mode in (["off", "on"] if r % 2 == 0 else ["on", "off"]):
        rate, cpu, kb = one(mode, 1000 + r)
        results[mode].append((rate, cpu, kb))
        print("| %d | %s | %.0f | %.1f | %.2f |" % (r + 1, mode, rate, cpu, kb), flush=True)
ratios = [on[0] / off[0] for on, off in zip(results["on"], results["off"])]
cpu_ratios = [on[1] / off[1] for on, off in zip(results["on"], results["off"])]
print("load average after: %s" % open("/proc/loadavg").read().strip())
print(json.dumps({
    "rounds": ROUNDS, "events_per_round": EVENTS,
    "events_per_s_off": [round(x[0]) for x in results["off"]], "events_per_s_on": [round(x[0]) for x in results["on"]],
    "throughput_ratio_on_off": [round(x, 3) for x in ratios],
    "throughput_ratio_median": round(statistics.median(ratios), 3),
    "cpu_per_event_ratio_on_off": [round(x, 3) for x in cpu_ratios],
    "cpu_per_event_ratio_median": round(statistics.median(cpu_ratios), 3),
    "kb_written_per_event_off": [round(x[2], 2) for x in results["off"]],
    "kb_written_per_event_on": [round(x[2], 2) for x in results["on"]],
}))
