"""EXPLAIN GENERATED on two real shops, through recctl: counts generated sentences, guard rejections and invented
items in the output, then prints the merged summary JSON (the runtime's speed figures plus these) as the last line."""
import csv
import gzip
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

recctl, work, datasets, speed_file = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
USERS = 21  # 21 users x 10 results = 210 explanations per data set


def run(*args):
    return subprocess.run([recctl, *args], check=True, capture_output=True, text=True).stdout


def prepare(name, fmt, path):
    db = work / name
    if not (db / "data.mdb").exists():
        run("init", "--db", str(db))
        run("import", fmt, str(path), "--db", str(db))
        for model in ("popularity", "itemknn", "als", "content"):
            run("refresh", model, "--db", str(db))
    return db


def retail_users_and_titles():
    counts, titles = Counter(), set()
    with gzip.open(datasets / "online-retail-uci/online_retail.csv.gz", "rt", encoding="latin-1") as f:
        for row in csv.DictReader(f):
            if row.get("CustomerID"):
                counts[row["CustomerID"].split(".")[0]] += 1
            if row.get("Description"):
                titles.add(row["Description"].strip())
    return [u for u, _ in counts.most_common(200)][::10][:USERS], titles


def amazon_users_and_titles():
    inter = json.load(open(datasets / "amazon-office-lcrec/Office.inter.json"))
    items = json.load(gzip.open(datasets / "amazon-office-lcrec/Office.item.json.gz", "rt"))
    users = sorted(inter, key=lambda u: -len(inter[u]))[:USERS * 5:5]
    return users, {v["title"].strip() for v in items.values() if v.get("title")}


summary = {"explanations": 0, "generated": 0, "guard_rejections": 0, "invented_items_in_output": 0, "cached": 0}
per_set = {}
for name, fmt, path, source in [
    ("retail", "online-retail", datasets / "online-retail-uci/online_retail.csv.gz", retail_users_and_titles),
    ("amazon", "amazon", datasets / "amazon-office-lcrec", amazon_users_and_titles),
]:
    db = prepare(name, fmt, path)
    users, titles = source()
    # Titles of two words or more, which a sentence could name.
    titles = [t for t in titles if len(t.split()) >= 2]
    lower_titles = [(t, t.lower()) for t in titles]
    stats = Counter()
    seconds = []
    examples = []
    for user in users:
        started = time.perf_counter()
        try:
            result = json.loads(run("query", f"RECOMMEND 10 ITEMS FOR USER '{user}' EXPLAIN GENERATED", "--db", str(db), "--json"))
        except subprocess.CalledProcessError as error:
            print(f"explanations: {name} user {user}: {error.stderr.strip()}", file=sys.stderr)
            continue
        seconds.append(time.perf_counter() - started)
        report = result.get("generated", {})
        stats["generated"] += int(report.get("sentences", 0))
        stats["rejected"] += int(report.get("rejected_by_guard", 0))
        stats["cached"] += int(report.get("cached", 0))
        for item in result["items"]:
            stats["explanations"] += 1
            sentence = item["explanation"].lower()
            allowed = [item.get("title", "")] + [s.get("title", "") for s in item["provenance"]["items"]]
            allowed = [a.lower() for a in allowed if a]
            for title, lower in lower_titles:
                if lower in sentence and not any(lower in a for a in allowed):
                    stats["invented"] += 1
                    print(f"explanations: INVENTED {title!r} in {item['explanation']!r}", file=sys.stderr)
            if len(examples) < 4 and item["explanation"] and report.get("sentences"):
                examples.append(f"{item.get('title', item['id'])} → {item['explanation']}")
    per_set[name] = dict(stats, users=len(users), median_s_per_page=round(sorted(seconds)[len(seconds) // 2], 2) if seconds else None)
    print(f"\n{name}: {stats['explanations']} explanations for {len(users)} users; generated {stats['generated']}, "
          f"rejected by the guard {stats['rejected']} (template shown), invented items in output {stats['invented']}; "
          f"median {per_set[name]['median_s_per_page']} s per page of 10 (recctl process start included)")
    for e in examples:
        print("   ", e)
    summary["explanations"] += stats["explanations"]
    summary["generated"] += stats["generated"]
    summary["guard_rejections"] += stats["rejected"]
    summary["invented_items_in_output"] += stats["invented"]
    summary["cached"] += stats["cached"]

# Through recd: a page of 10 with a cold cache, the same page cached, and plain RECOMMEND before and after the
# language model is loaded (it must not slow the plain path).
import os
import socket as sockets
import statistics

recd = str(Path(recctl).parent / "recd")
sock_path = str(work / "recd.sock")
server = subprocess.Popen([recd, "--db", str(work / "retail"), "--socket", sock_path, "--log-level", "warning"])
try:
    for _ in range(100):
        if os.path.exists(sock_path):
            break
        time.sleep(0.1)
    s = sockets.socket(sockets.AF_UNIX)
    s.connect(sock_path)
    reader = s.makefile("r")

    def ask(query):
        s.sendall((json.dumps({"q": query}) + "\n").encode())
        return json.loads(reader.readline())

    def plain_p50():
        return statistics.median(ask("RECOMMEND 10 ITEMS FOR USER '17850' EXCLUDE SEEN")["took_us"] for _ in range(300)) / 1000

    before = plain_p50()
    users, _ = retail_users_and_titles()
    cold = ask(f"RECOMMEND 10 ITEMS FOR USER '{users[-1]}' EXPLAIN GENERATED")
    warm = ask(f"RECOMMEND 10 ITEMS FOR USER '{users[-1]}' EXPLAIN GENERATED")
    after = plain_p50()
    summary["explain_generated_10_cold_ms"] = round(cold["took_us"] / 1000, 1)
    summary["explain_generated_10_cached_ms"] = round(warm["took_us"] / 1000, 2)
    summary["plain_recommend_p50_ms_before_llm"] = round(before, 3)
    summary["plain_recommend_p50_ms_with_llm_loaded"] = round(after, 3)
    print(f"\nthrough recd: EXPLAIN GENERATED, 10 results, cold cache {cold['took_us'] / 1000:.0f} ms, cached "
          f"{warm['took_us'] / 1000:.1f} ms; plain RECOMMEND p50 {before:.3f} ms before the model loaded, {after:.3f} ms after")
finally:
    server.terminate()
    server.wait()

speed = json.load(open(speed_file)) if Path(speed_file).exists() else {}
speed.update(summary)
speed["explanations_by_set"] = per_set
print()
print(json.dumps(speed, sort_keys=True))
