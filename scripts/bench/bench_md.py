"""bench_md.py - writes docs/benchmarks.md and its plots from the results of
scripts/bench.sh (see scripts/bench_report.py, which calls cmd_report). Every table
shows loss for both brokers, which mosquitto variant it used and what bounded the
run; the Targets section claims nothing that a lost message puts in doubt.
"""

import json
import os
import re
import shutil
import sys
import tempfile

from bench_data import (LOWER_BETTER, METRIC_NAMES, MOSQ_VARIANTS,
                        VARIANT_NAMES, GEN_SATURATED_PCT, SEARCH_RESOLUTION,
                        SEARCH_SEED_SHARE, SEARCH_LOSSY_SEED_SHARE,
                        SUSTAIN_BACKLOG_S, SUSTAIN_SHARE, cpu_count, fmt_metric,
                        fmt_num, fmt_rate_short, fmt_ratio, get, group_runs, isnum, load,
                        lossless_rate, mosq_best, mosq_best_lossless, offered_of, ratio,
                        offered_text, search_runs, step_verdict)
from bench_plots import plots
from bench_dpdk import sec_dpdk
from bench_memif import sec_memif
from bench_persist import sec_persist
from bench_targets import sec_targets

# A broker at this share of the cores it may use is the bound of its run.
BROKER_SATURATED_PCT = 90.0


# ---- cells ---------------------------------------------------------------------------

def template_gen_cmd(cmd):
    cmd = re.sub(r"--port \d+", "--port PORT", cmd)
    cmd = re.sub(r"--broker-pid \S+", "--broker-pid PID", cmd)
    cmd = re.sub(r"--label (\S+?)/\S+", r"--label \1/BROKER-VARIANT/wN/repR", cmd)
    cmd = re.sub(r"--client-prefix (pb-\S+?-)\d+-", r"--client-prefix \1R-", cmd)
    cmd = re.sub(r"--rate [0-9.e+]+", "--rate RATE", cmd)
    return cmd


def loss_cell(group, run, qos):
    """'lost / dup' of the median run; bold when acknowledged messages were lost.
    Petrel's own drop counters follow when it logged any."""
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
    if isnum(qos) and qos >= 1 and isnum(worst) and worst > 0:
        text = "**%s**" % text
    drops = {k: v for k, v in (run.get("broker_counters") or {}).items()
             if k.startswith("drop_") and v > 0}
    if drops:
        text += "; Petrel counted %s" % ", ".join(
            "`%s` %s" % (k, fmt_num(v)) for k, v in sorted(drops.items()))
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


def bound_cell(run):
    """What limited the run, judged from its numbers: the offered rate (it kept up),
    the broker's or the generator's CPU, both cores, drops by policy, or else the
    protocol's flow control (in-flight window, backpressure, socket buffers)."""
    if run is None:
        return "—"
    b, g = run.get("broker_cpu_pct"), run.get("gen_win_cpu_pct")
    nb = cpu_count(run.get("broker_cpus")) or 1
    why = []
    if offered_of(run) and step_verdict(run)[0]:
        why.append("offered rate")
    elif run.get("gen_cpus") == "any" and isnum(b) and isnum(g) and b + g >= 180:
        why.append("both cores")
    else:
        if isnum(b) and b >= BROKER_SATURATED_PCT * nb:
            why.append("broker CPU")
        if isnum(g) and g >= BROKER_SATURATED_PCT:
            why.append("generator CPU")
    if isnum(run.get("lost")) and run["lost"] > 0:
        why.append("drops by policy")
    if not why:
        why.append("flow control" if isnum(run.get("qos")) and run["qos"] >= 1
                   else "neither CPU full")
    if not (isnum(b) or isnum(g)):
        # Runs recorded before the CPU readings existed: only loss can be told.
        return "drops by policy" if "drops by policy" in why else "—"
    return "%s (broker %s, gen %s)" % (", ".join(why), fmt_metric("_pct", b),
                                       fmt_metric("_pct", g))


def mosq_cell(groups, name, key, workers=1):
    """The better mosquitto variant's value, which one it was, and the other's value."""
    variant, group, run = mosq_best(groups, name, key, workers)
    if run is None:
        return variant, group, run, "—"
    text = "%s (%s" % (fmt_metric(key, run.get(key)), VARIANT_NAMES[variant])
    for other in MOSQ_VARIANTS:
        if other == variant:
            continue
        orun = get(groups, name, "mosquitto", workers, other).median(key)
        if orun is not None:
            text += "; %s %s" % (VARIANT_NAMES[other], fmt_metric(key, orun.get(key)))
    return variant, group, run, text + ")"


