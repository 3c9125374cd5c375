#!/usr/bin/env python3
"""bench_report.py - the bookkeeping of scripts/bench.sh (Python 3 standard library).

    bench_report.py append --file RESULTS --json LINE [--set key=value ...]
        Appends one run to RESULTS (JSON lines): petrel-bench's JSON line LINE (empty
        or unparsable if the run failed) with the keys given by --set added.
    bench_report.py summary --json LINE --label TEXT --primary KEY [--error TEXT]
        Prints one progress line for the run to stderr.
    bench_report.py report --results RESULTS --meta META --out FILE --plots DIR
        Writes the Markdown report FILE from RESULTS and META (bench.sh's meta.json),
        and the plots DIR/throughput.png and DIR/latency.png with gnuplot
        (scripts/bench/*.gp). Can be rerun on saved results:
            scripts/bench_report.py report --results docs/bench/results.jsonl \\
                --meta docs/bench/meta.json --out docs/benchmarks.md --plots docs/bench

Each row keeps the median run per broker (and worker count) by the row's primary
metric; with an even number of runs the lower middle one. The other columns come from
that same run, so one table line is one real run.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
INT_KEYS = ("workers", "rep", "exit", "wall_s", "port")
BROKERS = ("petrel", "mosquitto")


# ---- append / summary ----------------------------------------------------------------

def parse_line(line):
    """petrel-bench's JSON object, or None."""
    line = (line or "").strip()
    if not line:
        return None
    # Exactly one line is promised; take the last one that parses, to be lenient.
    for candidate in reversed(line.splitlines()):
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def cmd_append(args):
    rec = parse_line(args.json)
    extra = {}
    for kv in args.set or []:
        key, sep, value = kv.partition("=")
        if not sep:
            sys.exit("append: --set wants key=value, got %r" % kv)
        if key in INT_KEYS and re.fullmatch(r"-?\d+", value):
            value = int(value)
        extra[key] = value
    if rec is None:
        rec = {}
        if not extra.get("error"):
            extra["error"] = "generator printed no JSON line"
            if not extra.get("exit"):
                extra["exit"] = 1
        if args.json and args.json.strip():
            extra["raw"] = args.json.strip()[:500]
    out = dict(extra)
    # The generator's keys win except for the ones this script owns.
    for key, value in rec.items():
        if key not in out:
            out[key] = value
    if not out.get("error"):
        out.pop("error", None)
    with open(args.file, "a") as f:
        f.write(json.dumps(out, sort_keys=True) + "\n")


def cmd_summary(args):
    rec = parse_line(args.json)
    wall = " (%ss)" % args.wall if args.wall else ""
    if args.error or rec is None:
        print("  %-40s FAILED: %s%s" % (args.label, args.error or "no JSON line", wall),
              file=sys.stderr)
        return
    parts = ["%s %s" % (args.primary, fmt_num(rec.get(args.primary)))]
    if args.kind in ("conn", "offline"):
        extras = ("connect_rate", "rss_per_conn_bytes", "connect_errors")
    else:
        extras = ("pub_rate", "deliver_rate", "lat_p99_us")
    for key in extras:
        if key != args.primary and isnum(rec.get(key)):
            parts.append("%s %s" % (key, fmt_num(rec.get(key))))
    if args.kind not in ("conn", "offline"):
        parts.append("lost %s dup %s" % (fmt_num(rec.get("lost")),
                                         fmt_num(rec.get("duplicates"))))
    parts.append("gen cpu %s%%" % fmt_num(rec.get("gen_cpu_pct")))
    print("  %-40s %s%s" % (args.label, ", ".join(parts), wall), file=sys.stderr)


# ---- formatting ----------------------------------------------------------------------

def isnum(v):
    """A measured value: petrel-bench writes -1 for what a scenario does not measure."""
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0)


def fmt_num(v, digits=0):
    if not isnum(v):
        return "—"
    if digits == 0:
        return "{:,}".format(int(round(v)))
    return "{:,.{}f}".format(v, digits)


