#!/usr/bin/env python3
"""A replicated RecDB cluster on loopback, for the end-to-end test and the benchmark.

Three nats-server processes (one cluster, JetStream, the write stream with 3 replicas) and recd nodes started with
`--replicate`, each on its own database folder. Standard library only.

    cluster.py test  --bin DIR --work DIR      # the fault run; exit 1 when a check fails; last line one JSON object
    cluster.py bench --bin DIR --work DIR      # fault run + throughput, lag and read phases; last line JSON
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

NATS_BASE = int(os.environ.get("REPL_NATS_PORT", "14222"))


def say(*parts):
    print("replication:", *parts, file=sys.stderr, flush=True)


class Connection:
    """One socket to a recd: requests are JSON lines, answers JSON lines in order."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")
        self.next_id = 0

    def line(self, query, params=None, min_seq=None):
        self.next_id += 1
        envelope = {"id": self.next_id, "q": query}
        if params:
            envelope["params"] = params
        if min_seq is not None:
            envelope["min_seq"] = min_seq
        return (json.dumps(envelope) + "\n").encode()

    def ask(self, query, params=None, min_seq=None):
        self.sock.sendall(self.line(query, params, min_seq))
        return self.answer()

    def answer(self):
        raw = self.reader.readline()
        if not raw:
            raise ConnectionError("recd closed the connection")
        return json.loads(raw)

    def many(self, queries, depth=64):
        """Pipelines `queries` (strings or (query, params) pairs), `depth` in flight; answers in order."""
        answers, sent = [], 0
        while len(answers) < len(queries):
            while sent < len(queries) and sent - len(answers) < depth:
                q = queries[sent]
                self.sock.sendall(self.line(*q) if isinstance(q, tuple) else self.line(q))
                sent += 1
            answers.append(self.answer())
        return answers

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Cluster:
    def __init__(self, bin_dir, work):
        self.bin = bin_dir
        self.work = work
        self.nats = {}
        self.recd = {}
        self.sockets = {}
        self.dbs = {}
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        self.urls = ",".join(f"nats://127.0.0.1:{NATS_BASE + i}" for i in range(3))
        self.node_args = []  # extra recd arguments for every replicated node (--ship-generations, --refresh-every)

    # -- NATS --
    def start_nats(self, i):
        store = os.path.join(self.work, f"nats{i}")
        os.makedirs(store, exist_ok=True)
        routes = ",".join(f"nats://127.0.0.1:{NATS_BASE + 1000 + j}" for j in range(3) if j != i)
        log = open(os.path.join(self.work, f"nats{i}.log"), "ab")
        self.nats[i] = subprocess.Popen(
            ["nats-server", "-a", "127.0.0.1", "-p", str(NATS_BASE + i), "-js", "-sd", store,
             "--server_name", f"nats{i}", "--cluster_name", "recdb",
             "--cluster", f"nats://127.0.0.1:{NATS_BASE + 1000 + i}", "--routes", routes,
             "-m", str(NATS_BASE + 2000 + i)],
            stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", NATS_BASE + i), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nats-server {i} did not listen")

    def kill_nats(self, i):
        self.nats[i].send_signal(signal.SIGKILL)
        self.nats[i].wait()

    # -- recd --
    def start_recd(self, name, db=None, timeout=60, replicate=True):
        db = db or self.dbs.get(name) or os.path.join(self.work, name)
        self.dbs[name] = db
        if not os.path.exists(db):
            subprocess.run([os.path.join(self.bin, "recctl"), "init", "--db", db], check=True, capture_output=True)
        sock = os.path.join(self.work, f"{name}.sock")
        self.sockets[name] = sock
        log = open(os.path.join(self.work, f"{name}.log"), "ab")
        deadline = time.time() + timeout
        while True:
            cluster = ["--replicate", self.urls, "--node-id", name] + self.node_args if replicate else []
            proc = subprocess.Popen(
                [os.path.join(self.bin, "recd"), "--db", db, "--socket", sock, "--no-warm-up", "--log-level", "notice"]
                + cluster, stdout=log, stderr=log)
            while time.time() < deadline and proc.poll() is None:
                try:
                    c = Connection(sock, timeout=5)
                    c.ask("STATUS")
                    c.close()
                    self.recd[name] = proc
                    return
                except OSError:
                    time.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
            if time.time() >= deadline:
                raise RuntimeError(f"recd {name} did not start; see {self.work}/{name}.log")
            time.sleep(1)  # JetStream not ready yet (no meta leader): try again

    def kill_recd(self, name, sig=signal.SIGKILL):
        self.recd[name].send_signal(sig)
        self.recd[name].wait()

    def connect(self, name):
        return Connection(self.sockets[name])

    def status(self, name):
        c = self.connect(name)
        try:
            return c.ask("STATUS")["result"]
        finally:
            c.close()

    def wait_applied(self, names, sequence, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            behind = [n for n in names if self.status(n)["replication"]["applied_seq"] < sequence]
            if not behind:
                return True
            time.sleep(0.2)
        return False

    def stop(self):
        for proc in list(self.recd.values()) + list(self.nats.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in list(self.recd.values()) + list(self.nats.values()):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


class Writer(threading.Thread):
    """One client writing items and events through one recd node, recording every acknowledged write."""

    def __init__(self, cluster, number, nodes, stop):
        super().__init__(daemon=True)
        self.cluster, self.number, self.nodes, self.stop = cluster, number, nodes, stop
        self.acked_items, self.acked_events, self.errors, self.latencies = [], 0, 0, []
        self.error_codes = {}
        self.max_seq = 0
        self.random = random.Random(number)

    def failed(self, answer):
        self.errors += 1
        message = " ".join(w for w in answer["error"]["message"].split() if not any(c.isdigit() for c in w))
        key = answer["error"]["code"] + ": " + message[:100]
        self.error_codes[key] = self.error_codes.get(key, 0) + 1
        time.sleep(0.05)

    def run(self):
        conn, n, turn = None, 0, 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.cluster.connect(self.nodes[turn % len(self.nodes)])
                item = f"c{self.number}-{n}"
                started = time.perf_counter()
                a = conn.ask("UPSERT ITEM $i SET title = $t, category = $c",
                             {"i": item, "t": f"item {n} of {self.number}", "c": f"Shop/{n % 7}"})
                if a.get("ok"):
                    self.latencies.append(time.perf_counter() - started)
                    self.acked_items.append(item)
                    self.max_seq = max(self.max_seq, a["result"].get("seq", 0))
                    user = f"u{self.random.randrange(60)}"
                    target = f"c{self.random.randrange(16)}-{self.random.randrange(max(1, n // 2 + 1))}"
                    # An event on an item that may not exist yet on purpose: it fails on every node alike.
                    # Every fourth event is of the type the run defined through the log (DEFINE EVENT TYPE).
                    kind = "wishlist" if n % 4 == 3 else "purchase"
                    e = conn.ask(f"EVENT {kind} USER $u ITEM $i", {"u": user, "i": item if n % 3 else target})
                    if e.get("ok"):
                        self.acked_events += 1
                        self.max_seq = max(self.max_seq, e["result"].get("seq", 0))
                    elif e["error"]["code"] not in ("not_found",):
                        self.failed(e)
                else:
                    self.failed(a)
                n += 1
            except (OSError, ConnectionError, ValueError) as error:
                self.errors += 1
                key = type(error).__name__
                self.error_codes[key] = self.error_codes.get(key, 0) + 1
                if conn:
                    conn.close()
                conn, turn = None, turn + 1
                time.sleep(0.05)
        if conn:
            conn.close()


def merged_errors(writers):
    merged = {}
    for w in writers:
        for k, v in w.error_codes.items():
            merged[k] = merged.get(k, 0) + v
    return merged


def recctl_stats(cluster, name):
    out = subprocess.run([os.path.join(cluster.bin, "recctl"), "stats", "--db", cluster.dbs[name], "--json"],
                         capture_output=True, text=True, check=True).stdout
    stats = json.loads(out)
    for volatile in ("db_bytes", "used_bytes", "path"):
        stats.pop(volatile, None)
    return stats


def recommend_answers(cluster, name, models):
    conn = cluster.connect(name)
    try:
        out = {}
        for model in models:
            for user in ("u1", "u7", "u20", "u33", "u48"):
                a = conn.ask(f"RECOMMEND 30 ITEMS FOR USER '{user}' USING {model} STRICT")
                out[f"{model}/{user}"] = [(r["id"], round(r["score"], 5)) for r in a["result"]["items"]] \
                    if a.get("ok") else a["error"]["code"]
        return out
    finally:
        conn.close()


def missing_items(cluster, name, items):
    conn = cluster.connect(name)
    try:
        answers = conn.many([("SHOW ITEM $i", {"i": i}) for i in items])
        return sum(1 for a in answers if not a.get("ok"))
    finally:
        conn.close()


def at_rest(cluster, nodes, read, attempts=50):
    """`read(node)` for every node while all of them have applied the same sequence (checked before and after)."""
    for _ in range(attempts):
        before = [cluster.status(n)["replication"]["applied_seq"] for n in nodes]
        if len(set(before)) == 1:
            values = {n: read(n) for n in nodes}
            if [cluster.status(n)["replication"]["applied_seq"] for n in nodes] == before:
                return values
        time.sleep(0.2)
    return {}


def model_generation(cluster, name, model):
    conn = cluster.connect(name)
    try:
        answer = conn.ask("SHOW MODELS")
        models = answer.get("result", [])
        models = models.get("models", models) if isinstance(models, dict) else models
        return next((m.get("generation") for m in models if m.get("name") == model), 0)
    finally:
        conn.close()


def fault_run(cluster, seconds=16, clients=16, ship=False, schedule=None):
    """Writers on r1 and r2; kill -9 of a NATS server and of recd r3 mid-stream; a backup taken under load
    bootstraps r4. With `ship` the nodes run --ship-generations (the node that accepts a REFRESH trains and ships,
    the others install); with `schedule` (seconds) every node runs --refresh-every for popularity, which the log
    must hold once per slot. Returns the checks as a dict."""
    if ship:
        cluster.node_args += ["--ship-generations"]
    if schedule:
        cluster.node_args += ["--refresh-every", f"{schedule}s", "--refresh-models", "popularity"]
    for i in range(3):
        cluster.start_nats(i)
    nodes_started = time.time()
    for name in ("r1", "r2", "r3"):
        cluster.start_recd(name)
    # An event type declared on one node is a write like any other: through the log to every node (the writers'
    # `EVENT wishlist`s on r2 come after it in the log), into the backup and so to the bootstrapped node.
    conn = cluster.connect("r1")
    defined = conn.ask("DEFINE EVENT TYPE wishlist WEIGHT 2")
    conn.close()
    stop = threading.Event()
    writers = [Writer(cluster, k, ["r1", "r2"] if k % 2 == 0 else ["r2", "r1"], stop) for k in range(clients)]
    started = time.time()
    for w in writers:
        w.start()
    timeline = []

    def at(t):
        time.sleep(max(0, started + t - time.time()))

    at(seconds * 0.25)
    cluster.kill_nats(1)
    timeline.append(("kill -9 nats1", round(time.time() - started, 1)))
    at(seconds * 0.40)
    cluster.kill_recd("r3")
    timeline.append(("kill -9 recd r3", round(time.time() - started, 1)))
    at(seconds * 0.55)
    cluster.start_nats(1)
    timeline.append(("restart nats1", round(time.time() - started, 1)))
    at(seconds * 0.65)
    cluster.start_recd("r3")
    timeline.append(("restart recd r3", round(time.time() - started, 1)))
    at(seconds * 0.75)
    backup = os.path.join(cluster.work, "r4")
    subprocess.run([os.path.join(cluster.bin, "recctl"), "backup", "--db", cluster.dbs["r1"], backup],
                   check=True, capture_output=True)
    timeline.append(("recctl backup r1 -> r4", round(time.time() - started, 1)))
    at(seconds)
    stop.set()
    for w in writers:
        w.join()
    elapsed = time.time() - started
    # The last write's sequence is past every write the stream stored.
    conn = cluster.connect("r1")
    final = conn.ask("UPSERT ITEM 'final' SET title = 'last write'")
    conn.close()
    target = final["result"]["seq"]
    # Read-your-writes on another node: the read waits until r3 has applied the write's sequence.
    conn = cluster.connect("r3")
    seen = conn.ask("SHOW ITEM 'final'", min_seq=target)
    conn.close()
    caught_up = cluster.wait_applied(["r1", "r2", "r3"], target)
    cluster.start_recd("r4", db=backup)
    r4_caught_up = cluster.wait_applied(["r4"], target)
    nodes = ["r1", "r2", "r3", "r4"]
    generations = {}
    if schedule:
        # A scheduled refresh is one log entry per slot, whichever nodes published it: at the same applied
        # sequence every node's popularity generation is the same, and about the run's length over the interval
        # (not four times that). Then the nodes restart without the schedule, so that the comparisons below do not
        # race the next slot.
        generations = at_rest(cluster, nodes, lambda n: model_generation(cluster, n, "popularity"))
        schedule_seconds = time.time() - nodes_started
        cluster.node_args = [a for a in cluster.node_args if a not in ("--refresh-every", f"{schedule}s",
                                                                        "--refresh-models", "popularity")]
        for n in nodes:
            cluster.kill_recd(n, signal.SIGTERM)
            cluster.start_recd(n)
    items = [i for w in writers for i in w.acked_items] + ["final"]
    lost = {n: missing_items(cluster, n, items) for n in nodes}
    stats = {n: recctl_stats(cluster, n) for n in nodes}
    type_replicated = bool(defined.get("ok")) and all(
        s.get("events_by_type", {}).get("wishlist", 0) > 0 for s in stats.values())
    acked_events = sum(w.acked_events for w in writers)
    events_ok = all(s["events"] >= acked_events for s in stats.values())
    # REFRESH goes through the log too: sent to one node, every node trains at the same point of the log.
    refresh_seconds, refreshed = {}, 0
    conn = cluster.connect("r2")
    for model in ("popularity", "als"):
        started = time.perf_counter()
        answer = conn.ask(f"REFRESH MODEL {model}")
        refresh_seconds[model] = round(time.perf_counter() - started, 3)
        refreshed = max(refreshed, answer.get("result", {}).get("seq", 0))
    conn.close()
    refreshed_everywhere = cluster.wait_applied(nodes, refreshed)
    refresh_outcomes = {n: cluster.status(n)["replication"].get("refreshes", {}) for n in nodes}
    shipped_ok = True
    if ship:
        # r2 accepted the REFRESH: it trains ALS and ships it; every other node installs the shipment. Popularity
        # is not shipped (its refresh also updates live counters): every node trains it.
        how = {n: refresh_outcomes[n].get("als", {}).get("replicated_as") for n in nodes}
        shipped_ok = how["r2"] == "trained_and_shipped" and all(how[n] == "installed" for n in nodes if n != "r2")
    answers = {n: recommend_answers(cluster, n, ["popularity", "als"]) for n in nodes}
    same_stats = all(stats[n] == stats["r1"] for n in nodes)
    # The trained factors are compared byte for byte (LMDB's model_data database), and every model's answers must be
    # identical on every node: each node builds its generation's HNSW graph one node at a time (a reproducible
    # build), so even an approximate search's tail agrees.
    model_bytes = {n: subprocess.run(["mdb_dump", "-s", "model_data", cluster.dbs[n]], capture_output=True).stdout
                   for n in nodes}
    same_model_bytes = all(model_bytes[n] == model_bytes["r1"] and model_bytes[n] for n in nodes)
    answered = all(isinstance(answers[n][k], list) and answers[n][k] for n in nodes for k in answers["r1"])
    same_answers = answered and all(answers[n][k] == answers["r1"][k] for n in nodes for k in answers["r1"])
    overlaps = [len({i for i, _ in answers[n][k][:10]} & {i for i, _ in answers["r1"][k][:10]}) / 10
                for n in nodes for k in answers["r1"] if k.startswith("als") and isinstance(answers[n][k], list)]
    als_overlap = round(sum(overlaps) / len(overlaps), 3) if overlaps else None
    same_answers = same_answers and same_model_bytes
    statuses = {n: cluster.status(n)["replication"] for n in nodes}
    schedule_ok = True
    if schedule:
        slots = schedule_seconds / schedule
        schedule_ok = bool(generations) and len(set(generations.values())) == 1 and 1 <= generations["r1"] <= slots + 2
    result = {
        "ship_generations": ship,
        "refresh_outcomes": refresh_outcomes,
        "popularity_generations": generations,
        "schedule_slots": round(slots, 1) if schedule else None,
        "scheduled_refresh_once_per_slot": schedule_ok if schedule else None,
        "als_shipped_and_installed": shipped_ok if ship else None,
        "acked_writes": len(items) + acked_events,
        "acked_items": len(items),
        "acked_events": acked_events,
        "write_errors": sum(w.errors for w in writers),
        "write_error_kinds": merged_errors(writers),
        "acked_writes_lost": sum(lost.values()),
        "lost_by_node": lost,
        "events_all_present": events_ok,
        "event_type_replicated": type_replicated,
        "caught_up": caught_up,
        "read_your_write_on_another_node": bool(seen.get("ok")),
        "bootstrapped_node_caught_up": r4_caught_up,
        "identical_stats": same_stats,
        "identical_recommendations": same_answers,
        "identical_model_bytes": same_model_bytes,
        "als_top10_overlap_vs_r1": als_overlap,
        "als_answers_identical": all(answers[n][k] == answers["r1"][k] for n in nodes for k in answers["r1"]
                                     if k.startswith("als")),
        "nodes_converged": bool(caught_up and r4_caught_up and same_stats and same_answers and events_ok
                                and refreshed_everywhere and schedule_ok and shipped_ok and type_replicated),
        "final_sequence": target,
        "fault_run_writes_per_s": round((len(items) + acked_events) / elapsed, 1),
        "timeline": timeline,
        "stats_r1": stats["r1"],
        "refresh_seconds": refresh_seconds,
        "lag_ms_by_node": {n: [s["lag_p50_ms"], s["lag_p99_ms"]] for n, s in statuses.items()},
    }
    if not same_answers:
        result["answers"] = answers
    return result


def write_phase(cluster, nodes, seconds, clients=16):
    """16 clients writing for `seconds` through `nodes`; returns acknowledged writes per second and p50/p99 ms."""
    stop = threading.Event()
    writers = [Writer(cluster, k, nodes[k % len(nodes):] + nodes[:k % len(nodes)], stop) for k in range(clients)]
    started = time.time()
    for w in writers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in writers:
        w.join()
    elapsed = time.time() - started
    acked = sum(len(w.acked_items) + w.acked_events for w in writers)
    latencies = sorted(x for w in writers for x in w.latencies)
    pick = lambda p: round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2) if latencies else None
    return {"writes_per_s": round(acked / elapsed, 1), "acked": acked, "errors": sum(w.errors for w in writers),
            "upsert_p50_ms": pick(0.5), "upsert_p99_ms": pick(0.99)}


def reader(args):
    """One reading process: pipelined RECOMMENDs on one node for `seconds`; returns answers counted."""
    sock, seconds, users = args
    conn = Connection(sock)
    done, deadline, k = 0, time.time() + seconds, 0
    while time.time() < deadline:
        batch = [f"RECOMMEND 10 ITEMS FOR USER 'u{(k + j) % users}' USING popularity" for j in range(32)]
        k += 32
        done += sum(1 for a in conn.many(batch, depth=32) if a.get("ok"))
    conn.close()
    return done


def read_phase(cluster, nodes, seconds, processes=4):
    import multiprocessing
    with multiprocessing.Pool(processes) as pool:
        started = time.time()
        counts = pool.map(reader, [(cluster.sockets[nodes[p % len(nodes)]], seconds, 60) for p in range(processes)])
        elapsed = time.time() - started
    return round(sum(counts) / elapsed, 1)


def bench(bin_dir, work, rounds, seconds):
    result = {}
    say("fault run (3 NATS + 3 recd, 16 writers, kill -9 of nats1 and recd r3, bootstrap of r4 from a backup)")
    cluster = Cluster(bin_dir, os.path.join(work, "fault"))
    try:
        fault = fault_run(cluster, seconds=16)
    finally:
        cluster.stop()
    say("fault run:", json.dumps({k: fault[k] for k in ("acked_writes", "acked_writes_lost", "nodes_converged",
                                                         "identical_stats", "identical_recommendations")}))
    result["fault_run"] = fault
    say("fault run with --ship-generations and a replicated --refresh-every 4s schedule")
    cluster = Cluster(bin_dir, os.path.join(work, "fault-ship"))
    try:
        shipped = fault_run(cluster, seconds=16, ship=True, schedule=4)
    finally:
        cluster.stop()
    say("fault run (ship):", json.dumps({k: shipped[k] for k in ("acked_writes", "acked_writes_lost", "nodes_converged",
                                                                "als_shipped_and_installed", "refresh_seconds")}))
    result["fault_run_ship"] = shipped
    single, replicated, lags = [], [], []
    reads = {1: [], 3: []}
    for r in range(rounds):
        say(f"round {r + 1}/{rounds}: single recd, 16 writers, {seconds} s")
        alone = Cluster(bin_dir, os.path.join(work, f"single{r}"))
        try:
            alone.start_recd("s1", replicate=False)
            single.append(write_phase(alone, ["s1"], seconds))
        finally:
            alone.stop()
        say(f"round {r + 1}/{rounds}: 3 NATS + 3 recd, 16 writers over the 3 nodes, {seconds} s")
        cluster = Cluster(bin_dir, os.path.join(work, f"cluster{r}"))
        try:
            for i in range(3):
                cluster.start_nats(i)
            for name in ("r1", "r2", "r3"):
                cluster.start_recd(name)
            replicated.append(write_phase(cluster, ["r1", "r2", "r3"], seconds))
            lags.append({n: cluster.status(n)["replication"] for n in ("r1", "r2", "r3")})
            conn = cluster.connect("r1")
            last = conn.ask("UPSERT ITEM 'final' SET title = 'x'")["result"]["seq"]
            conn.close()
            cluster.wait_applied(["r1", "r2", "r3"], last)
            c = cluster.connect("r1")
            refreshed = c.ask("REFRESH MODEL popularity")["result"]["seq"]
            c.close()
            cluster.wait_applied(["r1", "r2", "r3"], refreshed)
            for count in (1, 3):
                reads[count].append(read_phase(cluster, ["r1", "r2", "r3"][:count], seconds / 2))
        finally:
            cluster.stop()
        say("single", single[-1], "replicated", replicated[-1], "reads 1/3 nodes", reads[1][-1], reads[3][-1])
    p50 = [s["lag_p50_ms"] for l in lags for s in l.values() if s["lag_p50_ms"] is not None]
    p99 = [s["lag_p99_ms"] for l in lags for s in l.values() if s["lag_p99_ms"] is not None]
    result.update({
        "single_runs": single, "jetstream_runs": replicated, "lag_by_round": lags,
        "read_qps_1_node_runs": reads[1], "read_qps_3_nodes_runs": reads[3],
    })
    return result, {
        "single": [x["writes_per_s"] for x in single], "jetstream": [x["writes_per_s"] for x in replicated],
        "p50": p50, "p99": p99, "reads": reads,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["test", "bench"])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--seconds", type=float, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", help="bench: where to write the full result JSON")
    parser.add_argument("--ship", action="store_true", help="test: recd --ship-generations on every node")
    parser.add_argument("--schedule", type=float, help="test: recd --refresh-every SECONDS for popularity")
    args = parser.parse_args()
    if args.mode == "bench":
        full, summary = bench(args.bin, args.work, args.rounds, args.seconds)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(full, f, indent=1)
        print(json.dumps(summary))
        return
    cluster = Cluster(args.bin, args.work)
    try:
        result = fault_run(cluster, seconds=args.seconds, ship=args.ship, schedule=args.schedule)
    finally:
        cluster.stop()
    ok = result["acked_writes_lost"] == 0 and result["nodes_converged"] and result["read_your_write_on_another_node"]
    print(json.dumps(result))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