def failure_notes(groups):
    notes = []
    for (row, broker, workers, variant), g in groups.items():
        for r in g.failures():
            notes.append("- `%s` %s (%s) -w %s rep %s: %s" % (
                row, broker, variant, workers, r.get("rep", "?"), r.get("error")))
    return notes


# ---- the report ----------------------------------------------------------------------

class Report:
    def __init__(self, recs, meta):
        self.recs = recs
        self.meta = meta
        self.rows, self.groups = group_runs(recs)
        self.quick = str(meta.get("quick", "0")) == "1"
        self.reps = meta.get("reps", "?")
        self.lines = []
        self.tp_lines = None     # throughput plot data
        self.lat_plot = None     # (row, petrel run, mosquitto run, mosquitto variant)
        self.curve = None        # [(broker, variant, [(offered, p50, p99, p999)])]

    def w(self, text=""):
        self.lines.append(text)

    def rows_of(self, *kinds):
        return [(n, i) for n, i in self.rows if i.get("kind") in kinds]

    def g(self, row, broker, workers=1, variant=None):
        return get(self.groups, row, broker, workers, variant)


def sec_head(rp):
    w, meta = rp.w, rp.meta
    w("# Benchmarks")
    w()
    if rp.quick:
        w("> **QUICK RUN (`scripts/bench.sh --quick`): one run per row, short durations, "
          "fewer connections and search steps. For trying the script only; do not quote "
          "these numbers.**")
        w()
    w("Petrel against mosquitto on one machine, written by `scripts/bench.sh` "
      "(raw data: [bench/results.jsonl](bench/results.jsonl), "
      "[bench/meta.json](bench/meta.json)).")
    w()
    w("**Read these numbers with care.** They come from one noisy 2-core virtual "
      "machine; the broker runs on core 0 and the load generator on core 1 (except in "
      "the scaling table), talking over loopback. Absolute rates say little about "
      "other hardware; only the ratios between the two brokers within one run are "
      "meaningful. Every table shows what each broker lost: a rate bought with lost "
      "messages is not a win.")
    w()
    w("## Machine and versions")
    w()
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
    w("| runs per broker variant and row | %s (the median run is kept) |" % rp.reps)
    w("| run length | %ss warm-up, %ss measured, %ss drain |" % (
        meta.get("warmup", "?"), meta.get("duration", "?"), meta.get("drain", "?")))
    if meta.get("search_steps"):
        w("| rate search | at most %s steps and %s s of runs per broker variant, %s s "
          "measured per step |" % (meta.get("search_steps"), meta.get("search_budget", "?"),
                                   meta.get("search_duration", "?")))
    if meta.get("elapsed_s"):
        e = int(meta["elapsed_s"])
        w("| whole benchmark took | %d min %d s |" % (e // 60, e % 60))
    if meta.get("only"):
        w("| rows selected | `--only '%s'` |" % meta["only"])
    w()


def sec_method(rp):
    w, meta = rp.w, rp.meta
    w("## Method")
    w()
    w("- Every run starts a fresh broker on a free port on 127.0.0.1, waits until it "
      "accepts TCP connections, runs the generator, then stops the broker (SIGTERM, "
      "SIGKILL after 5 s). The broker variants of a row alternate run by run, so a "
      "slow spell of the machine hits all of them.")
    w("- Broker pinned to core 0 (`taskset -c 0`), Petrel with one worker (`-w 1`); "
      "mosquitto is single-threaded. The generator `petrel-bench` (`tests/bench/`, "
      "release build) is pinned to core 1 with one thread (`--threads 1`).")
    w("- Both brokers get the same limits: 20 messages in flight and 1000 queued per "
      "session. Petrel runs with its default `queue_full_policy backpressure` (it stops "
      "reading from publishers instead of dropping); mosquitto acknowledges and then "
      "drops when a queue is full, which shows as lost messages in QoS 1/2 rows.")
    w("- **Nagle.** mosquitto runs every message row twice: with its default "
      "(`set_tcp_nodelay false`, Nagle on: the kernel coalesces its many small "
      "writes) and with `set_tcp_nodelay true`. Each row shows the better of the two "
      "by the row's metric, names it, and gives the other's value beside it. Petrel "
      "has no such switch: it sets `TCP_NODELAY` on every accepted socket "
      "(`dataplane/transport_kernel.c`) and coalesces itself, one `writev` per "
      "connection per loop turn. The generator sets `TCP_NODELAY` on all its sockets "
      "and writes once per connection per turn, the same for both brokers. The "
      "connection and memory rows run mosquitto with its default only: they send no "
      "messages, so Nagle plays no part.")
    w("- **Equal policy** (`fanin-q1`, `fanin-q2`): Petrel also runs with "
      "`queue_full_policy drop_new`, mosquitto's behaviour (acknowledge, then drop the "
      "newest when the subscriber's queue is full), beside the same mosquitto runs.")
    w("- **Flat-out rows** (all but `latency-q1`, `search-*` and `curve-*`) send as "
      "fast as the broker takes messages: QoS 0 whenever the socket accepts more, QoS "
      "1/2 with up to 32 unacknowledged messages per publisher. Where a broker delivers "
      "less than it took in, the row measures it dropping messages (QoS 1/2: messages "
      "it had acknowledged), not a rate it sustains; the notes under the results say "
      "so row by row, and the lossless rates are the fair comparison.")
    w("- **Highest lossless rate** (`search-*` rows): per broker variant, a flat-out "
      "probe, then fixed-rate runs of %s s that bracket and bisect the total rate: the "
      "first at %d %% of what the probe delivered (%d %% if the probe lost messages), "
      "×1.5 after a sustained step, after a failed one ×0.5 (or %d %% of what it "
      "delivered if it fell behind without loss) until both sides are known, then "
      "the geometric mean of the "
      "highest sustained and the lowest failed rate, until they are within %d %% of "
      "each other, %s steps or %s s of runs. A step is *sustained* when nothing is "
      "lost by the end of the drain, the generator sent and the subscriber received at "
      "least %d %% of the offered messages inside the window, the schedule owed less "
      "than %d ms of offered messages at the stop, and the generator's CPU stayed "
      "under %d %%. The row reports the highest sustained rate; each broker keeps its "
      "own policy (Petrel backpressure). The table also says why the next step above "
      "that rate failed and what bounded it. One search per variant, not a median of "
      "several." % (
          meta.get("search_duration", "?"), round(SEARCH_SEED_SHARE * 100),
          round(SEARCH_LOSSY_SEED_SHARE * 100), round(SEARCH_SEED_SHARE * 100),
          round((SEARCH_RESOLUTION - 1) * 100),
          meta.get("search_steps", "?"), meta.get("search_budget", "?"),
          round(SUSTAIN_SHARE * 100), round(SUSTAIN_BACKLOG_S * 1000),
          round(GEN_SATURATED_PCT)))
    w("- **Latency against load** (`curve-fanin-q1`): Petrel and mosquitto (in the "
      "variant with the higher lossless QoS 1 rate) each at %s %% of their own highest "
      "lossless QoS 1 fan-in rate, %s run(s) per point, median by p99. Latency is "
      "measured from each message's *scheduled* send time: with R messages/s per "
      "publisher, publisher i (of 8) sends message k at t0 + i/(8R) + k/R and stamps "
      "it with that time; when its in-flight window is full or the generator is late "
      "the message waits and keeps its stamp, so a stall counts in the latency of "
      "every message it delayed (no coordinated omission). The generator wakes at "
      "most every 10 µs for scheduled messages, so above 100k msg/s in all the "
      "messages due within 10 µs share one write; that wait is counted too. How long messages waited to be sent (scheduled to "
      "queued for the socket: a full window or a late generator) is reported beside "
      "it; messages the schedule still owed at the stop are counted "
      "as *unsent*." % (", ".join((meta.get("curve_fractions") or "10 50 80 95").split()),
                        rp.reps))
    w("- The fixed-rate `latency-q1` row uses the same scheduled-time stamps.")
    w("- *lost*: messages the generator expected (acknowledged to the publisher for "
      "QoS 1/2) but never received; in bold when acknowledged QoS 1/2 messages were "
      "lost in any run. *dup*: received more than once. QoS 0 may lose by design, "
      "but it is still shown and judged. For Petrel, the drop counters it logs at "
      "shutdown (`drop_*` in `include/petrel/stats.h`) say where it dropped.")
    w("- *bound by*: what limited the run, from its numbers: *offered rate* (a "
      "fixed-rate run that kept up), *broker CPU* (≥ %d %% of the cores it may use, "
      "user + system time of its process in the window), *generator CPU* (≥ %d %% of "
      "its one thread), *both cores* (scaling rows: broker + generator ≥ 180 %%), "
      "*drops by policy* (messages lost), else *flow control* (in-flight windows, "
      "Petrel's backpressure, socket buffers: neither CPU was full)." % (
          BROKER_SATURATED_PCT, BROKER_SATURATED_PCT))
    w("- The ratio column is always Petrel ÷ mosquitto; the *better* column says "
      "whether higher or lower is better for that metric. ± is half the range of the "
      "runs around the median.")
    w()
    w("Broker command lines (`PORT` is a new free port per run):")
    w()
    w("```")
    seen = []
    for r in rp.recs:
        c = r.get("broker_cmd")
        if c and c not in seen:
            seen.append(c)
            w(c)
    w("```")
    w()
    w("`petrel.conf` (the `drop_new` variant changes `queue_full_policy`):")
    w()
    w("```")
    w(meta.get("petrel_conf", "").rstrip())
    w("```")
    w()
    w("`mosquitto.conf` (the `TCP_NODELAY` variant adds `set_tcp_nodelay true`):")
    w()
    w("```")
    w(meta.get("mosquitto_conf", "").rstrip())
    w("```")
    w()
    w("Generator command per row (`RATE` is per publisher, set by the search or the "
      "curve):")
    w()
    w("| row | what | variants | command |")
    w("|---|---|---|---|")
    for name, info in rp.rows:
        gc = next((r.get("gen_cmd") for r in rp.recs
                   if r.get("row") == name and r.get("gen_cmd")), "")
        variants = []
        for key in sorted({(r.get("broker"), r.get("variant"), r.get("workers", 1))
                           for r in rp.recs if r.get("row") == name}):
            variants.append("%s %s%s" % (key[0], VARIANT_NAMES.get(key[1], key[1]),
                                         " -w %d" % key[2] if key[0] == "petrel" else ""))
        w("| `%s` | %s | %s | `%s` |" % (name, info.get("title", ""), "; ".join(variants),
                                        template_gen_cmd(gc)))
    w()


def sec_results(rp):
    w = rp.w
    main_rows = rp.rows_of("throughput", "latency", "conn", "offline")
    w("## Results")
    w()
    if main_rows:
        w("Petrel with `queue_full_policy backpressure` against mosquitto in its better "
          "variant for each row.")
        w()
        w("| row | metric | better | petrel | mosquitto (better of Nagle / TCP_NODELAY) "
          "| petrel ÷ mosquitto | petrel lost / dup (connections) | mosquitto lost / dup "
          "(connections) | bound by: petrel; mosquitto | runs petrel; mosquitto |")
        w("|---|---|---|---:|---:|---:|---|---|---|---|")
    for name, info in main_rows:
        metrics = [info.get("primary", "deliver_rate")]
        if info.get("kind") == "conn":
            metrics = ["connect_rate", "rss_per_conn_bytes"]
        elif info.get("kind") == "offline":
            metrics = ["rss_per_conn_bytes", "connect_rate"]
        for key in metrics:
            gp = rp.g(name, "petrel")
            rpet = gp.median(key)
            _, gm, rm, mtext = mosq_cell(rp.groups, name, key)
            vp = rpet.get(key) if rpet else None
            vm = rm.get(key) if rm else None
            qos = (rpet or rm or info).get("qos")
            label = METRIC_NAMES.get(key, key)
            if info.get("kind") == "offline" and key == "rss_per_conn_bytes":
                label = "memory per offline session"
            no_msgs = info.get("kind") in ("conn", "offline")
            w("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s; %s | %s; %s |" % (
                name, label, "lower" if key in LOWER_BETTER else "higher",
                fmt_metric(key, vp), mtext, fmt_ratio(ratio(vp, vm)),
                conn_cell(rpet) if no_msgs else loss_cell(gp, rpet, qos),
                conn_cell(rm) if no_msgs else loss_cell(gm, rm, qos),
                bound_cell(rpet), bound_cell(rm), spread_cell(gp, key),
                spread_cell(gm, key)))
    if main_rows:
        w()
    notes = flat_out_notes(rp)
    for n in notes:
        w(n)
    if notes:
        w()
    rp.tp_lines = throughput_lines(rp)
    if any(isnum(v) for _, vals in rp.tp_lines for v in vals[:2]):
        w("![delivered messages per second, petrel and mosquitto](bench/throughput.png)")
    else:
        rp.tp_lines = None
        w("_No fan-in, fan-out or pairs result in this run: no throughput plot._")
    w()


def flat_out_notes(rp):
    """Plain words on every flat-out row where a broker lost messages."""
    out = []
    for name, info in rp.rows_of("throughput"):
        for broker, label in (("petrel", "Petrel"), ("mosquitto", "mosquitto")):
            if broker == "petrel":
                g = rp.g(name, "petrel")
                r = g.median("deliver_rate")
            else:
                _, g, r = mosq_best(rp.groups, name, "deliver_rate")
            if r is None or not isnum(r.get("lost")) or r["lost"] <= 0:
                continue
            share = 100.0 * r["lost"] / r["expected"] if isnum(r.get("expected")) and \
                r["expected"] > 0 else None
            qos = r.get("qos")
            what = ("acknowledged %s QoS %s messages" % ("and then dropped", qos)
                    if isnum(qos) and qos >= 1 else "dropped QoS 0 messages")
            out.append("- `%s`: %s %s: %s of the messages it took in (%s). This row "
                       "measures that, not a rate it sustains%s." % (
                           name, label, what, fmt_num(r["lost"]),
                           "%.1f %%" % share if share is not None else "?",
                           "; see the lossless rates below" if name.startswith("fanin-")
                           else ""))
    return out


def throughput_lines(rp):
    """[(row, [petrel, mosquitto best, ratio])] of delivered msg/s."""
    lines = []
    for name, info in rp.rows_of("throughput"):
        r = rp.g(name, "petrel").median("deliver_rate")
        vp = r.get("deliver_rate") if r else None
        _, _, rm = mosq_best(rp.groups, name, "deliver_rate")
        vm = rm.get("deliver_rate") if rm else None
        lines.append((name, [vp, vm, ratio(vp, vm)]))
    return lines


def sec_equal_policy(rp):
    names = [n for n, i in rp.rows_of("throughput") if rp.g(n, "petrel", 1, "drop_new").runs]
    if not names:
        return
    w = rp.w
    w("## QoS 1/2 fan-in at equal policy")
    w()
    w("Petrel with `queue_full_policy drop_new` (acknowledge, drop the newest when the "
      "subscriber's queue is full: what mosquitto does) against the same mosquitto "
      "runs as above, flat out. Petrel with its default `backpressure` for reference.")
    w()
    w("| row | petrel drop_new | mosquitto (better variant) | petrel drop_new ÷ "
      "mosquitto | petrel drop_new lost / dup | mosquitto lost / dup | petrel "
      "backpressure (lost) | bound by: petrel drop_new; mosquitto |")
    w("|---|---:|---:|---:|---|---|---|---|")
    for name in names:
        gd = rp.g(name, "petrel", 1, "drop_new")
        rd = gd.median("deliver_rate")
        _, gm, rm, mtext = mosq_cell(rp.groups, name, "deliver_rate")
        gb = rp.g(name, "petrel")
        rb = gb.median("deliver_rate")
        vd = rd.get("deliver_rate") if rd else None
        vm = rm.get("deliver_rate") if rm else None
        qos = (rd or rm or {}).get("qos")
        w("| `%s` | %s | %s | %s | %s | %s | %s (%s) | %s; %s |" % (
            name, fmt_metric("deliver_rate", vd), mtext, fmt_ratio(ratio(vd, vm)),
            loss_cell(gd, rd, qos), loss_cell(gm, rm, qos),
            fmt_metric("deliver_rate", rb.get("deliver_rate") if rb else None),
            fmt_num(rb.get("lost")) if rb else "—", bound_cell(rd), bound_cell(rm)))
    w()


def steps_text(recs, name, broker, variant):
    parts = []
    for r in search_runs(recs, name, broker, variant, 1):
        o = offered_of(r)
        if o is None:
            parts.append("probe flat out: %s delivered, %s lost" % (
                fmt_rate_short(r.get("deliver_rate")), fmt_num(r.get("lost"))))
            continue
        ok, why = step_verdict(r)
        parts.append("%s %s" % (fmt_rate_short(o), "✓" if ok else "✗ (%s)" % why))
    return "; ".join(parts) or "not run"


def failed_above(recs, name, broker, variant, rate):
    """Why the lowest failed step above <rate> failed, and what bounded it: the
    limit the search ran into."""
    above = [r for r in search_runs(recs, name, broker, variant, 1)
             if offered_of(r) and not step_verdict(r)[0] and
             (rate is None or offered_of(r) > rate)]
    if not above:
        return "—"
    r = min(above, key=offered_of)
    return "%s: %s; %s" % (fmt_rate_short(offered_of(r)), step_verdict(r)[1],
                           bound_cell(r))


def sec_lossless(rp):
    sel = rp.rows_of("search")
    if not sel:
        return
    w = rp.w
    w("## Highest lossless rate")
    w()
    w("The highest total rate (8 publishers together) each broker sustained with zero "
      "loss, found by the rate search described in the method. ✓ sustained, ✗ not.")
    w()
    w("| row | petrel | mosquitto Nagle | mosquitto TCP_NODELAY | petrel ÷ mosquitto "
      "(better variant) | p99 at that rate: petrel; mosquitto | what failed next "
      "above it: petrel; mosquitto |")
    w("|---|---:|---:|---:|---:|---|---|")
    for name, info in sel:
        prate, prun = lossless_rate(rp.recs, name, "petrel", "backpressure")
        mvar, mrate, mrun = mosq_best_lossless(rp.recs, name)
        vals = []
        for v in MOSQ_VARIANTS:
            rate, _ = lossless_rate(rp.recs, name, "mosquitto", v)
            vals.append(fmt_metric("offered_rate", rate) if rate else "none found")
        w("| `%s` | %s | %s | %s | %s | %s; %s | %s; %s |" % (
            name, fmt_metric("offered_rate", prate) if prate else "none found",
            vals[0], vals[1], fmt_ratio(ratio(prate, mrate)),
            fmt_metric("lat_p99_us", (prun or {}).get("lat_p99_us")),
            fmt_metric("lat_p99_us", (mrun or {}).get("lat_p99_us")),
            failed_above(rp.recs, name, "petrel", "backpressure", prate),
            failed_above(rp.recs, name, "mosquitto", mvar, mrate)))
    w()
    w("Search steps (total offered rate, in order):")
    w()
    for name, info in sel:
        for broker, variant in (("petrel", "backpressure"), ("mosquitto", "nagle"),
                                ("mosquitto", "nodelay")):
            if not search_runs(rp.recs, name, broker, variant, 1):
                continue
            w("- `%s` %s %s: %s" % (name, broker, VARIANT_NAMES[variant],
                                    steps_text(rp.recs, name, broker, variant)))
    w()


def sec_curve(rp):
    sel = rp.rows_of("curve")
    if not sel:
        return
    w = rp.w
    for name, info in sel:
        w("## Latency against load: `%s`" % name)
        w()
        src = next((r.get("source_row") for r in rp.recs if r.get("row") == name), "?")
        mvar = next((r.get("variant") for r in rp.recs
                     if r.get("row") == name and r.get("broker") == "mosquitto"), "nagle")
        w("Fan-in QoS 1, 8 publishers -> 1 subscriber, each broker at a share of its own "
          "highest lossless rate from `%s` (mosquitto with %s, its better variant "
          "there). Latency from the scheduled send time, median run by p99 of %s. "
          "*waited to send p99*: from the scheduled time to when the generator queued "
          "the message for its socket (a full in-flight window, i.e. acknowledgements "
          "slower than the schedule, plus the generator's own lateness); it is part of "
          "the latency." % (src, VARIANT_NAMES.get(mvar, mvar), rp.reps))
        w()
        w("| % of own lossless rate | broker | offered | p50 | p99 | p99.9 | max | lost / "
          "dup | unsent | waited to send p99 | bound by |")
        w("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---|")
        pcts = sorted({r.get("percent") for r in rp.recs
                       if r.get("row") == name and isinstance(r.get("percent"), int)})
        series = {}
        for pct in pcts:
            for broker in ("petrel", "mosquitto"):
                g = rp.g(name, broker, 1, "backpressure" if broker == "petrel" else mvar)
                runs = [r for r in g.runs if r.get("percent") == pct]
                sub = type(g)()
                sub.runs = runs
                r = sub.median("lat_p99_us")
                if not runs:
                    continue
                if r is None:
                    w("| %d | %s | all runs failed |" % (pct, broker) + " |" * 8)
                    continue
                w("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    pct, broker, fmt_metric("offered_rate", r.get("offered_rate")),
                    fmt_metric("_us", r.get("lat_p50_us")),
                    fmt_metric("_us", r.get("lat_p99_us")),
                    fmt_metric("_us", r.get("lat_p999_us")),
                    fmt_metric("_us", r.get("lat_max_us")),
                    loss_cell(sub, r, r.get("qos")), fmt_num(r.get("unsent")),
                    fmt_metric("_us", r.get("lag_p99_us")), bound_cell(r)))
                series.setdefault(broker, []).append(
                    (r.get("offered_rate"), r.get("lat_p50_us"), r.get("lat_p99_us"),
                     r.get("lat_p999_us")))
        w()
        if series and rp.curve is None:
            rp.curve = (name, mvar, series)
            w("![latency percentiles against offered load, petrel and mosquitto]"
              "(bench/latency_curve.png)")
            w()


def sec_latency(rp):
    w = rp.w
    for name, info in rp.rows_of("latency"):
        gp = rp.g(name, "petrel")
        rpet = gp.median("lat_p99_us")
        mvar, gm, rm = mosq_best(rp.groups, name, "lat_p99_us")
        w("## Latency: `%s`" % name)
        w()
        w("%s. The same offered load for both brokers%s, latency from the scheduled "
          "send time; mosquitto with %s (its lower p99); the median run by p99 is "
          "shown. Lower is better." % (info.get("title", name), offered_text(rp.recs, name),
                                       VARIANT_NAMES.get(mvar, mvar)))
        w()
        w("| | petrel | mosquitto | petrel ÷ mosquitto |")
        w("|---|---:|---:|---:|")
        for key in ("lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us",
                    "pub_rate", "deliver_rate", "lost", "lag_p99_us"):
            vp = rpet.get(key) if rpet else None
            vm = rm.get(key) if rm else None
            label = {"lost": "lost", "lag_p99_us": "waited to send p99"}.get(
                key, METRIC_NAMES.get(key, key))
            w("| %s | %s | %s | %s |" % (label, fmt_metric(key, vp), fmt_metric(key, vm),
                                          fmt_ratio(ratio(vp, vm))))
        w()
        if rp.lat_plot is None and (rpet or rm):
            rp.lat_plot = (name, rpet, rm, mvar)
    if rp.lat_plot:
        w("![latency percentiles, petrel and mosquitto](bench/latency.png)")
        w()


VALUE_KEYS = ("offered_rate", "published", "delivered", "pub_rate", "deliver_rate",
              "lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us", "expected",
              "received_total", "lost", "duplicates", "out_of_order", "unsent",
              "broker_drops", "connects", "connect_errors", "rss_before_kb",
              "rss_after_kb", "broker_cpu_pct", "gen_win_cpu_pct")


def sec_values(rp):
    w = rp.w
    w("## All values of the median runs")
    w()
    w("Search steps and curve points are listed in their own sections, not here. "
      "*Petrel drops*: the sum of its `drop_*` counters.")
    w()
    w("| row | broker | offered/s | published | delivered | pub/s | deliver/s | p50 µs "
      "| p99 µs | p99.9 µs | max µs | expected | received | lost | dup | out of order "
      "| unsent | Petrel drops | connects | connect errors | RSS before kB | RSS after "
      "kB | broker CPU % | gen CPU % |")
    w("|---|---|" + "---:|" * len(VALUE_KEYS))
    for name, info in rp.rows:
        if info.get("kind") in ("search", "curve"):
            continue
        keys = sorted({(k[1], k[2], k[3]) for k in rp.groups if k[0] == name},
                      key=lambda k: (k[0] != "petrel", k[1], k[2]))
        for broker, workers, variant in keys:
            g = rp.g(name, broker, workers, variant)
            r = g.median(info.get("primary", "deliver_rate"))
            label = "%s%s %s" % (broker, " -w %d" % workers if broker == "petrel" else "",
                                 VARIANT_NAMES.get(variant, variant))
            if r is None:
                w("| `%s` | %s | all runs failed |" % (name, label) + " |" * (len(VALUE_KEYS) - 1))
                continue
            w("| `%s` | %s | " % (name, label) +
              " | ".join(fmt_num(r.get(k)) for k in VALUE_KEYS) + " |")
    w()


def sec_scaling(rp):
    w = rp.w
    sel = rp.rows_of("scaling")
    w("## Scaling with workers")
    w()
    if not sel:
        w("_Not run (excluded by `--only`)._")
        w()
        return
    w("Petrel with `-w 1` and `-w 2`, and mosquitto (better variant) for reference. "
      "Here the broker may run on both cores (`taskset -c 0-1`) and the generator is "
      "not pinned (one thread), so broker and generator share the two cores: a second "
      "worker competes with the generator for CPU, and the speed-up is a lower bound "
      "of what two dedicated cores would give. Median of the runs by delivered msg/s.")
    w()
    w("| row | petrel -w 1 | petrel -w 2 | -w 2 ÷ -w 1 | mosquitto | petrel -w 2 ÷ "
      "mosquitto | lost / dup: -w 1; -w 2; mosquitto | bound by: -w 1; -w 2; mosquitto |")
    w("|---|---:|---:|---:|---:|---:|---|---|")
    for name, info in sel:
        g1, g2 = rp.g(name, "petrel", 1), rp.g(name, "petrel", 2)
        r1, r2 = g1.median("deliver_rate"), g2.median("deliver_rate")
        _, gm, rm, mtext = mosq_cell(rp.groups, name, "deliver_rate")
        v1 = r1.get("deliver_rate") if r1 else None
        v2 = r2.get("deliver_rate") if r2 else None
        vm = rm.get("deliver_rate") if rm else None
        qos = (r1 or r2 or rm or info).get("qos")
        w("| `%s` | %s | %s | %s | %s | %s | %s; %s; %s | %s; %s; %s |" % (
            name, fmt_metric("deliver_rate", v1), fmt_metric("deliver_rate", v2),
            fmt_ratio(ratio(v2, v1)), mtext, fmt_ratio(ratio(v2, vm)),
            loss_cell(g1, r1, qos), loss_cell(g2, r2, qos), loss_cell(gm, rm, qos),
            bound_cell(r1), bound_cell(r2), bound_cell(rm)))
    w()
    for name, info in sel:
        r1 = rp.g(name, "petrel", 1).median("deliver_rate")
        r2 = rp.g(name, "petrel", 2).median("deliver_rate")
        rr = ratio(r2.get("deliver_rate") if r2 else None, r1.get("deliver_rate") if r1 else None)
        if rr is not None:
            w("- `%s`: two workers deliver %.2f× what one does (%s)." % (
                name, rr, "scales" if rr >= 1.3 else
                "little gain" if rr >= 1.05 else "no gain"))
    w()


def sec_tail(rp, plots_dir):
    w = rp.w
    # The profile is written by hand (perf needs a person to read it) and kept next
    # to the results, so regenerating the report keeps it.
    w("## Profile")
    w()
    profile = os.path.join(plots_dir, "profile.md")
    if os.path.exists(profile):
        with open(profile) as f:
            rp.lines.extend(f.read().rstrip("\n").split("\n"))
    else:
        w("_No profile recorded: write %s from a perf run._" % profile)
    w()
    # Sections measured outside bench.sh's rows and read by a person, kept next to the
    # results like the profile so regenerating the report keeps them: subscriptions
    # at scale (unit and integration suites), memory per connection over DPDK
    # (scripts/bench/conn_memory.sh, conn_memif.sh) and the generator's DPDK mode
    # (petrel-bench --dpdk by hand, until memif rows are in bench.sh).
    for name, heading in (("subscriptions.md", "Subscriptions at scale"),
                          ("connections.md", "Memory per connection over DPDK"),
                          ("generator.md",
                           "The generator over DPDK (`petrel-bench --dpdk`)")):
        path = os.path.join(plots_dir, name)
        if os.path.exists(path):
            w("## " + heading)
            w()
            with open(path) as f:
                rp.lines.extend(f.read().rstrip("\n").split("\n"))
            w()
    notes = failure_notes(rp.groups)
    if notes:
        w("## Failed runs")
        w()
        rp.lines.extend(notes)
        w()
    w("## Reproducing")
    w()
    w("    scripts/bench.sh                 # full run, about 45 minutes, on an idle machine")
    w("    scripts/bench.sh --only '^fanin' --reps 3 --out /tmp/b/benchmarks.md")
    w("    scripts/bench.sh --only '^curve' --reps 1 --out /tmp/b/benchmarks.md  "
      "# runs search-fanin-q1 first")
    w("    scripts/bench.sh --quick         # a try: one short run per row, to /tmp")
    w("    scripts/bench.sh --only '^dpdk-' --reps 3 --out /tmp/b/benchmarks.md  "
      "# the DPDK rows (root)")
    w("    scripts/bench.sh --quick --only '^dpdk-fanin-q1$' --variants 'tap|afxdp'")
    w("    scripts/bench.sh --only '^memif-' --reps 3  # the memif rows (root): "
      "their own results, the section \"Over memif\"")
    w()
    w("The report can be rewritten from the saved results with "
      "`scripts/bench_report.py report --results docs/bench/results.jsonl "
      "--meta docs/bench/meta.json --out docs/benchmarks.md --plots docs/bench`.")


def cmd_report(args):
    recs = load(args.results)
    with open(args.meta) as f:
        meta = json.load(f)
    rp = Report(recs, meta)
    for sec in (sec_head, sec_method, sec_results, sec_equal_policy, sec_lossless,
                sec_curve, sec_latency, sec_values, sec_scaling):
        sec(rp)
    sec_dpdk(rp, bound_cell, loss_cell, conn_cell)
    memif_ok = sec_memif(rp, args.plots)
    sec_persist(rp, bound_cell, loss_cell)
    sec_targets(rp)
    sec_tail(rp, args.plots)

    os.makedirs(args.plots, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix="petrel-bench-plot.")
    try:
        ok = plots(rp, args.plots, tmpdir)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    with open(args.out, "w") as f:
        f.write("\n".join(rp.lines) + "\n")
    print("wrote %s and the plots in %s" % (args.out, args.plots), file=sys.stderr)
    if not (ok and memif_ok):
        sys.exit(1)
