"""bench_memif.py - the "Over memif" section of docs/benchmarks.md: the memif-* rows of
scripts/bench.sh (scripts/bench/bench_memif.sh runs them), kept in their own results
file (bench/results-memif.jsonl, bench/meta-memif.json) beside the main one, and the
plot bench/conn_1m.png (broker RSS and connect rate against connections). Called by
bench_md.py; issue 10's targets are checked here against the rows.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

from bench_data import (MOSQ_VARIANTS, VARIANT_NAMES, fmt_metric, fmt_num, fmt_ratio,
                        group_runs, isnum, load, mosq_best_lossless, parse_totals, ratio)
from bench_dpdk import DPDK_COUNTERS
from bench_persist import fmt_bytes, fmt_ms

HERE = os.path.dirname(os.path.abspath(__file__))

# Issue 10's targets.
CONN_TARGET = 1000000
CONN_TARGET_S = 60.0
CONN_TARGET_BYTES = 1024
PERSIST_TARGET = 10000000
PER_CORE_TARGET = 10.0
# The rows the 10x target is about.
TARGET_ROWS = ("memif-fanin-q1", "memif-pairs-q1")
# Where mosquitto's highest lossless rate for a target row comes from (a rate search in
# the memif results), for when it drops messages flat out.
LOSSLESS_BASE = {"memif-fanin-q1": "memif-search-fanin-q1"}
# Counters of the broker's and generator's stacks worth showing at scale besides the
# DPDK section's: ARP (the post-connect retransmission storm) and the timers.
SCALE_COUNTERS = DPDK_COUNTERS + ("tcp_syn_cookies_accepted", "net_tx_arp", "net_rx_arp",
                                  "net_arp_heard_confirms", "net_arp_cache_full",
                                  "idle_sleeps")


class Rows:
    """The memif results: groups by (row, broker, workers, variant)."""

    def __init__(self, recs, meta):
        self.recs = recs
        self.meta = meta
        self.rows, self.groups = group_runs(recs)

    def median(self, row, broker, variant=None, key="deliver_rate"):
        for (r, b, _, v), g in self.groups.items():
            if r == row and b == broker and (variant is None or v == variant):
                run = g.median(key)
                if run is not None:
                    return v, g, run
        return None, None, None

    def mosq(self, row, key="deliver_rate"):
        """The better mosquitto variant's median run (variant, group, run)."""
        best = (None, None, None)
        for v in MOSQ_VARIANTS:
            got = self.median(row, "mosquitto", v, key)
            if got[2] is not None and (best[2] is None or got[2][key] > best[2][key]):
                best = got
        return best

    def runs(self, row):
        return [r for r in self.recs if r.get("row") == row]


def load_memif(plots_dir):
    path = os.path.join(plots_dir, "results-memif.jsonl")
    mpath = os.path.join(plots_dir, "meta-memif.json")
    if not os.path.exists(path):
        return None
    meta = {}
    if os.path.exists(mpath):
        with open(mpath) as f:
            meta = json.load(f)
    return Rows(load(path), meta)


def template_cmd(cmd):
    cmd = re.sub(r"--port \d+", "--port PORT", cmd)
    cmd = re.sub(r"--broker-pid \S+", "--broker-pid PID", cmd)
    cmd = re.sub(r"--label \S+", "--label LABEL", cmd)
    return cmd


def counters_cell(text, keys=DPDK_COUNTERS):
    c = parse_totals(text or "")
    shown = ["%s %s" % (k, fmt_num(c[k])) for k in keys if c.get(k)]
    return ", ".join(shown) or "—"


def bound_of(run):
    """Which CPU bounded a throughput run: the one at 90 % or more of its core."""
    if run is None:
        return "—"
    b, g = run.get("broker_cpu_pct"), run.get("gen_win_cpu_pct")
    why = []
    if isnum(b) and b >= 90:
        why.append("broker CPU")
    if isnum(g) and g >= 90:
        why.append("generator CPU")
    if not why:
        why.append("flow control" if isnum(run.get("qos")) and run["qos"] >= 1
                   else "neither CPU full")
    return "%s (broker %s, gen %s)" % (", ".join(why), fmt_metric("_pct", b),
                                       fmt_metric("_pct", g))


