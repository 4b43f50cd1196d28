#!/usr/bin/env python3
"""Table of bench/compare-cluster.sh's results (one JSON line per tx-bench run, with "round").

Per target (cluster / embedded) and mode: the median over the rounds of tx/s, p50, p99, etcd
transactions, puts, deletes and raft proposals per global transaction (from etcd's own
counters), CPU us per transaction per process group (etcd members, tarsd nodes, tx-bench),
the machine's busy cores. The ratio cluster / embedded is taken within each round, then the
median and min-max over the rounds are given.
"""
import json
import statistics
import sys
from collections import defaultdict


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def groups(cpu):
    """CPU us/tx by process group: etcd-m1.. summed as etcd, tarsd-n1.. (or tarsd) as tarsd."""
    out = defaultdict(float)
    for name, us in cpu.items():
        out[name.split("-")[0] if name.startswith(("etcd-", "tarsd-")) else name] += us
    return out


def main(path):
    runs = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    by = defaultdict(list)
    for r in runs:
        by[(r["label"], r["mode"])].append(r)
    modes = sorted({r["mode"] for r in runs}, key=lambda m: ["tcc", "at"].index(m) if m in ("tcc", "at") else 9)
    rounds = max((r["round"] for r in runs), default=0)
    print(f"rounds: {rounds}; medians over the rounds\n")
    print("| target | mode | tx/s | p50 ms | p99 ms | etcd txns/tx | puts/tx | deletes/tx | proposals/tx "
          "| CPU µs/tx: etcd (3) | tarsd | tx-bench | total | busy cores |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label in ("cluster", "embedded"):
        for mode in modes:
            rs = by.get((label, mode), [])
            if not rs:
                continue
            n = lambda k: med([r[k] for r in rs])
            per = lambda k: med([r[k] / max(r["committed"], 1) for r in rs])
            g = [groups(r["cpu_us_per_tx_by_process"]) for r in rs]
            cpu = lambda k: med([x.get(k, 0.0) for x in g])
            tot = med([sum(x.values()) for x in g])
            etcd = label == "cluster"
            e = (lambda k: f"{per(k):.2f}") if etcd else (lambda k: "–")
            print(f"| {label} | {mode.upper()} | {n('tx_per_sec'):,.0f} | {n('p50_us')/1000:.1f} | {n('p99_us')/1000:.1f} "
                  f"| {e('etcd_txns')} | {e('etcd_puts')} | {e('etcd_deletes')} | {e('etcd_proposals')} "
                  f"| {cpu('etcd'):.0f} | {cpu('tarsd'):.0f} | {cpu('tx-bench'):.0f} | {tot:.0f} | {n('busy_cores'):.2f} |")
    print()
    print("| mode | cluster / embedded tx/s (median, min–max over rounds) | per round: cluster vs embedded tx/s |")
    print("|---|---:|---|")
    for mode in modes:
        ratios, pairs = [], []
        for rnd in range(1, rounds + 1):
            c = [r for r in by.get(("cluster", mode), []) if r["round"] == rnd]
            e = [r for r in by.get(("embedded", mode), []) if r["round"] == rnd]
            if c and e:
                ratios.append(c[0]["tx_per_sec"] / max(e[0]["tx_per_sec"], 1))
                pairs.append(f"{c[0]['tx_per_sec']:,} vs {e[0]['tx_per_sec']:,}")
        if ratios:
            print(f"| {mode.upper()} | {med(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) | {' · '.join(pairs)} |")
    print()
    print("every run: round, target, mode, tx/s, p50/p99 ms, failed")
    for r in sorted(runs, key=lambda r: (r["round"], r["label"], r["mode"])):
        print(f"  r{r['round']} {r['label']:<8} {r['mode']:<3} {r['tx_per_sec']:>7,} tx/s  "
              f"p50 {r['p50_us']/1000:6.1f}  p99 {r['p99_us']/1000:6.1f}  failed {r['failed']}")


if __name__ == "__main__":
    main(sys.argv[1])
