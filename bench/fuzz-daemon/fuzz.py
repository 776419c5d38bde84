"""Statement fuzz against a running recd: grammar-aware and byte-level mutations of valid statements, sent over
several pipelining connections. Checks that every line is answered with one JSON line, in order, within a timeout
(no hang), and that recd is still alive at the end. Prints a summary table and, last, one JSON object.

    python3 fuzz.py SOCKET [--count N] [--connections C] [--window W] [--seconds S] [--seed S]
"""
import argparse, json, os, random, socket, sys, threading, time

SEEDS = [
    "RECOMMEND 10 ITEMS FOR USER '196'",
    "RECOMMEND 10 ITEMS FOR USER '196' USING als WHERE category = 'Action' AND year < 1995 EXCLUDE SEEN DIVERSIFY 0.3 EXPLAIN",
    "RECOMMEND 5 ITEMS SIMILAR TO ITEM '50' USING itemknn",
    "RECOMMEND 5 ITEMS FOR SESSION 's1'",
    "RECOMMEND 10 ITEMS FOR ITEMS ('50', '181', '100') EXCLUDE ('1') OFFSET 2",
    "RECOMMEND 3 USERS FOR ITEM '50' USING als",
    "RECOMMEND 6 ITEMS FOR USER 22 USING BLEND(als 0.7, itemknn 0.3) DIVERSIFY BY CATEGORY 2 INCLUDE SEEN",
    "RECOMMEND 4 ITEMS FOR USER '7' WHERE NOT (tags CONTAINS 'Drama' OR year >= 1990) AND AVAILABLE",
    "RECOMMEND 4 ITEMS FOR USER '7' WHERE genre IN ('Comedy', 'Drama') OR title != 'x'",
    "RECOMMEND 2 ITEMS FOR USER '7' USING popularity OFFSET 5",
    "UPSERT ITEM 'fz-1' SET title = 'Fuzz', category = 'Fuzz/One', price = 9.99, tags = ['a', 'b'], available = true",
    "UPSERT USER 'fz-u' SET segment = 'vip', age = 30",
    "EVENT view USER 'fz-u' ITEM 'fz-1' VALUE 1 SESSION 'fz-s' AT '2026-11-26T10:00:00Z'",
    "EVENT rating USER '196' ITEM '50' VALUE 4",
    "DELETE ITEM 'fz-2'",
    "DELETE USER 'fz-gone'",
    "SHOW STATS",
    "SHOW MODELS",
    "SHOW ITEM '50'",
    "SHOW USER '196' HISTORY LIMIT 5",
    "STATUS",
]
RARE = [  # heavy kinds, sent rarely (they run on recd's slow lane)
    "RECOMMEND 3 ITEMS MATCHING 'space adventure'",
    "ASK 'a funny film for the weekend'",
    "RECOMMEND 2 ITEMS FOR USER '196' EXPLAIN GENERATED",
]
KEYWORDS = ["RECOMMEND", "ITEMS", "USERS", "FOR", "USER", "ITEM", "SESSION", "SIMILAR", "TO", "USING", "BLEND", "WHERE",
            "AND", "OR", "NOT", "IN", "CONTAINS", "UNDER", "AVAILABLE", "EXCLUDE", "INCLUDE", "SEEN", "DIVERSIFY", "BY",
            "CATEGORY", "OFFSET", "EXPLAIN", "GENERATED", "MATCHING", "UPSERT", "SET", "EVENT", "VALUE", "AT", "DELETE",
            "SHOW", "STATS", "MODELS", "HISTORY", "LIMIT", "REFRESH", "EVALUATE", "MODEL", "K", "SPLIT", "ASK", "(", ")",
            ",", "=", "!=", "<", "<=", ">", ">=", "[", "]", ";", "--", "$u", "$missing", "TIMESTAMP"]
VALUES = ["0", "-1", "1e308", "-1e308", "99999999999999999999", "1.5", "NaN", "''", "'\\''", "'x'" * 50,
          "'" + "é" * 300 + "'", "'\u0000'", "'" + "a" * 600 + "'", "'\u2028'", "'😀'", "$u", "true", "null"]


def tokens(text):
    out, i = [], 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        if text[i] == "'":
            j = i + 1
            while j < len(text) and text[j] != "'":
                j += 1
            out.append(text[i:j + 1])
            i = j + 1
            continue
        j = i
        while j < len(text) and text[j] != " ":
            j += 1
        out.append(text[i:j])
        i = j
    return out