def loss_text(run):
    if run is None:
        return "—"
    lost, dup = run.get("lost"), run.get("duplicates")
    text = "%s / %s" % (fmt_num(lost), fmt_num(dup))
    if isnum(lost) and lost > 0 and isnum(run.get("qos")) and run["qos"] >= 1:
        text = "**%s**" % text
    return text


def plot_conn(run, path):
    """conn_1m.png: the broker's RSS and the connect rate against connections, from
    petrel-bench's per-second series of the memif-conn run."""
    series = [s for s in (run or {}).get("series") or [] if isnum(s.get("conns"))]
    # The connect phase, up to the first sample at the peak: the hold adds nothing.
    peak = max((s["conns"] for s in series), default=0)
    end = next((i for i, s in enumerate(series) if s["conns"] == peak), len(series) - 1)
    series = series[:end + 1]
    if not series:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        return True
    tmpdir = tempfile.mkdtemp(prefix="petrel-bench-memif.")
    data = os.path.join(tmpdir, "conn.dat")
    with open(data, "w") as f:
        f.write("# t conns rss_MB conn_rate\n")
        for s in series:
            rss = s.get("rss_kb")
            f.write("%.2f %d %s %s\n" % (s.get("t", 0), s["conns"],
                                         "%.1f" % (rss / 1024.0) if isnum(rss) and rss > 0 else "?",
                                         "%.0f" % s["conn_rate"] if isnum(s.get("conn_rate")) else "?"))
    title = "%s connections over memif to one worker: broker RSS and connect rate" % (
        fmt_num(run.get("connections")))
    cmd = ["gnuplot", "-e", "datafile='%s'; outfile='%s'; plottitle='%s'" % (
        data, path, title), os.path.join(HERE, "conn_1m.gp")]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        ok = res.returncode == 0
        if not ok:
            print("gnuplot conn_1m.gp failed:\n%s" % res.stderr, file=sys.stderr)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("gnuplot failed: %s" % e, file=sys.stderr)
        ok = False
    os.remove(data)
    os.rmdir(tmpdir)
    return ok


# ---- the section ---------------------------------------------------------------------

def sec_memif(rp, plots_dir):
    """Appends "Over memif" to the report <rp> (bench_md.Report) from the memif results
    beside it. True unless a plot failed."""
    w = rp.w
    m = load_memif(plots_dir)
    w("## Over memif")
    w()
    if m is None or not m.recs:
        w("_Not run: `scripts/bench.sh --only '^memif-'` writes this section "
          "(bench/results-memif.jsonl)._")
        w()
        return True
    meta = m.meta
    # A run of `--only '^memif-...'` replaces only its rows: say which run made which.
    made = {}
    for name, _ in m.rows:
        r = m.runs(name)[-1]
        made.setdefault((r.get("run_date", meta.get("date", "?")),
                         r.get("petrel_rev", meta.get("petrel", "?"))), []).append(name)
    # Throughput rows only: a search's steps are not repetitions.
    counts = [len(g.ok()) for (r, _, _, _), g in m.groups.items()
              if r.startswith("memif-") and not r.startswith(("memif-conn", "memif-fleet",
                                                              "memif-storm",
                                                              "memif-persist",
                                                              "memif-prof",
                                                              "memif-search"))]
    lo, reps = min(counts, default=0), max(counts, default=0)
    w("*Runs of their own* (`scripts/bench.sh --only '^memif-...'`; the last: `--only "
      "'%s'%s`; %s run(s) per broker of each throughput row%s, one run of each row at "
      "scale) on %s, %s cores, %s; %s%% of the CPU busy before the last one started. "
      "Raw results: [bench/results-memif.jsonl](bench/results-memif.jsonl), "
      "[bench/meta-memif.json](bench/meta-memif.json) (the last run's)." % (
          meta.get("only", ""), " --quick" if meta.get("quick") == "1" else "",
          "%d" % reps if lo == reps else "%d to %d" % (lo, reps),
          ": one sample, not a median of 3" if reps < 3 else
          " (fewer than 3: one sample, not a median; the notes say which)" if lo < 3 else "",
          meta.get("cpu", "?"), meta.get("cores", "?"),
          meta.get("mem", "?"), meta.get("busy_pct", "?")))
    w()
    for (date, rev), names in sorted(made.items()):
        w("- %s at petrel %s: %s" % (date, rev, ", ".join("`%s`" % n for n in names)))
    w()
    w("Petrel with `dataplane dpdk` and one worker on DPDK's `net_memif` (the memif "
      "server, a socket file), pinned to core 0; the generator is `petrel-bench --dpdk`, "
      "the memif client, one thread pinned to core 1, opening its connections with "
      "Petrel's own TCP stack from one source address per 15,000 connections "
      "(198.18.0.2 up, in 198.18.0.0/16). Both are DPDK processes on this host "
      "(`--no-huge`, a `--file-prefix` each): no kernel in the path. In the same run and "
      "with the same generator options, kernel-mode Petrel (`-w 1`, core 0) and mosquitto "
      "(core 0) over loopback, driven by the kernel-mode generator on core 1, as the rows "
      "above. Each broker gets `max_inflight_messages 20`, `max_queued_messages 1000`.")
    w()
    ok = True
    ok &= throughput(m, w)
    profile(plots_dir, w)
    ok &= conn(m, w, plots_dir)
    fleet(m, w)
    storm(m, w)
    persist(m, w)
    targets(m, w)
    notes(plots_dir, w)
    commands(m, w)
    return ok


