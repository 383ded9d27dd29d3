#!/usr/bin/env python3
"""Load generator for `querycomb collect`: posts every line of an OTLP/JSON lines file to
/v1/traces over one keep-alive connection per worker, as fast as the server answers, and
counts answers by status (429s are retried after a pause, as exporters do).

    load_collect.py FILE.jsonl HOST:PORT [WORKERS]
"""
import http.client
import sys
import threading
import time


def main():
    path, addr = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    host, port = addr.rsplit(":", 1)
    lines = open(path, "rb").read().splitlines()
    counts = {}
    lock = threading.Lock()

    def work(part):
        conn = http.client.HTTPConnection(host, int(port))
        for body in part:
            while True:
                conn.request("POST", "/v1/traces", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                with lock:
                    counts[response.status] = counts.get(response.status, 0) + 1
                if response.status != 429:
                    break
                time.sleep(0.05)

    started = time.time()
    threads = [threading.Thread(target=work, args=(lines[i::workers],)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    size = sum(len(l) for l in lines)
    print(f"posted {len(lines)} requests ({size / 1e6:.0f} MB) in {elapsed:.1f} s: "
          f"{size / 1e6 / elapsed:.1f} MB/s; answers by status {dict(sorted(counts.items()))}")


main()