def fmt_metric(key, v):
    if not isnum(v):
        return "—"
    if key.endswith("_rate"):
        return fmt_num(v) + "/s"
    if key.endswith("_us"):
        return fmt_num(v) + " µs"
    if key.endswith("_bytes"):
        return fmt_num(v) + " B"
    if key.endswith("_pct"):
        return fmt_num(v) + " %"
    return fmt_num(v, 0 if float(v).is_integer() else 2)


def ratio(a, b):
    if not isnum(a) or not isnum(b) or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "—" if r is None else "%.2f×" % r


METRIC_NAMES = {
    "deliver_rate": "delivered msg/s",
    "pub_rate": "published msg/s",
    "connect_rate": "connects/s",
    "rss_per_conn_bytes": "memory per connection",
    "lat_p50_us": "latency p50",
    "lat_p99_us": "latency p99",
    "lat_p999_us": "latency p99.9",
    "lat_max_us": "latency max",
}
LOWER_BETTER = {"lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us",
                "rss_per_conn_bytes", "lost", "duplicates", "out_of_order",
                "connect_errors"}


# ---- selection -----------------------------------------------------------------------

class Group:
    """The runs of one row for one broker and worker count."""

    def __init__(self):
        self.runs = []

    def ok(self):
        return [r for r in self.runs if not r.get("error")]

    def failures(self):
        return [r for r in self.runs if r.get("error")]

    def median(self, key):
        """The median run by <key> among the successful runs, or None."""
        runs = [r for r in self.ok() if isnum(r.get(key))]
        if not runs:
            return None
        runs.sort(key=lambda r: r[key])
        return runs[(len(runs) - 1) // 2]

    def spread(self, key):
        """(max - min) / median of <key> over the successful runs, or None."""
        vals = sorted(r[key] for r in self.ok() if isnum(r.get(key)))
        if len(vals) < 2:
            return None
        mid = vals[(len(vals) - 1) // 2]
        return None if mid == 0 else (vals[-1] - vals[0]) / mid

    def max_of(self, key):
        vals = [r[key] for r in self.ok() if isnum(r.get(key))]
        return max(vals) if vals else None


def load(path):
    recs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(json.loads(line))
            except ValueError:
                print("%s:%d: not JSON, skipped" % (path, n), file=sys.stderr)
    return recs


def group_runs(recs):
    """rows: ordered list of (row name, info); groups[(row, broker, workers)]."""
    rows, groups, seen = [], {}, set()
    for r in recs:
        name = r.get("row", "?")
        if name not in seen:
            seen.add(name)
            rows.append((name, r))
        key = (name, r.get("broker", "?"), r.get("workers", 1))
        groups.setdefault(key, Group()).runs.append(r)
    return rows, groups


def get(groups, row, broker, workers=1):
    return groups.get((row, broker, workers)) or Group()


# ---- report --------------------------------------------------------------------------

def template_gen_cmd(cmd):
    cmd = re.sub(r"--port \d+", "--port PORT", cmd)
    cmd = re.sub(r"--broker-pid \S+", "--broker-pid PID", cmd)
    cmd = re.sub(r"--label (\S+?)/\S+", r"--label \1/BROKER/wN/repR", cmd)
    cmd = re.sub(r"--client-prefix (pb-\S+?-)\d+-", r"--client-prefix \1R-", cmd)
    return cmd


def loss_cell(group, run, qos):
    """'lost / dup' of the median run; bold when acknowledged messages were lost."""
    if run is None:
        return "—"
    lost, dup = run.get("lost"), run.get("duplicates")
    worst = group.max_of("lost")
    text = "%s / %s" % (fmt_num(lost), fmt_num(dup))
    exp = run.get("expected")
    if isnum(lost) and lost > 0 and isnum(exp) and exp > 0:
        text = "%s (%.2f %%) / %s" % (fmt_num(lost), 100.0 * lost / exp, fmt_num(dup))
    if isnum(worst) and isnum(lost) and worst > lost:
        text += " (worst run: %s lost)" % fmt_num(worst)
    acked_loss = isnum(qos) and qos >= 1 and isnum(worst) and worst > 0
    if acked_loss:
        text = "**%s**" % text
    return text


def conn_cell(run):
    """'connected / asked' (and errors) of a conn or offline run; bold when short."""
    if run is None:
        return "—"
    got, want, errs = run.get("connects"), run.get("connections"), run.get("connect_errors")
    text = "%s of %s connected" % (fmt_num(got), fmt_num(want))
    if isnum(errs) and errs > 0:
        text += ", %s errors" % fmt_num(errs)
    if (isnum(got) and isnum(want) and got < want) or (isnum(errs) and errs > 0):
        text = "**%s**" % text
    return text


def spread_cell(group, key):
    s = group.spread(key)
    n = len(group.ok())
    nf = len(group.failures())
    text = "%d run%s" % (n, "" if n == 1 else "s")
    if s is not None:
        text += ", ±%.0f %%" % (50.0 * s)
    if nf:
        text += ", **%d failed**" % nf
    return text


def failure_notes(groups):
    notes = []
    for (row, broker, workers), g in groups.items():
        for r in g.failures():
            notes.append("- `%s` %s -w %s rep %s: %s" % (
                row, broker, workers, r.get("rep", "?"), r.get("error")))
    return notes


def write_plot_data(path, header, lines):
    with open(path, "w") as f:
        f.write("# " + header + "\n")
        for label, values in lines:
            cells = [("%.6g" % v) if isnum(v) and v > 0 else "?" for v in values]
            f.write('"%s" %s\n' % (label, " ".join(cells)))


def run_gnuplot(script, data, out, title):
    cmd = ["gnuplot", "-e", "datafile='%s'; outfile='%s'; plottitle='%s'" % (
        data, out, title.replace("'", "")), os.path.join(HERE, "bench", script)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("gnuplot failed: %s" % e, file=sys.stderr)
        return False
    if res.returncode != 0:
        print("gnuplot %s failed:\n%s" % (script, res.stderr), file=sys.stderr)
        return False
    return True


def cmd_report(args):
    recs = load(args.results)
    with open(args.meta) as f:
        meta = json.load(f)
    rows, groups = group_runs(recs)
    quick = str(meta.get("quick", "0")) == "1"
    reps = meta.get("reps", "?")
    L = []
    w = L.append

    w("# Benchmarks")
    w("")
    if quick:
        w("> **QUICK RUN (`scripts/bench.sh --quick`): one run per row, short durations "
          "and fewer connections. For trying the script only; do not quote these "
          "numbers.**")
        w("")
    w("Petrel against mosquitto on one machine, written by `scripts/bench.sh` "
      "(raw data: [bench/results.jsonl](bench/results.jsonl), "
      "[bench/meta.json](bench/meta.json)).")
    w("")
    w("**Read these numbers with care.** They come from one noisy 2-core virtual "
      "machine; the broker runs on core 0 and the load generator on core 1 (except in "
      "the scaling table), talking over loopback. Absolute rates say little about "
      "other hardware; only the ratios between the two brokers within one run are "
      "meaningful.")
    w("")

    # -- machine
    w("## Machine and versions")
    w("")
    w("| | |")
    w("|---|---|")
    for label, key in (("date", "date"), ("CPU", "cpu"), ("cores", "cores"),
                       ("memory", "mem"), ("kernel", "kernel"), ("OS", "os"),
                       ("petrel", "petrel"), ("mosquitto", "mosquitto"),
                       ("compiler", "gcc"), ("open files limit (`ulimit -n`)", "nofile")):
        w("| %s | %s |" % (label, meta.get(key, "?") or "?"))
    if meta.get("busy_pct") is not None:
        w("| CPU busy with other work just before the start | %s %% (%s other broker "
          "process(es) running) |" % (meta.get("busy_pct"), meta.get("other_brokers", "?")))
    w("| runs per broker and row | %s (the median run is kept) |" % reps)
    w("| run length | %ss warm-up, %ss measured, %ss drain |" % (
        meta.get("warmup", "?"), meta.get("duration", "?"), meta.get("drain", "?")))
    if meta.get("elapsed_s"):
        e = int(meta["elapsed_s"])
        w("| whole benchmark took | %d min %d s |" % (e // 60, e % 60))
    if meta.get("only"):
        w("| rows selected | `--only '%s'` |" % meta["only"])
    w("")

    # -- method
    w("## Method")
    w("")
    w("- Every run starts a fresh broker on a free port on 127.0.0.1, waits until it "
      "accepts TCP connections, runs the generator, then stops the broker (SIGTERM, "
      "SIGKILL after 5 s). Petrel and mosquitto alternate run by run.")
    w("- Broker pinned to core 0 (`taskset -c 0`), Petrel with one worker (`-w 1`); "
      "mosquitto is single-threaded. The generator `petrel-bench` "
      "(`tests/bench/`, release build) is pinned to core 1 with one thread "
      "(`--threads 1`). Its own CPU use is in the gen CPU column: near 100 % there "
      "means the generator, not the broker, may have been the limit.")
    w("- Both brokers get the same limits: 20 messages in flight and 1000 queued per "
      "session. Petrel keeps its default `queue_full_policy backpressure` (it stops "
      "reading from publishers instead of dropping); mosquitto acknowledges and then "
      "drops when a queue is full, which shows as lost messages in QoS 1/2 rows.")
    w("- *lost*: messages the generator expected (acknowledged to the publisher for "
      "QoS 1/2) but never received; in bold when acknowledged QoS 1/2 messages were "
      "lost in any run. *dup*: received more than once. QoS 0 may lose by design.")
    w("- The ratio column is always Petrel ÷ mosquitto; the *better* column says "
      "whether higher or lower is better for that metric. ± is half the range of the "
      "runs around the median.")
    w("")
    w("Broker command lines (`PORT` is a new free port per run):")
    w("")
    w("```")
    seen = []
    for r in recs:
        c = r.get("broker_cmd")
        if c and c not in seen:
            seen.append(c)
            w(c)
    w("```")
    w("")
    w("`petrel.conf`:")
    w("")
    w("```")
    w(meta.get("petrel_conf", "").rstrip())
    w("```")
    w("")
    w("`mosquitto.conf`:")
    w("")
    w("```")
    w(meta.get("mosquitto_conf", "").rstrip())
    w("```")
    w("")
    w("Generator command per row:")
    w("")
    w("| row | what | command |")
    w("|---|---|---|")
    for name, info in rows:
        gc = next((r.get("gen_cmd") for r in recs
                   if r.get("row") == name and r.get("gen_cmd")), "")
        w("| `%s` | %s | `%s` |" % (name, info.get("title", ""), template_gen_cmd(gc)))
    w("")

    # -- results
    main_rows = [(n, i) for n, i in rows if i.get("kind") != "scaling"]
    w("## Results")
    w("")
    if main_rows:
        w("| row | metric | better | petrel | mosquitto | petrel ÷ mosquitto | "
          "petrel lost / dup (connections) | mosquitto lost / dup (connections) | "
          "gen CPU petrel / mosquitto | "
          "runs petrel; mosquitto |")
        w("|---|---|---|---:|---:|---:|---|---|---|---|")
        for name, info in main_rows:
            metrics = [info.get("primary", "deliver_rate")]
            if info.get("kind") == "conn":
                metrics = ["connect_rate", "rss_per_conn_bytes"]
            elif info.get("kind") == "offline":
                metrics = ["rss_per_conn_bytes", "connect_rate"]
            for key in metrics:
                gp, gm = get(groups, name, "petrel"), get(groups, name, "mosquitto")
                rp, rm = gp.median(key), gm.median(key)
                vp = rp.get(key) if rp else None
                vm = rm.get(key) if rm else None
                qos = (rp or rm or info).get("qos")
                cpu = "%s / %s" % (fmt_metric("gen_cpu_pct", (rp or {}).get("gen_cpu_pct")),
                                   fmt_metric("gen_cpu_pct", (rm or {}).get("gen_cpu_pct")))
                label = METRIC_NAMES.get(key, key)
                if info.get("kind") == "offline" and key == "rss_per_conn_bytes":
                    label = "memory per offline session"
                no_msgs = info.get("kind") in ("conn", "offline")
                w("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s; %s |" % (
                    name, label, "lower" if key in LOWER_BETTER else "higher",
                    fmt_metric(key, vp), fmt_metric(key, vm), fmt_ratio(ratio(vp, vm)),
                    conn_cell(rp) if no_msgs else loss_cell(gp, rp, qos),
                    conn_cell(rm) if no_msgs else loss_cell(gm, rm, qos), cpu,
                    spread_cell(gp, key), spread_cell(gm, key)))
        w("")
    tp_lines = throughput_lines(rows, groups)
    if any(isnum(v) for _, vals in tp_lines for v in vals[:2]):
        w("![delivered messages per second, petrel and mosquitto](bench/throughput.png)")
    else:
        tp_lines = None
        w("_No fan-in, fan-out or pairs result in this run: no throughput plot._")
    w("")

    # -- latency
    lat_rows = [(n, i) for n, i in rows if i.get("kind") == "latency"]
    lat_plot = None
    for name, info in lat_rows:
        gp, gm = get(groups, name, "petrel"), get(groups, name, "mosquitto")
        rp, rm = gp.median("lat_p99_us"), gm.median("lat_p99_us")
        w("## Latency: `%s`" % name)
        w("")
        w("%s. The same offered load for both brokers%s; the median run by p99 is "
          "shown. Lower is better." % (info.get("title", name), offered_text(recs, name)))
        w("")
        w("| | petrel | mosquitto | petrel ÷ mosquitto |")
        w("|---|---:|---:|---:|")
        for key in ("lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us",
                    "pub_rate", "deliver_rate"):
            vp = rp.get(key) if rp else None
            vm = rm.get(key) if rm else None
            w("| %s | %s | %s | %s |" % (METRIC_NAMES.get(key, key), fmt_metric(key, vp),
                                          fmt_metric(key, vm), fmt_ratio(ratio(vp, vm))))
        w("")
        if lat_plot is None and (rp or rm):
            lat_plot = (name, rp, rm)
    if lat_plot:
        w("![latency percentiles, petrel and mosquitto](bench/latency.png)")
        w("")

    # -- details
    w("## All values of the median runs")
    w("")
    w("| row | broker | published | delivered | pub/s | deliver/s | p50 µs | p99 µs | "
      "p99.9 µs | max µs | expected | received | lost | dup | out of order | "
      "connects | connect errors | RSS before kB | RSS after kB | gen CPU % |")
    w("|---|---|" + "---:|" * 18)
    for name, info in rows:
        for broker, workers in (("petrel", 1), ("petrel", 2), ("mosquitto", 1)):
            g = get(groups, name, broker, workers)
            r = g.median(info.get("primary", "deliver_rate"))
            if r is None:
                if g.runs:
                    w("| `%s` | %s -w %d | all runs failed |" % (name, broker, workers) +
                      " |" * 17)
                continue
            w("| `%s` | %s%s | " % (name, broker, " -w %d" % workers if broker == "petrel" else "")
              + " | ".join(fmt_num(r.get(k)) for k in (
                  "published", "delivered", "pub_rate", "deliver_rate", "lat_p50_us",
                  "lat_p99_us", "lat_p999_us", "lat_max_us", "expected", "received_total",
                  "lost", "duplicates", "out_of_order", "connects", "connect_errors",
                  "rss_before_kb", "rss_after_kb", "gen_cpu_pct")) + " |")
    w("")

    # -- scaling
    scale_rows = [(n, i) for n, i in rows if i.get("kind") == "scaling"]
    w("## Scaling with workers")
    w("")
    if scale_rows:
        w("Petrel with `-w 1` and `-w 2`, and mosquitto for reference. Here the broker "
          "may run on both cores (`taskset -c 0-1`) and the generator is not pinned "
          "(one thread), so broker and generator share the two cores: a second worker "
          "competes with the generator for CPU, and the speed-up is a lower bound of "
          "what two dedicated cores would give. Median of the runs by delivered "
          "msg/s.")
        w("")
        w("| row | petrel -w 1 | petrel -w 2 | -w 2 ÷ -w 1 | mosquitto | "
          "petrel -w 2 ÷ mosquitto | petrel lost / dup (-w 1; -w 2) | "
          "gen CPU (-w 1 / -w 2 / mosquitto) |")
        w("|---|---:|---:|---:|---:|---:|---|---|")
        for name, info in scale_rows:
            g1, g2 = get(groups, name, "petrel", 1), get(groups, name, "petrel", 2)
            gm = get(groups, name, "mosquitto", 1)
            r1, r2, rm = g1.median("deliver_rate"), g2.median("deliver_rate"), gm.median("deliver_rate")
            v1 = r1.get("deliver_rate") if r1 else None
            v2 = r2.get("deliver_rate") if r2 else None
            vm = rm.get("deliver_rate") if rm else None
            qos = (r1 or r2 or rm or info).get("qos")
            w("| `%s` | %s | %s | %s | %s | %s | %s; %s | %s / %s / %s |" % (
                name, fmt_metric("deliver_rate", v1), fmt_metric("deliver_rate", v2),
                fmt_ratio(ratio(v2, v1)), fmt_metric("deliver_rate", vm),
                fmt_ratio(ratio(v2, vm)), loss_cell(g1, r1, qos), loss_cell(g2, r2, qos),
                fmt_metric("gen_cpu_pct", (r1 or {}).get("gen_cpu_pct")),
                fmt_metric("gen_cpu_pct", (r2 or {}).get("gen_cpu_pct")),
                fmt_metric("gen_cpu_pct", (rm or {}).get("gen_cpu_pct"))))
        w("")
        for name, info in scale_rows:
            g1, g2 = get(groups, name, "petrel", 1), get(groups, name, "petrel", 2)
            r1, r2 = g1.median("deliver_rate"), g2.median("deliver_rate")
            rr = ratio(r2.get("deliver_rate") if r2 else None, r1.get("deliver_rate") if r1 else None)
            if rr is not None:
                w("- `%s`: two workers deliver %.2f× what one does (%s)." % (
                    name, rr, "scales" if rr >= 1.3 else
                    "little gain" if rr >= 1.05 else "no gain"))
        w("")
    else:
        w("_Not run (excluded by `--only`)._")
        w("")

    # -- targets
    w("## Targets")
    w("")
    w("Judged from the numbers above (this run only).")
    w("")
    for line in targets(rows, groups, recs):
        w(line)
    w("")

    # The profile is written by hand (perf needs a person to read it) and kept next
    # to the results, so regenerating the report keeps it.
    w("## Profile")
    w("")
    profile = os.path.join(args.plots, "profile.md")
    if os.path.exists(profile):
        with open(profile) as f:
            L.extend(f.read().rstrip("\n").split("\n"))
    else:
        w("_No profile recorded: write %s from a perf run._" % profile)
    w("")

    # Measured by the unit and integration suites, not by bench.sh; kept next to
    # the results like the profile, so regenerating the report keeps it.
    subs = os.path.join(args.plots, "subscriptions.md")
    if os.path.exists(subs):
        w("## Subscriptions at scale")
        w("")
        with open(subs) as f:
            L.extend(f.read().rstrip("\n").split("\n"))
        w("")

    notes = failure_notes(groups)
    if notes:
        w("## Failed runs")
        w("")
        L.extend(notes)
        w("")

    w("## Reproducing")
    w("")
    w("    scripts/bench.sh                 # full run, about 13 minutes, on an idle machine")
    w("    scripts/bench.sh --only '^fanin' --reps 3 --out /tmp/b/benchmarks.md")
    w("    scripts/bench.sh --quick         # a try: one short run per row, to /tmp")
    w("")
    w("The report can be rewritten from the saved results with "
      "`scripts/bench_report.py report --results docs/bench/results.jsonl "
      "--meta docs/bench/meta.json --out docs/benchmarks.md --plots docs/bench`.")

    os.makedirs(args.plots, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix="petrel-bench-plot.")
    try:
        ok_tp, ok_lat = plots(args, tp_lines, reps, quick, lat_plot, tmpdir)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    with open(args.out, "w") as f:
        f.write("\n".join(L) + "\n")
    print("wrote %s and the plots in %s" % (args.out, args.plots), file=sys.stderr)
    if not (ok_tp and ok_lat):
        sys.exit(1)


def throughput_lines(rows, groups):
    """[(row, [petrel, mosquitto, ratio])] of delivered msg/s, the throughput rows."""
    lines = []
    for name, info in rows:
        if info.get("kind") != "throughput":
            continue
        vals = []
        for broker in BROKERS:
            r = get(groups, name, broker).median("deliver_rate")
            vals.append(r.get("deliver_rate") if r else None)
        vals.append(ratio(vals[0], vals[1]))
        lines.append((name, vals))
    return lines


def remove_stale(path):
    """A plot this run cannot draw must not survive from an earlier run."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def plots(args, tp_lines, reps, quick, lat_plot, tmpdir):
    """Writes throughput.png and latency.png into args.plots, those that have data;
    (ok, ok)."""
    ok_tp = ok_lat = True
    if tp_lines is None:
        remove_stale(os.path.join(args.plots, "throughput.png"))
    else:
        data = os.path.join(tmpdir, "throughput.dat")
        write_plot_data(data, "row petrel mosquitto petrel/mosquitto (delivered msg/s)",
                        tp_lines)
        ok_tp = run_gnuplot("throughput.gp", data, os.path.join(args.plots, "throughput.png"),
            "delivered messages/s, median of %s run(s)%s; above each pair: "
            "petrel/mosquitto" % (reps, " (QUICK RUN)" if quick else ""))
    if lat_plot is None:
        remove_stale(os.path.join(args.plots, "latency.png"))
    else:
        name, rp, rm = lat_plot
        data = os.path.join(tmpdir, "latency.dat")
        lines = []
        for key, label in (("lat_p50_us", "p50"), ("lat_p99_us", "p99"),
                           ("lat_p999_us", "p99.9"), ("lat_max_us", "max")):
            lines.append((label, [rp.get(key) if rp else None, rm.get(key) if rm else None]))
        write_plot_data(data, "percentile petrel mosquitto (microseconds)", lines)
        ok_lat = run_gnuplot("latency.gp", data, os.path.join(args.plots, "latency.png"),
                             "%s latency%s" % (name, " (QUICK RUN)" if quick else ""))
    return ok_tp, ok_lat


def offered_text(recs, name):
    for r in recs:
        if r.get("row") == name and r.get("gen_cmd"):
            m = re.search(r"--rate (\d+)", r["gen_cmd"])
            p = re.search(r"--publishers (\d+)", r["gen_cmd"])
            if m and p:
                return " (%s publishers × %s msg/s = %s msg/s offered)" % (
                    p.group(1), m.group(1), fmt_num(int(p.group(1)) * int(m.group(1))))
    return ""


def targets(rows, groups, recs):
    out = []

    def val(name, broker, key, workers=1):
        r = get(groups, name, broker, workers).median(key)
        return r.get(key) if r else None

    # 1. throughput >= 2x in every fan-in / fan-out / pairs row
    tp = [(n, i) for n, i in rows if i.get("kind") == "throughput"]
    if not tp:
        out.append("- **Throughput ≥ 2× mosquitto in every fan-in, fan-out and pairs row:** "
                   "not measured.")
    else:
        details, bad, missing = [], [], []
        for name, info in tp:
            r = ratio(val(name, "petrel", "deliver_rate"), val(name, "mosquitto", "deliver_rate"))
            if r is None:
                missing.append(name)
                details.append("`%s` not measured" % name)
                continue
            details.append("`%s` %.2f×" % (name, r))
            if r < 2.0:
                bad.append(name)
        if missing:
            verdict = "**not established** (rows without a result: %s)" % ", ".join(missing)
            if bad:
                verdict = "**not met** (below 2×: %s; no result: %s)" % (
                    ", ".join(bad), ", ".join(missing))
        elif bad:
            verdict = "**not met** (below 2×: %s)" % ", ".join(bad)
        else:
            verdict = "**met**"
        out.append("- **Throughput ≥ 2× mosquitto in every fan-in, fan-out and pairs row:** "
                   "%s. Petrel ÷ mosquitto: %s." % (verdict, "; ".join(details)))

    # 2. p99 latency at the same offered load
    lat = [(n, i) for n, i in rows if i.get("kind") == "latency"]
    if not lat:
        out.append("- **p99 latency ≤ mosquitto's at the same offered load:** not measured.")
    for name, info in lat:
        p, m = val(name, "petrel", "lat_p99_us"), val(name, "mosquitto", "lat_p99_us")
        if not (isnum(p) and isnum(m)):
            out.append("- **p99 latency ≤ mosquitto's at the same offered load:** "
                       "not established (`%s` has no result for both)." % name)
            continue
        pp, pm = val(name, "petrel", "pub_rate"), val(name, "mosquitto", "pub_rate")
        load_note = ""
        if isnum(pp) and isnum(pm) and max(pp, pm) > 0 and abs(pp - pm) / max(pp, pm) > 0.05:
            load_note = (" Note: the achieved publish rates differ by more than 5 %% "
                         "(%s vs %s), so the loads were not quite equal." % (
                             fmt_metric("pub_rate", pp), fmt_metric("pub_rate", pm)))
        out.append("- **p99 latency ≤ mosquitto's at the same offered load%s:** %s "
                   "(`%s`: petrel %s, mosquitto %s, %s).%s" % (
                       offered_text(recs, name), "**met**" if p <= m else "**not met**",
                       name, fmt_metric("lat_p99_us", p), fmt_metric("lat_p99_us", m),
                       fmt_ratio(ratio(p, m)), load_note))

    # 3. memory per idle connection and per offline session
    for kind, what in (("conn", "memory per idle connection"),
                       ("offline", "memory per offline session")):
        sel = [(n, i) for n, i in rows if i.get("kind") == kind]
        if not sel:
            out.append("- **%s ≤ mosquitto's:** not measured." % what.capitalize())
        for name, info in sel:
            p = val(name, "petrel", "rss_per_conn_bytes")
            m = val(name, "mosquitto", "rss_per_conn_bytes")
            if not (isnum(p) and isnum(m)):
                out.append("- **%s ≤ mosquitto's:** not established (`%s` has no result "
                           "for both)." % (what.capitalize(), name))
                continue
            out.append("- **%s ≤ mosquitto's:** %s (`%s`: petrel %s, mosquitto %s, %s)." % (
                what.capitalize(), "**met**" if p <= m else "**not met**", name,
                fmt_metric("rss_per_conn_bytes", p), fmt_metric("rss_per_conn_bytes", m),
                fmt_ratio(ratio(p, m))))

    # And the promise of queue_full_policy backpressure.
    lost_rows = []
    for (name, broker, workers), g in groups.items():
        if broker != "petrel":
            continue
        for r in g.ok():
            if isnum(r.get("qos")) and r["qos"] >= 1 and isnum(r.get("lost")) and r["lost"] > 0:
                lost_rows.append("`%s` -w %s rep %s: %s" % (name, workers, r.get("rep"),
                                                            fmt_num(r["lost"])))
    if lost_rows:
        out.append("- **Petrel lost acknowledged QoS 1/2 messages**, which "
                   "`queue_full_policy backpressure` promises never to do: %s." %
                   "; ".join(lost_rows))
    else:
        out.append("- Petrel lost no acknowledged QoS 1/2 message in any run.")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("append")
    a.add_argument("--file", required=True)
    a.add_argument("--json", default="")
    a.add_argument("--set", nargs="*")
    s = sub.add_parser("summary")
    s.add_argument("--json", default="")
    s.add_argument("--label", required=True)
    s.add_argument("--primary", required=True)
    s.add_argument("--kind", default="")
    s.add_argument("--error", default="")
    s.add_argument("--wall", default="")
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--meta", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--plots", required=True)
    args = ap.parse_args()
    {"append": cmd_append, "summary": cmd_summary, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