def throughput(m, w):
    names = [n for n, r in m.rows if r.get("kind") == "memif"]
    if not names:
        return True
    w("### Throughput")
    w()
    w("Delivered messages/s (median run); mosquitto in its better variant where both "
      "ran (the two rows of the 10x target), else with TCP_NODELAY. Petrel on memif and "
      "mosquitto each use one core, so the ratio is per core.")
    w()
    w("| row | Petrel memif | Petrel kernel | mosquitto | memif ÷ mosquitto | "
      "memif ÷ kernel | lost / dup (memif) | memif bound by |")
    w("|---|---:|---:|---:|---:|---:|---|---|")
    for name in names:
        _, _, rm = m.median(name, "petrel-memif")
        _, _, rk = m.median(name, "petrel")
        mv, _, rq = m.mosq(name)
        vm, vk, vq = [r.get("deliver_rate") if r else None for r in (rm, rk, rq)]
        mq = fmt_metric("deliver_rate", vq)
        if rq is not None:
            mq += " (%s)" % VARIANT_NAMES.get(mv, mv)
        w("| `%s` | %s | %s | %s | %s | %s | %s | %s |" % (
            name, fmt_metric("deliver_rate", vm), fmt_metric("deliver_rate", vk), mq,
            fmt_ratio(ratio(vm, vq)), fmt_ratio(ratio(vm, vk)), loss_text(rm),
            bound_of(rm)))
    w()
    w("Per broker: loss, what bounded the median run, and for Petrel on memif its "
      "stack's loss and retransmission counters where not zero (`dpdk totals` at "
      "shutdown).")
    w()
    w("| row | broker | lost / dup | latency p50 / p99 | bound by | DPDK counters |")
    w("|---|---|---|---|---|---|")
    for name in names:
        for broker, lab in (("petrel-memif", "Petrel memif"), ("petrel", "Petrel kernel"),
                            ("mosquitto", "mosquitto")):
            for (row, b, _, v), g in sorted(m.groups.items()):
                if row != name or b != broker:
                    continue
                r = g.median("deliver_rate")
                if r is None:
                    w("| `%s` | %s (%s) | failed: %s | | | |" % (
                        name, lab, VARIANT_NAMES.get(v, v),
                        "; ".join(x.get("error", "?") for x in g.failures())))
                    continue
                w("| `%s` | %s (%s) | %s | %s / %s | %s | %s |" % (
                    name, lab, VARIANT_NAMES.get(v, v), loss_text(r),
                    fmt_metric("lat_p50_us", r.get("lat_p50_us")),
                    fmt_metric("lat_p99_us", r.get("lat_p99_us")), bound_of(r),
                    counters_cell(r.get("dpdk_totals")) if broker == "petrel-memif"
                    else "—"))
    w()
    return True


