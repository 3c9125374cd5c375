"""bench_plots.py - the plots of docs/benchmarks.md, drawn by gnuplot with the scripts
beside this file: throughput.png (delivered msg/s per row), latency.png (percentiles
of the fixed-load latency row) and latency_curve.png (percentiles against offered
load). Called by bench_md.py with the data its sections collected.
"""

import os
import subprocess
import sys

from bench_data import VARIANT_NAMES, isnum

HERE = os.path.dirname(os.path.abspath(__file__))


def write_plot_data(path, header, lines):
    with open(path, "w") as f:
        f.write("# " + header + "\n")
        for label, values in lines:
            cells = [("%.6g" % v) if isnum(v) and v > 0 else "?" for v in values]
            f.write('"%s" %s\n' % (label, " ".join(cells)))


def run_gnuplot(script, data, out, title):
    cmd = ["gnuplot", "-e", "datafile='%s'; outfile='%s'; plottitle='%s'" % (
        data, out, title.replace("'", "")), os.path.join(HERE, script)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("gnuplot failed: %s" % e, file=sys.stderr)
        return False
    if res.returncode != 0:
        print("gnuplot %s failed:\n%s" % (script, res.stderr), file=sys.stderr)
        return False
    return True


def remove_stale(path):
    """A plot this run cannot draw must not survive from an earlier run."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def plots(rp, plots_dir, tmpdir):
    """Writes throughput.png, latency.png and latency_curve.png into <plots_dir>, those
    that have data. True if all that had data were drawn."""
    ok = True
    quick = " (QUICK RUN)" if rp.quick else ""
    path = os.path.join(plots_dir, "throughput.png")
    if rp.tp_lines is None:
        remove_stale(path)
    else:
        data = os.path.join(tmpdir, "throughput.dat")
        write_plot_data(data, "row petrel mosquitto petrel/mosquitto (delivered msg/s)",
                        rp.tp_lines)
        ok &= run_gnuplot("throughput.gp", data, path,
                          "delivered messages/s, median of %s run(s)%s; mosquitto in its "
                          "better variant; above each pair: petrel/mosquitto" % (
                              rp.reps, quick))
    path = os.path.join(plots_dir, "latency.png")
    if rp.lat_plot is None:
        remove_stale(path)
    else:
        name, rpet, rm, mvar = rp.lat_plot
        data = os.path.join(tmpdir, "latency.dat")
        lines = []
        for key, label in (("lat_p50_us", "p50"), ("lat_p99_us", "p99"),
                           ("lat_p999_us", "p99.9"), ("lat_max_us", "max")):
            lines.append((label, [rpet.get(key) if rpet else None, rm.get(key) if rm else None]))
        write_plot_data(data, "percentile petrel mosquitto (microseconds)", lines)
        ok &= run_gnuplot("latency.gp", data, path, "%s latency, mosquitto with %s%s" % (
            name, VARIANT_NAMES.get(mvar, mvar), quick))
    path = os.path.join(plots_dir, "latency_curve.png")
    if rp.curve is None:
        remove_stale(path)
    else:
        name, mvar, series = rp.curve
        data = os.path.join(tmpdir, "curve.dat")
        # Two gnuplot data blocks (index 0 petrel, 1 mosquitto): offered p50 p99 p99.9.
        with open(data, "w") as f:
            for broker in ("petrel", "mosquitto"):
                f.write("# %s: offered msg/s, p50 p99 p99.9 (microseconds)\n" % broker)
                pts = sorted((p for p in series.get(broker, []) if isnum(p[0])),
                             key=lambda p: p[0])
                if not pts:
                    f.write("? ? ? ?\n")
                for p in pts:
                    f.write(" ".join(("%.6g" % v) if isnum(v) and v > 0 else "?"
                                     for v in p) + "\n")
                f.write("\n\n")
        ok &= run_gnuplot("latency_curve.gp", data, path,
                          "%s, median runs; mosquitto with %s%s" % (
                              name, VARIANT_NAMES.get(mvar, mvar), quick))
    return ok