def grammar_mutation(rng, text):
    parts = tokens(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        i = rng.randrange(len(parts)) if parts else 0
        if not parts:
            parts = [rng.choice(KEYWORDS)]
        elif op == 0:
            del parts[i]
        elif op == 1:
            parts.insert(i, rng.choice(KEYWORDS))
        elif op == 2:
            parts[i] = rng.choice(VALUES)
        elif op == 3:
            j = rng.randrange(len(parts))
            parts[i], parts[j] = parts[j], parts[i]
        elif op == 4:
            parts = parts[:i]
        elif op == 5:
            parts[i:i] = parts[i:i + rng.randint(1, 3)] * rng.randint(2, 20)
        elif op == 6:
            depth = rng.choice([3, 70, 500])
            parts[i:i] = ["("] * depth + ["AVAILABLE"] + [")"] * rng.choice([depth, depth - 1])
        else:
            parts[i] = rng.choice(["NOT"] * rng.randint(1, 200) + ["AVAILABLE"])
    return " ".join(parts).encode("utf-8", "surrogatepass")


def byte_mutation(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        i = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(i, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del data[i:i + rng.randint(1, 8)]
        elif op == 3:
            data[i:i] = rng.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\x00", b"\r", b"{", b"\"", b"\\"])
        else:
            data[i:i] = data[i:i + 16] * rng.randint(2, 50)
    return bytes(data).replace(b"\n", b" ")


def envelope(rng, data):
    q = data.decode("utf-8", "replace")
    choice = rng.randrange(6)
    if choice == 0:
        return json.dumps({"id": rng.randrange(1 << 40), "q": q, "params": {"u": rng.choice(["196", "", "x" * 300, 7])}}).encode()
    if choice == 1:
        return b'{"id": [1], "q": 3}'
    if choice == 2:
        return b'{"q": "' + data[:40].replace(b'"', b"") + b'", "params": {"u": {"a": [' * 20 + b"]}" * 20
    if choice == 3:
        return b'{"id":"' + b"\\ud800" + b'","q":"SHOW STATS"}'
    if choice == 4:
        return json.dumps({"id": None, "q": q, "params": []}).encode()
    return b'{"id": 1, "q": "SHOW STATS", "params": {"u": 1e999}}'


def make_line(rng):
    r = rng.random()
    if r < 0.001:
        return rng.choice(RARE).encode()
    if r < 0.002:
        return b"RECOMMEND 1 ITEMS FOR USER '" + b"x" * rng.choice([70_000, 200_000]) + b"'"  # over --max-line
    base = rng.choice(SEEDS)
    if r < 0.05:
        return base.encode()
    if r < 0.55:
        return grammar_mutation(rng, base)
    if r < 0.9:
        return byte_mutation(rng, base.encode())
    return envelope(rng, grammar_mutation(rng, base))


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = self.answered = self.ok = self.bad_json = self.hangs = self.closed = 0
        self.codes = {}
        self.examples = {}

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def code(self, c, line=None, message=""):
        with self.lock:
            self.codes[c] = self.codes.get(c, 0) + 1
            if line is not None and len(self.examples.setdefault(c, [])) < 3:
                self.examples[c].append((line[:160].decode("utf-8", "replace"), message[:160]))


def worker(path, seed, count, window, deadline, stats, timeout):
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    sock.settimeout(timeout)
    buffer = b""
    done = 0
    while done < count and time.time() < deadline:
        batch = [make_line(rng) for _ in range(min(window, count - done))]
        sock.sendall(b"".join(line + b"\n" for line in batch))
        stats.add(sent=len(batch))
        got = 0
        lines = batch
        while got < len(batch):
            newline = buffer.find(b"\n")
            if newline < 0:
                try:
                    chunk = sock.recv(1 << 20)
                except socket.timeout:
                    stats.add(hangs=1)
                    return
                if not chunk:
                    stats.add(closed=1)
                    return
                buffer += chunk
                continue
            line, buffer = buffer[:newline], buffer[newline + 1:]
            request = lines[got]
            got += 1
            try:
                response = json.loads(line)
                stats.add(answered=1, ok=1 if response.get("ok") else 0)
                if not response.get("ok"):
                    stats.code(response["error"]["code"], request, response["error"].get("message", ""))
            except Exception:
                stats.add(answered=1, bad_json=1)
        done += len(batch)
    sock.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("socket")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    stats = Stats()
    started = time.time()
    deadline = started + args.seconds
    per = args.count // args.connections
    threads = [threading.Thread(target=worker, args=(args.socket, args.seed * 1000 + i, per, args.window, deadline, stats,
                                                     args.timeout)) for i in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.time() - started
    print(f"{'statements sent':40} {stats.sent:>12,}", file=sys.stderr)
    print(f"{'answered':40} {stats.answered:>12,}", file=sys.stderr)
    print(f"{'ok':40} {stats.ok:>12,}", file=sys.stderr)
    for code, n in sorted(stats.codes.items(), key=lambda kv: -kv[1]):
        print(f"  {code:38} {n:>12,}", file=sys.stderr)
    for code in ("storage", "internal", "corrupted"):
        for request, message in stats.examples.get(code, []):
            print(f"  example {code}: {request!r} -> {message}", file=sys.stderr)
    print(f"{'lines not JSON':40} {stats.bad_json:>12,}", file=sys.stderr)
    print(f"{'hangs (no answer in ' + str(args.timeout) + ' s)':40} {stats.hangs:>12,}", file=sys.stderr)
    print(f"{'connections closed by recd':40} {stats.closed:>12,}", file=sys.stderr)
    print(f"{'seconds':40} {seconds:>12.1f}", file=sys.stderr)
    print(json.dumps({"sent": stats.sent, "answered": stats.answered, "ok": stats.ok, "errors_by_code": stats.codes,
                      "not_json": stats.bad_json, "hangs": stats.hangs, "closed": stats.closed,
                      "seconds": round(seconds, 1), "seed": args.seed}, sort_keys=True))


if __name__ == "__main__":
    main()