def profile(plots_dir, w):
    path = os.path.join(plots_dir, "profile-memif.md")
    w("### Profile of the broker over memif")
    w()
    if os.path.exists(path):
        with open(path) as f:
            for line in f.read().rstrip("\n").split("\n"):
                w(line)
    else:
        w("_Not written: the `memif-prof-fanin-q1` row leaves perf's top symbols in "
          "bench/profile-memif.txt; bench/profile-memif.md is a person's reading of it._")
    w()


def conn(m, w, plots_dir):
    runs = [r for n, _ in m.rows for r in m.runs(n) if r.get("kind") == "memif-conn"]
    path = os.path.join(plots_dir, "conn_1m.png")
    if not runs:
        return plot_conn(None, path)
    r = runs[-1]
    w("### A million connections")
    w()
    w("`memif-conn-1m`: `conn --clean 1` (keep-alive 60 s), at most 2,000 connects in "
      "flight, held for the run's `--duration`; the broker's `tcp_max_connections` is "
      "the count plus 10 %%, `dpdk_mbufs` %s, the generator's `--dpdk-mbufs` %s. "
      "`petrelctl status` is read every second while they connect and are held." % (
          _conf_value(r.get("dpdk_conf"), "dpdk_mbufs"),
          _gen_opt(r.get("gen_cmd"), "--dpdk-mbufs")))
    w()
    w("| connections asked | connected | petrelctl status (peak) | time | connect rate | "
      "broker RSS before -> after | per connection | errors |")
    w("|---:|---:|---:|---:|---:|---|---:|---:|")
    w("| %s | %s | %s | %s | %s | %s -> %s | %s | %s |" % (
        fmt_num(r.get("connections")), fmt_num(r.get("connects")),
        fmt_num(_num(r.get("ctl_connections_peak"))),
        _conn_time(r), fmt_metric("connect_rate", r.get("connect_rate")),
        fmt_bytes(_kb(r.get("rss_before_kb"))), fmt_bytes(_kb(r.get("rss_after_kb"))),
        fmt_metric("rss_per_conn_bytes", r.get("rss_per_conn_bytes")),
        fmt_num(r.get("connect_errors"))))
    w()
    if r.get("error"):
        w("**The run failed:** %s" % r["error"])
        w()
    ok = plot_conn(r, path)
    if os.path.exists(path):
        w("![broker RSS and connect rate against connections](bench/conn_1m.png)")
        w()
    t = parse_totals(r.get("dpdk_totals") or "")
    w("The broker's stack after the hold (its `dpdk totals` at shutdown, which include "
      "the generator closing every connection and the broker's own shutdown): %s." %
      counters_cell(r.get("dpdk_totals"), SCALE_COUNTERS))
    w()
    w("The post-connect retransmission storm (ARP entries of generator addresses "
      "forgotten while frames to them were dropped; fixed by `arp_heard_confirms`): "
      "`tcp_retransmits` %s, `net_arp_unresolved_drops` %s, `net_arp_heard_confirms` %s, "
      "`tcp_no_mbuf` %s over the whole run (zeros are not logged: a counter missing from "
      "the totals line is 0)." % tuple(fmt_num(t.get(k, 0)) for k in (
          "tcp_retransmits", "net_arp_unresolved_drops", "net_arp_heard_confirms",
          "tcp_no_mbuf")))
    w()
    w("The generator's stack: %s." % counters_cell(r.get("gen_dpdk_totals"),
                                                   SCALE_COUNTERS))
    w()
    return ok


