"""bench_data.py - the results of scripts/bench.sh as data: loading the JSON lines,
grouping runs by row and broker variant, picking median runs, formatting numbers, and
the rules of the rate search (when a fixed-rate step counts as sustained with zero
loss, which rate to try next, which rates the latency curve runs at). Used by
scripts/bench_report.py; Python 3 standard library only.

A run record is petrel-bench's JSON line plus the keys bench.sh adds: row, kind,
primary, better, title, broker, variant, workers, rep, broker_cpus, gen_cpus, and for
search steps step and offered_total, for curve points percent and offered_total.
"""

import json
import math
import re
import sys

BROKERS = ("petrel", "mosquitto")
# Records written before variants existed ran these.
DEFAULT_VARIANT = {"petrel": "backpressure", "mosquitto": "nagle"}
MOSQ_VARIANTS = ("nagle", "nodelay")
VARIANT_NAMES = {"backpressure": "backpressure", "drop_new": "drop_new",
                 "nagle": "Nagle", "nodelay": "TCP_NODELAY"}

# A fixed-rate step is sustained when the generator stamped at least this share of
# the offered messages inside the window and the subscriber received this share of
# them inside the window, nothing was lost by the end of the drain, and what the
# schedule still owed at the stop is under SUSTAIN_BACKLOG_S seconds of offered load.
SUSTAIN_SHARE = 0.98
SUSTAIN_BACKLOG_S = 0.05
# At or above this generator CPU in the window the generator may have been the
# limit: the step does not count as the broker's.
GEN_SATURATED_PCT = 95.0
# The search stops once the highest sustained and the lowest failed rate are this
# close (ratio).
SEARCH_RESOLUTION = 1.05
# First fixed-rate guess: this share of what the flat-out probe delivered, or the
# lower share when the probe lost messages. After a step that fell behind without
# loss, the next try is SEARCH_SEED_SHARE of what it delivered.
SEARCH_SEED_SHARE = 0.9
SEARCH_LOSSY_SEED_SHARE = 0.5


# ---- numbers -------------------------------------------------------------------------

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
    if key.endswith("_rate") or key == "offered_total":
        return fmt_num(v) + "/s"
    if key.endswith("_us"):
        return fmt_num(v) + " µs"
    if key.endswith("_bytes"):
        return fmt_num(v) + " B"
    if key.endswith("_pct"):
        return fmt_num(v) + " %"
    return fmt_num(v, 0 if float(v).is_integer() else 2)


def fmt_rate_short(v):
    """1234567 -> '1.23M/s', for lists of search steps."""
    if not isnum(v):
        return "—"
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return "%.3g%s/s" % (v / div, suffix)
    return "%.3g/s" % v


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
    "offered_rate": "highest lossless msg/s",
}
LOWER_BETTER = {"lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us",
                "rss_per_conn_bytes", "lost", "duplicates", "out_of_order",
                "connect_errors"}


def offered_text(recs, name):
    for r in recs:
        if r.get("row") == name and r.get("gen_cmd"):
            m = re.search(r"--rate (\d+)", r["gen_cmd"])
            p = re.search(r"--publishers (\d+)", r["gen_cmd"])
            if m and p:
                return " (%s publishers × %s msg/s = %s msg/s offered)" % (
                    p.group(1), m.group(1), fmt_num(int(p.group(1)) * int(m.group(1))))
    return ""


# ---- runs ----------------------------------------------------------------------------

class Group:
    """The runs of one row for one broker, variant and worker count."""

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


def normalize(rec):
    rec.setdefault("variant", DEFAULT_VARIANT.get(rec.get("broker"), ""))
    if not isinstance(rec.get("workers"), int):
        rec["workers"] = 1
    return rec


def load(path):
    recs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                recs.append(normalize(json.loads(line)))
            except ValueError:
                print("%s:%d: not JSON, skipped" % (path, n), file=sys.stderr)
    return recs


def group_runs(recs):
    """rows: ordered list of (row name, info); groups[(row, broker, workers, variant)]."""
    rows, groups, seen = [], {}, set()
    for r in recs:
        name = r.get("row", "?")
        if name not in seen:
            seen.add(name)
            rows.append((name, r))
        key = (name, r.get("broker", "?"), r.get("workers", 1), r.get("variant", ""))
        groups.setdefault(key, Group()).runs.append(r)
    return rows, groups


def get(groups, row, broker, workers=1, variant=None):
    variant = variant or DEFAULT_VARIANT.get(broker, "")
    return groups.get((row, broker, workers, variant)) or Group()


def mosq_best(groups, row, key, workers=1):
    """(variant, group, median run) of the mosquitto variant whose median <key> is
    better (higher, or lower for LOWER_BETTER keys); the default variant with no run
    if neither has a result."""
    cands = []
    for v in MOSQ_VARIANTS:
        g = get(groups, row, "mosquitto", workers, v)
        r = g.median(key)
        if r is not None:
            cands.append((v, g, r))
    if not cands:
        return DEFAULT_VARIANT["mosquitto"], get(groups, row, "mosquitto", workers), None
    cands.sort(key=lambda c: c[2][key], reverse=key not in LOWER_BETTER)
    return cands[0]


def any_loss(group):
    """Messages lost in any successful run of <group> (largest count), or 0."""
    worst = group.max_of("lost")
    return worst if isnum(worst) else 0


def cpu_count(spec):
    """How many CPUs a taskset list such as '0', '0-1' or '0,2' names; None for 'any'."""
    if not spec or spec == "any":
        return None
    n = 0
    for part in str(spec).split(","):
        lo, _, hi = part.partition("-")
        try:
            n += int(hi or lo) - int(lo) + 1
        except ValueError:
            return None
    return n or None


