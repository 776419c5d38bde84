"""Cold-page latency of EXPLAIN GENERATED, A against B, interleaved: two recd servers on copies of one prepared
database (bench/llm/explanations.py makes it), each started with its own environment, asked for the same pages in
alternating order (A B, then B A for the next user), every page cold for both (a user is asked once per server).
Prints each page's wall time and the model's own split (prefill, decode, tokens), the load average beside every pair,
and, last, one JSON object with the medians and the per-pair ratios B/A.

  python3 bench/llm/page_latency.py RECD DB WORK [--recd-a OTHER_RECD] --user-list U1,U2,… --a 'RECDB_EXPLAIN_FORCED_SPANS=0' --b ''
      [--page 10] [--users 12] [--sentences FILE]
"""
import argparse
import json
import os
import shutil
import statistics
from pathlib import Path

from recd_server import RecdServer

parser = argparse.ArgumentParser()
parser.add_argument("recd")
parser.add_argument("db", type=Path)
parser.add_argument("work", type=Path)
parser.add_argument("--recd-a", default=None, help="another recd binary for server A (e.g. the build before a change)")
parser.add_argument("--a", default="", help="environment of server A, e.g. 'RECDB_EXPLAIN_FORCED_SPANS=0'")
parser.add_argument("--b", default="", help="environment of server B")
parser.add_argument("--page", type=int, default=10)
parser.add_argument("--users", type=int, default=12)
parser.add_argument("--user-list", required=True, help="comma-separated user ids with events (the last one warms up)")
parser.add_argument("--sentences", type=Path, default=None,
                    help="write both servers' explanations per user here (JSON), to compare what each wrote")
args = parser.parse_args()


class Server(RecdServer):
    def __init__(self, name, db, env, binary):
        environment = dict(os.environ, RECDB_EXPLAIN_DEADLINE="120")
        for pair in env.split():
            key, value = pair.split("=", 1)
            environment[key] = value
        super().__init__(binary, db, args.work / f"lat-{name}.sock", ["--deadline", "300s"], environment)


args.work.mkdir(parents=True, exist_ok=True)
copies = []
for name in ("a", "b"):
    copy = args.work / f"lat-db-{name}"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(args.db, copy, ignore=shutil.ignore_patterns("*.sock", "lock.mdb"))
    copies.append(copy)
users = args.user_list.split(",")[: args.users]
servers = {"a": Server("a", copies[0], args.a, args.recd_a or args.recd), "b": Server("b", copies[1], args.b, args.recd)}
rows = []
try:
    # Warm-up: both load the model and evaluate the shared prompt prefix on a page not measured.
    for server in servers.values():
        server.ask(f"RECOMMEND 2 ITEMS FOR USER '{users[-1]}' EXPLAIN GENERATED")
    for n, user in enumerate(users[:-1]):
        order = ("a", "b") if n % 2 == 0 else ("b", "a")
        pair = {"user": user, "load": float(open("/proc/loadavg").read().split()[0])}
        for name in order:
            response = servers[name].ask(f"RECOMMEND {args.page} ITEMS FOR USER '{user}' EXPLAIN GENERATED")
            result = response.get("result", {})
            generated = result.get("generated", {})
            pair[name] = dict(generated.get("timing", {}), ms=response.get("took_us", 0) / 1000,
                              generated=generated.get("sentences"), rejected=generated.get("rejected_by_guard"),
                              fallbacks=generated.get("fallbacks"),
                              explanations=[(i.get("explanation_source"), i.get("explanation")) for i in result.get("items", [])])
        rows.append(pair)
        a, b = pair["a"], pair["b"]
        print(f"user {user:>8} load {pair['load']:5.2f} | A {a['ms']:8.1f} ms (prefill {a.get('prefill_ms', 0):7.1f}, "
              f"decode {a.get('decode_ms', 0):7.1f}, steps {a.get('decode_steps')}, tokens {a.get('generated_tokens')}) "
              f"| B {b['ms']:8.1f} ms (prefill {b.get('prefill_ms', 0):7.1f}, decode {b.get('decode_ms', 0):7.1f}, "
              f"steps {b.get('decode_steps')}, tokens {b.get('generated_tokens')}) | B/A {b['ms'] / a['ms']:.2f}",
              flush=True)
finally:
    for server in servers.values():
        server.close()

if args.sentences:
    args.sentences.write_text(json.dumps([{"user": r["user"], "a": r["a"]["explanations"], "b": r["b"]["explanations"]}
                                          for r in rows], indent=1))
    same = sum(r["a"]["explanations"] == r["b"]["explanations"] for r in rows)
    print(f"pages with identical explanations on A and B: {same} of {len(rows)}")
summary = {"page": args.page, "pairs": len(rows), "a_env": args.a, "b_env": args.b, "a_recd": args.recd_a or args.recd,
           "loadavg_1m_range": [min(r["load"] for r in rows), max(r["load"] for r in rows)] if rows else None,
           "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")}
for name in ("a", "b"):
    for key in ("ms", "prefill_ms", "decode_ms", "prompt_tokens", "generated_tokens", "decode_steps"):
        values = [r[name].get(key) for r in rows if r[name].get(key) is not None]
        if values:
            summary[f"{name}_p50_{key}"] = round(statistics.median(values), 1)
    values = sorted(r[name]["ms"] for r in rows)
    if values:
        summary[f"{name}_p90_ms"] = round(values[int(0.9 * (len(values) - 1))], 1)
ratios = sorted(r["b"]["ms"] / r["a"]["ms"] for r in rows if r["a"]["ms"] > 0)
if ratios:
    summary["ratio_b_over_a_median"] = round(statistics.median(ratios), 3)
    summary["ratio_b_over_a_range"] = [round(ratios[0], 3), round(ratios[-1], 3)]
print(json.dumps(summary, sort_keys=True))