def fleet(m, w):
    runs = [r for r in m.recs if r.get("row", "").startswith("memif-fleet")]
    if not runs:
        return
    r = runs[-1]
    w("### Fleet")
    w()
    w("`memif-fleet-1m`: N devices, each publishing one QoS 1 message (64 B) every "
      "`--interval` s to its own topic, spread evenly over the interval; 8 subscribers "
      "on `bench/fleet/<j>/#` take every message between them. Latency is from each "
      "message's due time (no coordinated omission).")
    w()
    w("| devices | connect (time, rate) | interval | published | delivered | lost / dup | "
      "p50 | p99 | p99.9 | errors |")
    w("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|")
    w("| %s of %s | %s, %s | %s s | %s | %s | %s | %s | %s | %s | %s |" % (
        fmt_num(r.get("connects")), fmt_num(r.get("connections")),
        "%.1f s" % r["connect_s"] if isnum(r.get("connect_s")) else "—",
        fmt_metric("connect_rate", r.get("connect_rate")), fmt_num(r.get("interval_s")),
        fmt_num(r.get("published")), fmt_num(r.get("delivered")), loss_text(r),
        fmt_metric("lat_p50_us", r.get("lat_p50_us")),
        fmt_metric("lat_p99_us", r.get("lat_p99_us")),
        fmt_metric("lat_p999_us", r.get("lat_p999_us")), fmt_num(r.get("connect_errors"))))
    w()
    _failed(r, w)
    w("Broker stack: %s." % counters_cell(r.get("dpdk_totals"), SCALE_COUNTERS))
    w()


def storm(m, w):
    runs = [r for r in m.recs if r.get("row", "").startswith("memif-storm")]
    if not runs:
        return
    r = runs[-1]
    w("### Reconnect storm")
    w()
    w("`memif-storm-1m`: N persistent clients (cleanSession 0, QoS 1 on their own "
      "topic) connect, are all reset at once (RST, no DISCONNECT), one QoS 1 message is "
      "queued for each while they are away, then all reconnect at once (at most "
      "`--conn-inflight` %s connects in flight)." % _gen_opt(r.get("gen_cmd"),
                                                               "--conn-inflight"))
    w()
    w("| clients | first connect | all back after | every message after | lost / dup | "
      "sessions lost | wait p99 | errors |")
    w("|---:|---|---:|---:|---|---:|---:|---:|")
    w("| %s | %s, %s | %s | %s | %s | %s | %s | %s |" % (
        fmt_num(r.get("connections")),
        "%.1f s" % r["connect_s"] if isnum(r.get("connect_s")) else "—",
        fmt_metric("connect_rate", r.get("connect_rate")),
        "%.2f s" % r["reconnect_s"] if isnum(r.get("reconnect_s")) else "—",
        "%.2f s" % r["deliver_s"] if isnum(r.get("deliver_s")) else "—",
        loss_text(r), fmt_num(r.get("sessions_lost")),
        fmt_metric("lat_p99_us", r.get("lat_p99_us")), fmt_num(r.get("connect_errors"))))
    w()
    _failed(r, w)
    w("Broker stack: %s." % counters_cell(r.get("dpdk_totals"), SCALE_COUNTERS))
    w()


def persist_rows(m):
    """(row, fill run, verify run) of each memif-persist* row that ran."""
    out = []
    for name, _ in m.rows:
        if name.startswith("memif-persist"):
            runs = m.runs(name)
            out.append((name, next((r for r in runs if _phase(r) == "fill"), None),
                        next((r for r in runs if _phase(r) == "verify"), None)))
    return out