def parse_totals(text):
    """Petrel's 'totals:' log line 'a=1 b=2' -> {'a': 1, 'b': 2}."""
    out = {}
    for m in re.finditer(r"([a-z0-9_]+)=(\d+)", text or ""):
        out[m.group(1)] = int(m.group(2))
    return out


# ---- rate search ---------------------------------------------------------------------

def offered_of(run):
    """The offered total rate of a fixed-rate run, msg/s, or None (flat out)."""
    v = run.get("offered_total")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            v = None
    if not isnum(v) or v <= 0:
        v = run.get("offered_rate")
    return v if isnum(v) and v > 0 else None


def step_verdict(run):
    """(sustained, why) for one fixed-rate step; why is '' when sustained."""
    if run.get("error"):
        return False, "failed: %s" % run["error"]
    offered = offered_of(run)
    if offered is None:
        return False, "not a fixed-rate run"
    if isnum(run.get("lost")) and run["lost"] > 0:
        return False, "lost %s" % fmt_num(run["lost"])
    if isnum(run.get("connect_errors")) and run["connect_errors"] > 0:
        return False, "%s connections broke" % fmt_num(run["connect_errors"])
    matching = 1
    if isnum(run.get("subscribers")) and run.get("scenario") == "fanout":
        matching = run["subscribers"]
    pub, dlv = run.get("pub_rate"), run.get("deliver_rate")
    if not isnum(pub) or pub < SUSTAIN_SHARE * offered:
        return False, "sent %.0f %% of the offered rate" % (100.0 * (pub or 0) / offered)
    if not isnum(dlv) or dlv < SUSTAIN_SHARE * offered * matching:
        return False, "delivered %.0f %% of the offered rate in the window" % (
            100.0 * (dlv or 0) / (offered * matching))
    unsent = run.get("unsent")
    if isnum(unsent) and unsent > SUSTAIN_BACKLOG_S * offered:
        return False, "%s messages still owed at the stop" % fmt_num(unsent)
    gen = run.get("gen_win_cpu_pct")
    if isnum(gen) and gen >= GEN_SATURATED_PCT:
        return False, "generator CPU %.0f %%: it may have been the limit" % gen
    return True, ""


def search_runs(recs, row, broker, variant, workers):
    runs = [r for r in recs if r.get("row") == row and r.get("broker") == broker and
            r.get("variant") == variant and r.get("workers", 1) == workers]
    runs.sort(key=lambda r: (int(r.get("step", 0) or 0)))
    return runs


def search_bracket(runs):
    """(lo, hi): the highest sustained rate and the lowest failed rate above it."""
    rated = [(offered_of(r), step_verdict(r)[0]) for r in runs if offered_of(r)]
    passes = [o for o, ok in rated if ok]
    lo = max(passes) if passes else None
    fails = [o for o, ok in rated if not ok and (lo is None or o > lo)]
    hi = min(fails) if fails else None
    return lo, hi


def search_next(runs, max_steps, budget_s):
    """The next total rate to try (0 = the flat-out probe), or None when done."""
    if len(runs) >= max_steps:
        return None
    if sum(r.get("wall_s", 0) or 0 for r in runs) >= budget_s:
        return None
    if not runs:
        return 0.0
    lo, hi = search_bracket(runs)
    if lo is None and hi is None:
        probe = runs[0]
        seed = probe.get("deliver_rate")
        if probe.get("error") or not isnum(seed) or seed <= 0:
            return None
        # A probe that lost messages delivered more than the broker sustains.
        lossy = isnum(probe.get("lost")) and probe["lost"] > 0
        return (SEARCH_LOSSY_SEED_SHARE if lossy else SEARCH_SEED_SHARE) * seed
    if lo is None:
        # The lowest failure says how far down to go: a step that fell behind
        # without losing anything delivered about what the broker can take.
        low = min((r for r in runs if offered_of(r) == hi), key=lambda r: r.get("step", 0))
        d = low.get("deliver_rate")
        if not (isnum(low.get("lost")) and low["lost"] > 0) and isnum(d) and 0 < d < hi:
            return max(SEARCH_SEED_SHARE * d, hi * 0.25)
        return hi * 0.5
    if hi is None:
        return lo * 1.5
    if hi / lo <= SEARCH_RESOLUTION:
        return None
    return math.sqrt(lo * hi)


def lossless_rate(recs, row, broker, variant, workers=1):
    """(rate, run) of the highest sustained step of that search, or (None, None)."""
    best = (None, None)
    for r in search_runs(recs, row, broker, variant, workers):
        o = offered_of(r)
        if o and step_verdict(r)[0] and (best[0] is None or o > best[0]):
            best = (o, r)
    return best


def mosq_best_lossless(recs, row):
    """(variant, rate, run) of the mosquitto variant with the higher lossless rate."""
    best = (DEFAULT_VARIANT["mosquitto"], None, None)
    for v in MOSQ_VARIANTS:
        rate, run = lossless_rate(recs, row, "mosquitto", v)
        if rate is not None and (best[1] is None or rate > best[1]):
            best = (v, rate, run)
    return best


def curve_plan(recs, search_row, fractions, publishers):
    """[(broker, variant, workers, percent, rate per publisher, total)] for the
    latency curve: Petrel (backpressure, -w 1) and mosquitto in its better variant,
    each at <fractions> percent of its own highest lossless rate."""
    plan = []
    prate, _ = lossless_rate(recs, search_row, "petrel", "backpressure")
    mvar, mrate, _ = mosq_best_lossless(recs, search_row)
    for pct in fractions:
        for broker, variant, rate in (("petrel", "backpressure", prate),
                                      ("mosquitto", mvar, mrate)):
            if rate is None:
                continue
            total = rate * pct / 100.0
            plan.append((broker, variant, 1, pct, total / publishers, total))
    return plan
