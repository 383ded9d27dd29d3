#!/usr/bin/env python3
"""A PostgreSQL 15 stderr log of untagged web traffic over a connection pool, at a given
request rate, for bench/analyze-request-rate.sh.

log_line_prefix = '%m [%p] %q%u@%d ', log_statement = all, as gen-pg-log.py. One
application (user app, database shop) with a pool of --pool connections; requests arrive
at --rate per second (Poisson) and each takes the connection free longest (a pool's
queue). Without sqlcommenter tags, so grouping must cut requests by pauses and reassemble
fan-outs over the pool:
  - 70 % single-statement reads by primary key (eight shapes),
  - 15 % a page of orders, then one customer lookup per row on the same connection (N+1),
  - 10 % the same page, then the lookups sent at once over four pooled connections
    (Promise.all over a pool: a concurrent N+1),
  - 5 % the page and one batched lookup (the fixed twin).
The number of statements is fixed (--statements), so logs at different rates hold the
same work spread over less or more time. Deterministic for a given --seed. Stdlib only.
    python3 bench/gen-pool-log.py --rate 20000 --statements 200000 -o pool.log

With --labels FILE, every statement ends with a `/*qc_req='pool-u-N'*/` comment (a key
grouping does not read) and FILE gets one JSON label per request in the accuracy corpus's
form, so that the accuracy harness can score the log request by request:
    python3 bench/gen-pool-log.py --rate 500 --labels DIR/labels.jsonl -o DIR/postgresql.log
    QUERYCOMB_ACCURACY_KEPT=DIR cargo nextest run -p querycomb --test accuracy \
        --run-ignored only --no-capture rescore_kept_logs
"""

import argparse
import heapq
import json
import random
import sys
import time

START = 1_796_112_000.0  # 2026-12-01 00:00:00 UTC


def stamp(t):
    whole = int(t)
    ms = int((t - whole) * 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{ms:03d} UTC"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--statements", type=int, default=200_000)
    parser.add_argument("--pool", type=int, default=32)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("-o", "--output", default="-")
    parser.add_argument("--labels", help="tag each statement with its request and write labels here")
    args = parser.parse_args()
    labels = open(args.labels, "w") if args.labels else None
    request = 0
    rng = random.Random(args.seed)
    out = sys.stdout if args.output == "-" else open(args.output, "w")
    pids = [30000 + i for i in range(args.pool)]
    for pid in pids:
        out.write(f"{stamp(START)} [{pid}] app@shop LOG:  connection authorized: "
                  f"user=app database=shop application_name=api\n")
    free = [(START, pid) for pid in pids]  # (free at, connection)
    heapq.heapify(free)
    lines = []  # (time, pid, text)
    now = START + 1.0
    written = 0

    def run(pid, at, texts):
        for text in texts:
            if labels:
                text += f" /*qc_req='pool-u-{request}'*/"
            at += rng.uniform(0.00005, 0.0003)
            lines.append((at, pid, text))
            at += rng.uniform(0.0002, 0.001)
        return at

    def page():
        return f"SELECT id, customer_id FROM orders WHERE status = 'open' ORDER BY id LIMIT 5 OFFSET {rng.randrange(0, 500, 5)}"

    def lookup(cid):
        return f"SELECT id, name FROM customers WHERE id = {cid}"

    def write(done):
        for t, p, text in done:
            out.write(f"{stamp(t)} [{p}] app@shop LOG:  statement: {text}\n")

    while written < args.statements:
        now += rng.expovariate(args.rate)
        at, pid = heapq.heappop(free)
        at = max(at, now)
        kind = rng.random()
        scenario = ("single" if kind < 0.70 else "loop" if kind < 0.85
                    else "fan-out" if kind < 0.95 else "batched")
        ids = [rng.randrange(1, 100_000) for _ in range(5)]
        request += 1
        if labels:
            loop = scenario in ("loop", "fan-out")
            labels.write(json.dumps({
                "id": f"pool-u-{request}", "stack": "pool-synthetic", "mode": "untagged",
                "scenario": scenario, "expect": "n_plus_one" if loop else None,
                "n": 5 if loop else 0}) + "\n")
        if scenario == "single":
            table = f"table{min(int(rng.expovariate(0.5)), 7)}"
            end = run(pid, at, [f"SELECT * FROM {table} WHERE id = {ids[0]}"])
            written += 1
        elif scenario == "loop":
            end = run(pid, at, [page()] + [lookup(c) for c in ids])
            written += 6
        elif scenario == "fan-out":
            parent_end = run(pid, at, [page()])
            # Lookup i goes to connection i % 4: the page's own, then three taken from the pool.
            pieces = [[lookup(c) for c in ids[i::4]] for i in range(4)]
            end = run(pid, parent_end, pieces[0])
            others = [heapq.heappop(free) for _ in pieces[1:]]
            for (free_at, other), texts in zip(others, pieces[1:]):
                heapq.heappush(free, (run(other, max(free_at, parent_end), texts), other))
            written += 6
        else:
            batch = ", ".join(str(c) for c in ids)
            end = run(pid, at, [page(), f"SELECT id, name FROM customers WHERE id IN ({batch})"])
            written += 2
        heapq.heappush(free, (end, pid))
        # Lines are written once no connection can log before them any more.
        if len(lines) > 4096:
            horizon = min(f for f, _ in free)
            lines.sort()
            cut = next((i for i, line in enumerate(lines) if line[0] >= horizon), len(lines))
            write(lines[:cut])
            lines = lines[cut:]
    lines.sort()
    write(lines)


if __name__ == "__main__":
    main()