def persist(m, w):
    rows = persist_rows(m)
    if not rows:
        return
    first = rows[0][1] or rows[0][2] or {}
    w("### Offline persistent sessions")
    w()
    w("`memif-persist` (and `memif-persist-10m`, the same at 10M with a wider publisher "
      "window): `persist --phase fill` connects, subscribes (QoS 1) and "
      "disconnects N sessions (at most 2,000 at once) on a broker with `persistence "
      "true` (%s), queues one QoS 1 message for each, and the broker is stopped "
      "(SIGTERM); then it starts again on that store (time until it listens, its RSS, "
      "its own load time) and `persist --phase verify` reconnects every session and "
      "checks its message arrives." % first.get("variant_conf", "").replace("\n", ", "))
    w()
    w("| row | sessions | set-up (time, rate) | queueing (publisher window) | store on disk "
      "| per session | restart: listening after | store load | RSS after restart | per "
      "session (above the empty broker) | verify | lost / dup | sessions lost | exit "
      "after SIGTERM (fill; verify) |")
    w("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for name, fill, ver in rows:
        n = (fill or {}).get("connects")
        if not isnum(n):
            # A fill that failed part-way: the sessions the restart loaded.
            n = _num((ver or {}).get("loaded_sessions"))
        disk = (fill or {}).get("store_file_bytes")
        rss = _num((ver or {}).get("rss_started_kb"))
        # The empty broker's RSS (the fill's start, same config): what sessions add.
        base = _num((fill or {}).get("rss_before_kb"))
        added = rss - base if isnum(rss) and isnum(base) and rss > base else None
        w("| `%s` | %s of %s | %s, %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s "
          "| %s |" % (
            name, fmt_num(n), fmt_num(_num((fill or {}).get(
                "connections", _gen_opt((fill or {}).get("gen_cmd"), "--connections")))),
            "%.1f s" % fill["connect_s"] if fill and isnum(fill.get("connect_s")) else "—",
            fmt_metric("connect_rate", (fill or {}).get("connect_rate")),
            "%.1f s (%s, window %s)" % (fill["publish_s"],
                                       fmt_metric("pub_rate", fill.get("pub_rate")),
                                       _gen_opt(fill.get("gen_cmd"), "--inflight",
                                                "32"))
            if fill and isnum(fill.get("publish_s")) else "—",
            fmt_bytes(disk),
            fmt_num(disk / n) + " B" if isnum(disk) and isnum(n) and n > 0 else "—",
            fmt_ms(_num((ver or {}).get("listen_ms"))),
            fmt_ms(_num((ver or {}).get("load_ms"))), fmt_bytes(_kb(rss)),
            fmt_num(added * 1024 / n) + " B" if isnum(added) and isnum(n) and n > 0 else "—",
            "%.1f s" % ver["reconnect_s"] if ver and isnum(ver.get("reconnect_s")) else "—",
            loss_text(ver), fmt_num((ver or {}).get("sessions_lost")),
            "; ".join(fmt_ms(_num((r or {}).get("stop_ms"))) for r in (fill, ver))))
    w()
    for _, fill, ver in rows:
        for r in (fill, ver):
            if r is not None:
                _failed(r, w)
    w("RSS after restart includes the EAL's memory (`-m 1024`, no hugepages: "
      "touched pages only) and the pools; per session is the RSS above the empty "
      "broker's at the fill's start (same config), one queued message included. The "
      "listening time includes the EAL's start and the store's load. The exit after "
      "SIGTERM is timed by bench.sh to 0.1 s (older runs did not record it).")
    w()


def targets(m, w):
    w("### Against issue 10's targets")
    w()
    w("| target | figure | met |")
    w("|---|---|---|")
    c = next((r for r in m.recs if r.get("kind") == "memif-conn"), None)
    if c is not None:
        n, b = c.get("connects"), c.get("rss_per_conn_bytes")
        t = _num(_conn_time(c).split()[0]) if _conn_time(c) != "—" else None
        w("| 1,000,000 connections to one worker in under %d s | %s connected in %s | %s |"
          % (CONN_TARGET_S, fmt_num(n), _conn_time(c),
             _yes(isnum(n) and n >= CONN_TARGET and isnum(t) and t < CONN_TARGET_S)))
        w("| under 1 KB per idle connection (TCP + MQTT) | %s | %s |" % (
            fmt_metric("rss_per_conn_bytes", b),
            _yes(isnum(b) and b < CONN_TARGET_BYTES and isnum(n) and n >= CONN_TARGET)))
    f = next((r for r in m.recs if r.get("row", "").startswith("memif-fleet")), None)
    if f is not None:
        w("| fleet of 1M, 1 msg / 10 s each, p99 reported | %s devices, p99 %s, lost %s | %s |"
          % (fmt_num(f.get("connects")), fmt_metric("lat_p99_us", f.get("lat_p99_us")),
             fmt_num(f.get("lost")),
             _yes(isnum(f.get("connects")) and f["connects"] >= CONN_TARGET and
                  isnum(f.get("lat_p99_us")) and f.get("lost") == 0)))
    s = next((r for r in m.recs if r.get("row", "").startswith("memif-storm")), None)
    if s is not None:
        w("| storm of 1M reconnects, time until all back, nothing lost at QoS 1 | %s "
          "clients, all back in %s, lost %s | %s |" % (
              fmt_num(s.get("connections")),
              "%.2f s" % s["reconnect_s"] if isnum(s.get("reconnect_s")) else "—",
              fmt_num(s.get("lost")),
              _yes(isnum(s.get("connections")) and s["connections"] >= CONN_TARGET and
                   s.get("lost") == 0 and s.get("sessions_lost") == 0 and
                   not s.get("error"))))
    # The largest persist row that ran.
    prow = max(persist_rows(m), key=lambda x: _sessions(x[1], x[2]),
               default=(None, None, None))
    _, p, v = prow
    if p is not None:
        n = _sessions(p, v)
        w("| 10,000,000 offline persistent sessions (memory, disk, start-up) | %s "
          "sessions stored; %s on disk; listening %s after restart%s | %s |" % (
              fmt_num(n), fmt_bytes(p.get("store_file_bytes")),
              fmt_ms(_num((v or {}).get("listen_ms"))),
              "; the run failed: see below" if p.get("error") or (v or {}).get("error")
              else "",
              _yes(n >= PERSIST_TARGET and not p.get("error") and
                   not (v or {}).get("error"))))
    for name in TARGET_ROWS:
        _, _, rm = m.median(name, "petrel-memif")
        mv, _, rq = m.mosq(name)
        if rm is None and rq is None:
            continue
        r = ratio((rm or {}).get("deliver_rate"), (rq or {}).get("deliver_rate"))
        met = _yes(r is not None and r >= PER_CORE_TARGET and (rm or {}).get("lost") == 0)
        mlost, mexp = (rq or {}).get("lost"), (rq or {}).get("expected")
        note = ""
        if isnum(mlost) and mlost > 0:
            # A broker that drops what it acknowledged is not at a comparable load.
            note = " (mosquitto %s lost %s of %s messages, %.0f %%)" % (
                VARIANT_NAMES.get(mv, mv), fmt_num(mlost), fmt_num(mexp),
                100.0 * mlost / mexp if isnum(mexp) and mexp > 0 else 0)
            if met == "yes":
                met = "not established: mosquitto dropped messages"
            # Flat out it drops; its highest lossless rate is the fair base.
            sv, srate, _ = mosq_best_lossless(m.recs, LOSSLESS_BASE.get(name, ""))
            if srate is not None:
                sr = ratio((rm or {}).get("deliver_rate"), srate)
                note += "; against mosquitto's highest lossless rate (%s, `%s`): %s" % (
                    fmt_metric("deliver_rate", srate), LOSSLESS_BASE[name], fmt_ratio(sr))
                met = _yes(sr is not None and sr >= PER_CORE_TARGET and
                           (rm or {}).get("lost") == 0)
        w("| 10x mosquitto per core, `%s` | %s vs %s: %s%s | %s |" % (
            name, fmt_metric("deliver_rate", (rm or {}).get("deliver_rate")),
            fmt_metric("deliver_rate", (rq or {}).get("deliver_rate")), fmt_ratio(r),
            note, met))
    w()


def notes(plots_dir, w):
    """bench/memif-notes.md: a person's reading of the rows (what bounds each, what
    is open), kept beside the results like the profile."""
    path = os.path.join(plots_dir, "memif-notes.md")
    if not os.path.exists(path):
        return
    w("### Reading the rows")
    w()
    with open(path) as f:
        for line in f.read().rstrip("\n").split("\n"):
            w(line)
    w()


def commands(m, w):
    w("### Commands")
    w()
    w("    scripts/bench.sh --only '^memif-' --reps 3      # all of them (root)")
    w("    MEMIF_CONN_N=300000 scripts/bench.sh --only '^memif-conn'   # another size")
    w()
    w("The environment sets the sizes of the rows at scale: `MEMIF_CONN_N`, "
      "`MEMIF_FLEET_N`, `MEMIF_STORM_N`, `MEMIF_PERSIST_N` (1,000,000 each), "
      "`MEMIF_HOLD` (10 s), `MEMIF_STORM_INFLIGHT` (5000), `MEMIF_PERSIST_SYNC` "
      "(always), `MEMIF_PERSIST_INFLIGHT` (32), `MEMIF_BROKER_MBUFS` (16384), `MEMIF_GEN_MBUFS` (65536), "
      "`MEMIF_DURATION` (3 s, the throughput rows' window). The broker's DPDK lines "
      "(beside the config every row gets) and the generator's command of each row's "
      "Petrel-on-memif run:")
    w()
    seen = False
    for name, _ in m.rows:
        r = next((x for x in m.runs(name) if x.get("broker") == "petrel-memif"), None)
        if r is None:
            continue
        if not seen and r.get("dpdk_conf"):
            w("    # petrel.conf (petrel-memif)")
            for line in r["dpdk_conf"].split("\n"):
                w("    " + line)
            w("    # broker: " + r.get("broker_cmd", ""))
            w()
            seen = True
        w("- `%s`: `%s`" % (name, template_cmd(r.get("gen_cmd", ""))))
    w()


# ---- helpers -------------------------------------------------------------------------

def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _phase(r):
    """persist's half of a run: its JSON's phase, or (a run that printed no JSON) the
    --phase of its command."""
    return r.get("phase") or _gen_opt(r.get("gen_cmd"), "--phase", "")


def _sessions(fill, ver):
    """Sessions a persist row stored: the fill's connects, or what the restart
    loaded when the fill failed part-way."""
    n = (fill or {}).get("connects")
    if not isnum(n):
        n = _num((ver or {}).get("loaded_sessions"))
    return n if isnum(n) else 0


def _kb(v):
    v = _num(v)
    return v * 1024 if isnum(v) else None


def _yes(ok):
    return "yes" if ok else "**no**"


def _failed(r, w):
    if r.get("error"):
        w("**%s (%s) failed:** %s" % (r.get("row"), _phase(r) or "run", r["error"]))
        w()


def _conn_time(r):
    """The connect phase's length: conn reports its rate, not its time."""
    t = r.get("connect_s")
    if not isnum(t) and isnum(r.get("connects")) and isnum(r.get("connect_rate")) and \
            r["connect_rate"] > 0:
        t = r["connects"] / r["connect_rate"]
    return "%.1f s" % t if isnum(t) else "—"


def _conf_value(conf, key):
    for line in (conf or "").split("\n"):
        if line.startswith(key + " "):
            return line.split(None, 1)[1]
    return "?"


def _gen_opt(cmd, opt, default="?"):
    mo = re.search(re.escape(opt) + r" (\S+)", cmd or "")
    return mo.group(1) if mo else default


# ---- the section alone ---------------------------------------------------------------

class _Lines:
    def __init__(self):
        self.lines = []

    def w(self, text=""):
        self.lines.append(text)


def cmd_memif_section(args):
    """Replaces the "## Over memif" section of args.out (up to the next "## "), or
    inserts it before "## Persistence", "## Targets" or "## Reproducing"."""
    out = _Lines()
    ok = sec_memif(out, args.plots)
    try:
        with open(args.out) as f:
            doc = f.read().rstrip("\n").split("\n")
    except FileNotFoundError:
        doc = []
    start = next((i for i, l in enumerate(doc) if l == "## Over memif"), None)
    if start is not None:
        end = next((i for i in range(start + 1, len(doc)) if doc[i].startswith("## ")),
                   len(doc))
    else:
        start = next((i for h in ("## Persistence", "## Targets", "## Reproducing")
                      for i, l in enumerate(doc) if l == h), len(doc))
        end = start
    doc[start:end] = out.lines
    with open(args.out, "w") as f:
        f.write("\n".join(doc) + "\n")
    print("wrote the memif section of %s" % args.out, file=sys.stderr)
    if not ok:
        sys.exit(1)
