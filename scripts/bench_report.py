#!/usr/bin/env python3
"""bench_report.py - the bookkeeping of scripts/bench.sh (Python 3 standard library).

    bench_report.py append --file RESULTS --json LINE [--samples FILE]
            [--set key=value ...]
        Appends one run to RESULTS (JSON lines): petrel-bench's JSON line LINE (empty
        or unparsable if the run failed) with the keys given by --set added, and with
        --samples the store sizes sampled during the run (lines "ms bytes allocated
        rss-kB") as size_samples [[seconds, bytes, allocated bytes, RSS kB], ...].
    bench_report.py summary --json LINE --label TEXT --primary KEY [--error TEXT]
        Prints one progress line for the run to stderr.
    bench_report.py search-next --results RESULTS --row ROW --broker B --variant V
            --workers N --publishers P --max-steps S --budget SECONDS
        Prints the next step of that broker variant's rate search, "rate-per-publisher
        total" (0 0 for the flat-out probe), or nothing when the search is done.
    bench_report.py curve-plan --results RESULTS --row SEARCH_ROW --publishers P
            --fractions "10 50 80 95"
        Prints "broker variant workers percent rate-per-publisher total" per point of
        the latency curve, from the lossless rates SEARCH_ROW found.
    bench_report.py report --results RESULTS --meta META --out FILE --plots DIR
        Writes the Markdown report FILE from RESULTS and META (bench.sh's meta.json),
        its "Over memif" section from DIR/results-memif.jsonl,
        and the plots DIR/throughput.png, DIR/latency.png and DIR/latency_curve.png
        with gnuplot (scripts/bench/*.gp). Can be rerun on saved results:
            scripts/bench_report.py report --results docs/bench/results.jsonl \\
                --meta docs/bench/meta.json --out docs/benchmarks.md --plots docs/bench
    bench_report.py memif-section --out FILE --plots DIR
        Rewrites only the "Over memif" section of the report FILE (inserted before
        "## Persistence" or "## Targets" if FILE has none) from DIR/results-memif.jsonl,
        and DIR/conn_1m.png: what bench.sh does after a run of memif rows only, so
        that sections spliced in by hand survive.

Each row keeps the median run per broker variant (and worker count) by the row's
primary metric; with an even number of runs the lower middle one. The other columns
come from that same run, so one table line is one real run. The data rules live in
scripts/bench/bench_data.py, the Markdown in scripts/bench/bench_md.py (its Targets
section in bench_targets.py, the plots in bench_plots.py).
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The helpers beside the gnuplot scripts; no __pycache__ left in the tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "bench"))

import bench_data as bd  # noqa: E402
import bench_md  # noqa: E402
import bench_memif  # noqa: E402

INT_KEYS = ("workers", "rep", "exit", "wall_s", "port", "step", "percent",
            "sessions_wanted", "fill_ms", "startup_ms", "listen_ms", "rss_started_kb", "session_present",
            "store_file_bytes", "store_alloc_bytes", "loaded_sessions", "loaded_subs",
            "loaded_msgs", "loaded_retained")
FLOAT_KEYS = ("offered_total", "load_ms")
# bench_persist.sh's LMDB figures (mdb_page_size, mdb_entries_sessions ...).
INT_PREFIXES = ("mdb_",)


def read_samples(path):
    """[[seconds, bytes, allocated bytes, broker RSS kB], ...] from a size sampler's
    file."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4 and all(p.isdigit() for p in parts):
                    out.append([int(parts[0]) / 1000.0] + [int(p) for p in parts[1:]])
    except OSError:
        pass
    return out


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
        if (key in INT_KEYS or key.startswith(INT_PREFIXES)) and \
                re.fullmatch(r"-?\d+", value):
            value = int(value)
        elif key in FLOAT_KEYS:
            try:
                value = float(value)
            except ValueError:
                pass
        extra[key] = value
    if args.samples:
        extra["size_samples"] = read_samples(args.samples)
    # Petrel's shutdown counters: kept whole, and its drops summed.
    totals = extra.pop("broker_totals", "")
    if totals:
        counters = bd.parse_totals(totals)
        extra["broker_counters"] = counters
        extra["broker_drops"] = sum(v for k, v in counters.items() if k.startswith("drop_"))
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
        print("  %-44s FAILED: %s%s" % (args.label, args.error or "no JSON line", wall),
              file=sys.stderr)
        return
    fmt = bd.fmt_num
    parts = ["%s %s" % (args.primary, fmt(rec.get(args.primary)))]
    # A DPDK row's kind is "dpdk" whatever its scenario: its metric tells.
    conn = args.kind in ("conn", "offline") or args.primary == "connect_rate"
    if conn:
        extras = ("connect_rate", "rss_per_conn_bytes", "connect_errors")
    else:
        extras = ("offered_rate", "pub_rate", "deliver_rate", "lat_p99_us")
    for key in extras:
        if key != args.primary and bd.isnum(rec.get(key)):
            parts.append("%s %s" % (key, fmt(rec.get(key))))
    if not conn:
        parts.append("lost %s dup %s" % (fmt(rec.get("lost")), fmt(rec.get("duplicates"))))
        if bd.isnum(rec.get("offered_rate")):
            parts.append("unsent %s" % fmt(rec.get("unsent")))
    parts.append("cpu broker %s%% gen %s%%" % (fmt(rec.get("broker_cpu_pct")),
                                               fmt(rec.get("gen_win_cpu_pct"))))
    print("  %-44s %s%s" % (args.label, ", ".join(parts), wall), file=sys.stderr)


