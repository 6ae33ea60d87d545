#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# NAME
#   report.py - turns tools/bench/run.sh's results.jsonl into the Markdown table
# SYNOPSIS
#   report.py RESULTS.jsonl [--machine TEXT] [--params TEXT] [--resolver-version V]
# DESCRIPTION
#   One table (one row per server and socket), then PASS/FAIL for each SPEC §5 bar,
#   then the CPU each side used per run (to show the load generator was not the
#   bottleneck). Exit 0 when every bar passed and every measurement was valid
#   (every measured request answered, every answer "OK secure match=..."), 1 otherwise.
import argparse
import json
import sys

BARS_FLOOR_SHARE = 0.80  # SPEC §5: cached throughput >= 80 % of the floor
BAR_P99_US = 1000.0      # p99 < 1 ms at 32 connections
BAR_RSS_KB = 30 * 1024   # RSS < 30 MB with 100 000 policies
BAR_STARTUP_MS = 1000.0  # start-up < 1 s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--machine", default="")
    ap.add_argument("--params", default="")
    ap.add_argument("--resolver-version", default="")
    args = ap.parse_args()

    rows = {}  # (server, socket) -> {what: record}; throughput: the median round
    rounds = {}  # (server, socket, what) -> every round's record, in order
    order = []
    for line in open(args.results):
        r = json.loads(line)
        key = (r["server"], r["socket"])
        if key not in rows:
            rows[key] = {}
            order.append(key)
        if r["what"].startswith("cached"):
            rounds.setdefault((*key, r["what"]), []).append(r)
        else:
            rows[key][r["what"]] = r
    for (server, socket, what), runs in rounds.items():
        by_qps = sorted(runs, key=lambda r: r["qps"])
        median = dict(by_qps[(len(by_qps) - 1) // 2])
        # Every round must be valid for the figure to count.
        median["ok"] = all(r.get("ok") for r in runs)
        rows[(server, socket)][what] = median

    def get(key, what, field, default=None):
        return rows.get(key, {}).get(what, {}).get(field, default)

    invalid = []

    def qps_cell(key, conns):
        r = rows[key].get(f"cached{conns}")
        if r is None:
            return "—"
        if not r.get("ok"):
            invalid.append(f"{key[0]} ({key[1]}) @{conns}: {r.get('unanswered')} unanswered, "
                           f"{r.get('errors')} errors, {r.get('unexpected')} unexpected "
                           f"({r.get('first_unexpected')!r})")
        text = f"{r['qps']:,.0f}".replace(",", " ")
        floor = rows.get(("floor", key[1]), {}).get(f"cached{conns}")
        if key[0] != "floor" and floor and floor["qps"] > 0:
            text += f" ({100 * r['qps'] / floor['qps']:.0f} % of floor)"
        return text

    def lat_cell(key, conns):
        r = rows[key].get(f"cached{conns}")
        if r is None:
            return "—"
        return " / ".join(f"{r[f] / 1000:.2f}" for f in ("p50_us", "p99_us", "max_us"))

    def cold_cells(key):
        r = rows[key].get("cold")
        if r is None:
            return "—", "—"
        if not r.get("ok"):
            invalid.append(f"{key[0]} cold: {r.get('unanswered')} unanswered, "
                           f"{r.get('keys_unsent')} not sent, {r.get('errors')} errors, "
                           f"{r.get('unexpected')} unexpected ({r.get('first_unexpected')!r})")
        total = f"{r['seconds']:.2f} s ({r['measured']} answers, p50 {r['p50_us'] / 1000:.0f} ms, " \
                f"max {r['max_us'] / 1000:.0f} ms)"
        conc = []
        if r.get("stats_peak_in_flight", -1) >= 0:
            conc.append(f"{r['stats_peak_in_flight']:.0f} lookups in flight (stats)")
        conc.append(f"{r.get('peak_fetches', 0):.0f} policy fetches at once "
                    f"({r.get('fetches', 0):.0f} fetches)")
        return total, "; ".join(conc)

    def rss_cell(key):
        start = get(key, "startup", "rss_kb")
        end = get(key, "end", "rss_kb")
        hwm = get(key, "end", "hwm_kb")
        if start is None:
            return "—"
        parts = [f"{start / 1024:.1f}"]
        if end is not None:
            parts.append(f"{end / 1024:.1f}")
        if hwm is not None:
            parts.append(f"{hwm / 1024:.1f}")
        return " / ".join(parts)

    def startup_cell(key):
        ms = get(key, "startup", "ready_ms")
        return "—" if ms is None else f"{ms:.0f} ms"

    out = []
    if args.machine:
        out.append(f"Machine: {args.machine}. {args.params}.")
        out.append("")
    out.append("| server | socket | cached qps, 32 conns | p50 / p99 / max ms, 32 | "
               "cached qps, 256 conns | p50 / p99 / max ms, 256 | 1 000 cold lookups | "
               "cold: concurrency reached | RSS MB: start / end / peak (100 000 policies) | "
               "start-up (100 000 policies) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for key in order:
        server = key[0]
        if server.startswith("postfix-mta-sts-resolver") and args.resolver_version:
            server = server.replace("resolver", f"resolver {args.resolver_version}", 1)
        rss, startup = rss_cell(key), startup_cell(key)
        if key[0] == "floor":
            server = "floor (do-nothing)"
            rss, startup = rss + " (no store)", startup + " (no store)"
        elif "internal cache" in key[0]:
            # Nothing stored: its first answer (the start-up probe) needed a lookup.
            rss, startup = rss + " (no store)", startup + " (no store, one lookup)"
        total, conc = cold_cells(key)
        sock = "Unix" if key[1] == "unix" else "TCP 127.0.0.1"
        out.append(f"| {server} | {sock} | {qps_cell(key, 32)} | {lat_cell(key, 32)} | "
                   f"{qps_cell(key, 256)} | {lat_cell(key, 256)} | {total} | {conc} | {rss} | "
                   f"{startup} |")
    out.append("")

    # SPEC §5 bars, for tlspolicy on its default (Unix) socket against the Unix floor.
    tp, fl = ("tlspolicy", "unix"), ("floor", "unix")
    bars = []

    def bar(name, ok, detail):
        bars.append(ok)
        out.append(f"- {'PASS' if ok else 'FAIL'}: {name}: {detail}")

    out.append("SPEC §5 bars (tlspolicy, Unix socket):")
    out.append("")
    for conns in (32, 256):
        t = get(tp, f"cached{conns}", "qps")
        f = get(fl, f"cached{conns}", "qps")
        if t is None or not f:
            bar(f"cached throughput >= 80 % of the floor at {conns} connections", False,
                "not measured")
        else:
            bar(f"cached throughput >= 80 % of the floor at {conns} connections",
                t >= BARS_FLOOR_SHARE * f, f"{t:,.0f} of {f:,.0f} qps = {100 * t / f:.1f} %")
    p99 = get(tp, "cached32", "p99_us")
    bar("p99 < 1 ms at 32 connections", p99 is not None and p99 < BAR_P99_US,
        "not measured" if p99 is None else f"{p99 / 1000:.3f} ms")
    rss = [v for v in (get(tp, "startup", "rss_kb"), get(tp, "end", "rss_kb"),
                       get(tp, "end", "hwm_kb")) if v is not None]
    bar("RSS < 30 MB with 100 000 policies (peak of the whole run)",
        bool(rss) and max(rss) < BAR_RSS_KB,
        "not measured" if not rss else f"{max(rss) / 1024:.1f} MB")
    st = get(tp, "startup", "ready_ms")
    bar("start-up < 1 s with 100 000 policies", st is not None and st < BAR_STARTUP_MS,
        "not measured" if st is None else f"{st:.0f} ms")
    out.append("")

    out.append("CPU used per run (server / load generator, CPU seconds per wall second; "
               "2 cores in all) and each round's throughput:")
    out.append("")
    for key in order:
        for what in ("cached32", "cached256", "cold"):
            runs = rounds.get((*key, what)) or ([rows[key][what]] if what in rows[key] else [])
            runs = [r for r in runs if r.get("wall_s")]
            if not runs:
                continue
            cpu = ", ".join(f"{r['server_cpu_s'] / r['wall_s']:.2f} / "
                            f"{r['cpu_seconds'] / r['wall_s']:.2f}" for r in runs)
            qps = ""
            if what.startswith("cached"):
                qps = "; qps per round: " + ", ".join(f"{r['qps']:.0f}" for r in runs)
            out.append(f"- {key[0]} ({key[1]}) {what}: {cpu}{qps}")
    if invalid:
        out.append("")
        out.append("INVALID measurements (the figures above do not count):")
        out.append("")
        out.extend(f"- {i}" for i in invalid)
    print("\n".join(out))
    return 0 if all(bars) and not invalid else 1


if __name__ == "__main__":
    sys.exit(main())
