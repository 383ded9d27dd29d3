"""The series and verdict of bench/proxy-soak.sh.

Reads OUT/samples (elapsed_s rss_kb findings events_dropped statements load1 open_units
open_statements event_backlog, and from 2026-12-07 anon_min_kb anon_max_kb file_kb: the
lowest and highest anonymous resident memory of the per-second readings since the previous
sample, and the file-backed part, the binary's code), one line per sample) and pgbench's per-transaction logs OUT/txn.* (client tx latency_us script epoch_s
epoch_us lag_us, with -R), prints one row per sample interval and says whether the proxy's
resident memory and the transactions' latency stayed flat after the warm-up.

Latency here is the transaction's own time: pgbench's (from the scheduled start under -R)
less its schedule lag, so a moment when pgbench itself was starved of CPU is not counted
against the proxy. Flat means: the median of the last third of the samples after the
warm-up is within 10 % (or 2 MB) of the first third's for memory, and within 1.5x for p50
latency (a shared machine's noise). Memory that grew and then stopped is told apart: the
last half of the run is compared the same way (a plateau). On a shared machine latency
follows the load average, printed with every sample; the p50 is also compared over the
samples whose load was at most the run's median load. Resident memory swings within
seconds (work arrives in bursts and the allocator returns freed pages a few seconds later),
so one reading per sample is a random point of a sawtooth: with per-second readings the
verdict is also given on the highest anonymous memory of each interval (the envelope a bound
must hold).

    python3 bench/lib/soak-report.py OUT SAMPLE_SECONDS WARMUP_SECONDS
"""

import glob
import statistics
import sys


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def read_samples(out):
    rows = []
    with open(f"{out}/samples") as f:
        next(f)
        for line in f:
            fields = line.split()
            elapsed, rss, findings, dropped, statements, load, units, held, backlog = fields[:9]
            anon = tuple(int(v) for v in fields[9:12]) if len(fields) >= 12 else None
            rows.append((int(elapsed), int(rss), float(findings), float(dropped), float(statements), load,
                         int(units), int(held), int(backlog), anon))
    return rows


def read_latencies(out):
    """(epoch seconds, latency us) of every transaction."""
    txns = []
    for path in glob.glob(f"{out}/txn.*"):
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) < 6:
                    continue
                latency = int(fields[2])
                lag = int(fields[6]) if len(fields) > 6 else 0
                txns.append((int(fields[4]), latency - lag))
    return txns


def thirds(values):
    n = len(values)
    k = max(1, n // 3)
    return values[:k], values[-k:]


def main():
    out, sample, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    samples = read_samples(out)
    txns = read_latencies(out)
    if not samples or not txns:
        sys.exit("no samples or no transactions logged")
    start = min(t for t, _ in txns)
    buckets = {}
    for t, latency in txns:
        buckets.setdefault((t - start) // sample, []).append(latency)

    print(f"{'minute':>6} {'rss_MB':>7} {'findings':>8} {'dropped':>7} {'statements':>10} "
          f"{'load1':>5} {'tx':>6} {'p50_ms':>7} {'p99_ms':>7} {'units':>5} {'held':>7} {'backlog':>7} "
          f"{'anon_min':>8} {'anon_max':>8} {'file':>5}")
    series = []
    envelope = []
    for elapsed, rss, findings, dropped, statements, load, units, held, backlog, anon in samples:
        lat = buckets.get(elapsed // sample - 1, []) if elapsed >= sample else []
        p50 = percentile(lat, 0.5) / 1000
        p99 = percentile(lat, 0.99) / 1000
        series.append((elapsed, rss, p50, float(load)))
        spread = ""
        if anon is not None and anon[1] > 0:
            envelope.append((elapsed, anon[1]))
            spread = f" {anon[0] / 1024:8.1f} {anon[1] / 1024:8.1f} {anon[2] / 1024:5.1f}"
        print(f"{elapsed / 60:6.0f} {rss / 1024:7.1f} {findings:8.0f} {dropped:7.0f} {statements:10.0f} "
              f"{load:>5} {len(lat):6d} {p50:7.2f} {p99:7.2f} {units:5d} {held:7d} {backlog:7d}{spread}")

    steady = [s for s in series if s[0] >= warmup]
    if len(steady) < 3:
        print("too few samples after the warm-up for a verdict")
        return
    first, last = thirds([s[1] for s in steady])
    rss_first, rss_last = statistics.median(first), statistics.median(last)
    growth = rss_last - rss_first
    memory_flat = growth <= max(0.10 * rss_first, 2048)
    lat_steady = [s[2] for s in steady if s[2] == s[2]]
    first, last = thirds(lat_steady)
    p50_first, p50_last = statistics.median(first), statistics.median(last)
    latency_flat = p50_last <= 1.5 * p50_first
    half = series[len(series) // 2:]
    first, last = thirds([s[1] for s in half])
    plateau = statistics.median(last) - statistics.median(first) <= max(0.10 * statistics.median(first), 2048)
    median_load = statistics.median(s[3] for s in steady)
    calm = [s[2] for s in steady if s[3] <= median_load and s[2] == s[2]]
    calm_first, calm_last = thirds(calm) if len(calm) >= 3 else ([float("nan")], [float("nan")])
    all_lat = [latency for _, latency in txns]
    print(f"whole run: {len(txns)} transactions, p50 {percentile(all_lat, 0.5) / 1000:.2f} ms, "
          f"p99 {percentile(all_lat, 0.99) / 1000:.2f} ms, RSS {series[0][1] / 1024:.1f} MB at "
          f"the first sample, {max(s[1] for s in series) / 1024:.1f} MB at most")
    print(f"memory after the warm-up: {rss_first / 1024:.1f} MB (first third, median) -> "
          f"{rss_last / 1024:.1f} MB (last third): {'FLAT' if memory_flat else 'GROWING'}")
    print(f"memory over the last half: {statistics.median(first) / 1024:.1f} MB -> "
          f"{statistics.median(last) / 1024:.1f} MB: {'FLAT (a plateau)' if plateau else 'GROWING'}")
    steady_envelope = [kb for elapsed, kb in envelope if elapsed >= warmup]
    if len(steady_envelope) >= 3:
        first_env, last_env = thirds(steady_envelope)
        env_first, env_last = statistics.median(first_env), statistics.median(last_env)
        env_flat = env_last - env_first <= max(0.10 * env_first, 2048)
        print(f"highest anonymous memory per interval after the warm-up: {env_first / 1024:.1f} MB "
              f"(first third, median) -> {env_last / 1024:.1f} MB (last third), "
              f"{max(steady_envelope) / 1024:.1f} MB at most: {'FLAT' if env_flat else 'GROWING'}")
    print(f"p50 latency after the warm-up: {p50_first:.2f} ms -> {p50_last:.2f} ms: "
          f"{'FLAT' if latency_flat else 'GROWING'} (load average {steady[0][3]:.1f} -> {steady[-1][3]:.1f})")
    print(f"p50 latency at load average <= {median_load:.1f}: {statistics.median(calm_first):.2f} ms -> "
          f"{statistics.median(calm_last):.2f} ms: "
          f"{'FLAT' if statistics.median(calm_last) <= 1.5 * statistics.median(calm_first) else 'GROWING'}")


if __name__ == "__main__":
    main()