# ---- search and curve ----------------------------------------------------------------

def cmd_search_next(args):
    recs = bd.load(args.results) if os.path.exists(args.results) else []
    runs = bd.search_runs(recs, args.row, args.broker, args.variant, args.workers)
    nxt = bd.search_next(runs, args.max_steps, args.budget)
    if nxt is not None:
        print("%.6g %.6g" % (nxt / args.publishers, nxt))


def cmd_curve_plan(args):
    recs = bd.load(args.results) if os.path.exists(args.results) else []
    fractions = [int(x) for x in args.fractions.split()]
    for broker, variant, workers, pct, per_pub, total in bd.curve_plan(
            recs, args.row, fractions, args.publishers):
        print("%s %s %d %d %.6g %.6g" % (broker, variant, workers, pct, per_pub, total))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("append")
    a.add_argument("--file", required=True)
    a.add_argument("--json", default="")
    a.add_argument("--samples", default="")
    a.add_argument("--set", nargs="*")
    s = sub.add_parser("summary")
    s.add_argument("--json", default="")
    s.add_argument("--label", required=True)
    s.add_argument("--primary", required=True)
    s.add_argument("--kind", default="")
    s.add_argument("--error", default="")
    s.add_argument("--wall", default="")
    n = sub.add_parser("search-next")
    n.add_argument("--results", required=True)
    n.add_argument("--row", required=True)
    n.add_argument("--broker", required=True)
    n.add_argument("--variant", required=True)
    n.add_argument("--workers", type=int, default=1)
    n.add_argument("--publishers", type=int, required=True)
    n.add_argument("--max-steps", type=int, required=True)
    n.add_argument("--budget", type=float, required=True)
    c = sub.add_parser("curve-plan")
    c.add_argument("--results", required=True)
    c.add_argument("--row", required=True)
    c.add_argument("--publishers", type=int, required=True)
    c.add_argument("--fractions", required=True)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--meta", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--plots", required=True)
    m = sub.add_parser("memif-section")
    m.add_argument("--out", required=True)
    m.add_argument("--plots", required=True)
    args = ap.parse_args()
    {"append": cmd_append, "summary": cmd_summary, "search-next": cmd_search_next,
     "curve-plan": cmd_curve_plan, "report": bench_md.cmd_report,
     "memif-section": bench_memif.cmd_memif_section}[args.cmd](args)


if __name__ == "__main__":
    main()
