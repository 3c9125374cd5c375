"""bench_persist.py - the "Persistence" section of docs/benchmarks.md and its targets:
the persist-* rows of scripts/bench.sh (run by scripts/bench/bench_persist.sh). Called
by bench_md.py (sec_persist) and bench_targets.py (persist_targets).

What each row runs and what bounds it is written into the report itself (the method
list of sec_persist), so that the published numbers carry their method.
"""

from bench_data import (VARIANT_NAMES, any_loss, fmt_metric, fmt_num, fmt_ratio, isnum,
                        ratio)

# Petrel's variants in the fan-in row, fastest expected first, and mosquitto's.
PETREL_PERSIST = (("mem", "in memory (`persistence false`)"),
                  ("never", "`persistence_sync never`"),
                  ("sync100", "`persistence_sync 100`"),
                  ("always", "`persistence_sync always`"))
MOSQ_PERSIST = ("persist_nagle", "persist_nodelay")
VARIANT_NAMES.update({"mem": "in memory", "never": "sync never", "sync100": "sync 100 ms",
                      "always": "sync always", "persist_nagle": "persistence, Nagle",
                      "persist_nodelay": "persistence, TCP_NODELAY"})

# Targets (issue 8): always within 3x of never in msg/s; start-up with 1M stored
# sessions under 10 s. The size row levels off when the last sample is at most
# LEVEL_GROWTH above the one at half time.
ALWAYS_WITHIN = 3.0
STARTUP_SESSIONS = 1000000
STARTUP_TARGET_MS = 10000
LEVEL_GROWTH = 0.10
# The size table shows at most this many samples (evenly spaced, the last always).
SIZE_ROWS = 16


def fmt_bytes(v):
    if not isnum(v):
        return "—"
    for div, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if v >= div:
            return "%.1f %s" % (v / div, unit)
    return "%d B" % v


def fmt_ms(v):
    if not isnum(v):
        return "—"
    return "%.2f s" % (v / 1000.0) if v >= 1000 else "%s ms" % fmt_num(v)


def mosq_persist_best(rp, name, key="deliver_rate"):
    """(variant, group, median run) of the mosquitto persistence variant with the
    higher median <key>; (first variant, its group, None) if neither has a result."""
    best = None
    for v in MOSQ_PERSIST:
        g = rp.g(name, "mosquitto", 1, v)
        r = g.median(key)
        if r is not None and (best is None or r[key] > best[2][key]):
            best = (v, g, r)
    return best or (MOSQ_PERSIST[0], rp.g(name, "mosquitto", 1, MOSQ_PERSIST[0]), None)


def persist_counters(run):
    """Petrel's persist_* shutdown counters that are not zero, as text."""
    c = (run or {}).get("broker_counters") or {}
    shown = ["`%s` %s" % (k, fmt_num(v)) for k, v in sorted(c.items())
             if k.startswith("persist_") and v]
    return ", ".join(shown) or "—"


def store_cell(run):
    if not run or not isnum(run.get("store_alloc_bytes")):
        return "—"
    text = "%s %s" % (run.get("store_file", "?"), fmt_bytes(run.get("store_file_bytes")))
    if run.get("store_alloc_bytes") != run.get("store_file_bytes"):
        text += " (%s allocated)" % fmt_bytes(run.get("store_alloc_bytes"))
    return text


def method(rp):
    w, meta = rp.w, rp.meta
    fs = meta.get("persist_fs") or "?"
    w("Method (`scripts/bench/bench_persist.sh`; the stores were on a **%s** file "
      "system, a fresh empty one for every run unless said otherwise):" % fs)
    w()
    w("- `persist-fanin-q1`: `fanin-q1` (8 publishers -> 1 subscriber, QoS 1, flat out, "
      "20 in flight and 1000 queued per session for both brokers) with the subscriber "
      "connected with cleanSession 0 (`petrel-bench --clean 0`), so every message "
      "passes through the store: Petrel writes each message and its delivery state "
      "and deletes them on the subscriber's PUBACK, and acknowledges a publisher's "
      "PUBLISH only once the commit that holds it is done (with `always`, also synced "
      "to the disk; one commit and one sync serve everything that arrived meanwhile: "
      "group commit). Petrel in memory (`persistence false`) for reference. Bounded "
      "like every flat-out row: %ss warm-up, %ss measured, %ss drain." % (
          meta.get("warmup", "?"), meta.get("duration", "?"), meta.get("drain", "?")))
    w("- mosquitto runs with `persistence true` and its autosave defaults "
      "(`autosave_interval 1800`, `autosave_on_changes false`): it keeps everything "
      "in memory and writes its whole database every 30 minutes and at a clean exit. "
      "Its figure is therefore its in-memory speed, and a kill -9 or power loss loses "
      "everything since its last save: up to 30 minutes of acknowledged messages. "
      "Petrel with `always` loses no acknowledged message in either case; with `100` "
      "or `never` none on a kill -9 of the broker (the commit precedes the "
      "acknowledgement), and on power loss up to 100 ms, or what the OS had not "
      "written, respectively (docs/operations.md states each promise).")
    w("- `persist-startup-*`: an empty store is filled through the broker itself "
      "(Petrel with `persistence_sync always`): `petrel-bench conn --clean 0` "
      "connects, subscribes at QoS 1 and disconnects that many clients, in runs of at "
      "most %s; then the broker is stopped (SIGTERM; mosquitto saves its database "
      "then) and started on that store %s time(s). Each start is timed from just "
      "before its launch until it answers a CONNECT with CONNACK (probed every 10 ms, "
      "at most 300 s), which includes loading every session; a listening socket alone "
      "does not count (Petrel listens before it loads, and the kernel queues "
      "connections until a worker takes them). Petrel also logs its own load time. "
      "The store was just written, so it is in the page cache: these are warm starts "
      "(a start after a reboot first reads the file from the disk). Then one client "
      "reconnects with cleanSession 0 as the first stored client and must get *session present* (MQTT-3.2.2-2). Bytes per session: the "
      "store file's size (and the bytes allocated to it) over the sessions stored, "
      "after the fill." % (fmt_num(int(meta.get("fill_chunk") or 0)), rp.reps))
    w("- `persist-size`: one run of %s s of `persist-fanin-q1`'s load (Petrel, "
      "`always`) into a subscriber that consumes everything; the size of `data.mdb` "
      "and the bytes allocated to it are read every %s s while it runs. A message "
      "leaves the store when the subscriber acknowledges it and LMDB reuses freed "
      "pages, so the file should grow to the high-water mark of what was in flight and "
      "stay there. It counts as levelled off when the last sample is at most %d %% "
      "above the one at half time." % (meta.get("size_duration", "?"),
                                       meta.get("size_every", "?"),
                                       round(LEVEL_GROWTH * 100)))
    w()


def sec_fanin(rp, name, bound_cell, loss_cell):
    w = rp.w
    runs = {v: rp.g(name, "petrel", 1, v) for v, _ in PETREL_PERSIST}
    med = {v: g.median("deliver_rate") for v, g in runs.items()}
    val = {v: (r or {}).get("deliver_rate") for v, r in med.items()}
    w("`%s`: delivered messages per second, median run of each." % name)
    w()
    w("| broker | delivered msg/s | ÷ Petrel sync never | ÷ Petrel in memory | lost / dup "
      "| bound by | store after the run | Petrel's persist counters | runs |")
    w("|---|---:|---:|---:|---|---|---|---|---|")
    for v, label in PETREL_PERSIST:
        g, r = runs[v], med[v]
        if not g.runs:
            continue
        bound = bound_cell(r)
        if v != "mem":
            # Neither CPU full with a store: the publishers' windows wait for commits.
            bound = bound.replace("flow control", "flow control (PUBACKs wait for commits)")
        w("| Petrel %s | %s | %s | %s | %s | %s | %s | %s | %d ok, %d failed |" % (
            label, fmt_metric("deliver_rate", val[v]),
            fmt_ratio(ratio(val[v], val["never"])), fmt_ratio(ratio(val[v], val["mem"])),
            loss_cell(g, r, 1), bound, store_cell(r), persist_counters(r),
            len(g.ok()), len(g.failures())))
    mv, gm, rm = mosq_persist_best(rp, name)
    if gm.runs or any(rp.g(name, "mosquitto", 1, v).runs for v in MOSQ_PERSIST):
        vm = (rm or {}).get("deliver_rate")
        other = [v for v in MOSQ_PERSIST if v != mv]
        orun = rp.g(name, "mosquitto", 1, other[0]).median("deliver_rate") if other else None
        w("| mosquitto `persistence true` (%s; %s %s) | %s | %s | %s | %s | %s | %s | — | "
          "%d ok, %d failed |" % (
              VARIANT_NAMES[mv], VARIANT_NAMES.get(other[0], "") if other else "",
              fmt_metric("deliver_rate", (orun or {}).get("deliver_rate")),
              fmt_metric("deliver_rate", vm), fmt_ratio(ratio(vm, val["never"])),
              fmt_ratio(ratio(vm, val["mem"])), loss_cell(gm, rm, 1), bound_cell(rm),
              store_cell(rm), len(gm.ok()), len(gm.failures())))
    w()


def startup_cells(rp, name, broker, variant):
    g = rp.g(name, broker, 1, variant)
    r = g.median("startup_ms")
    if r is None:
        why = "; ".join(sorted({x.get("error", "?") for x in g.failures()})) or "no run"
        return None, "| `%s` | %s | all runs failed: %s |" % (name, broker, why) + " |" * 8
    want, got = r.get("sessions_wanted"), r.get("connects")
    stored = r.get("loaded_sessions") if isnum(r.get("loaded_sessions")) else got
    fill = r.get("fill_ms")
    fill_text = "%s (%s/s)" % (fmt_ms(fill), fmt_num(got / (fill / 1000.0))) \
        if isnum(fill) and fill > 0 and isnum(got) else "—"
    per = []
    if isnum(stored) and stored > 0:
        for key in ("store_file_bytes", "store_alloc_bytes"):
            if isnum(r.get(key)):
                per.append(fmt_num(r[key] / stored) + " B")
        if isnum(r.get("mdb_pages_used")) and isnum(r.get("mdb_page_size")):
            used = r["mdb_pages_used"] - (r.get("mdb_free_pages") or 0)
            per.append("LMDB pages in use %s B" % fmt_num(used * r["mdb_page_size"] / stored))
    load = fmt_ms(r.get("load_ms")) if isnum(r.get("load_ms")) else "—"
    if isnum(r.get("loaded_sessions")):
        load += " (%s sessions, %s subscriptions)" % (fmt_num(r.get("loaded_sessions")),
                                                     fmt_num(r.get("loaded_subs")))
    back = {1: "yes", 0: "**no**"}.get(r.get("session_present"), "**no answer**")
    short = isnum(want) and isnum(got) and got < want
    stored_text = "%s of %s%s" % (fmt_num(got), fmt_num(want),
                                  ", %s errors" % fmt_num(r.get("connect_errors"))
                                  if r.get("connect_errors") else "")
    return r, "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        name, broker, "**%s**" % stored_text if short else stored_text, fill_text,
        fmt_ms(r.get("startup_ms")) + (" (listening after %s)" % fmt_ms(r.get("listen_ms"))
                                        if isnum(r.get("listen_ms")) else ""), load, fmt_num(r.get("rss_started_kb")) + " kB"
        if isnum(r.get("rss_started_kb")) else "—", store_cell(r), "; ".join(per) or "—",
        back, "%d ok, %d failed" % (len(g.ok()), len(g.failures())))


def sec_startup(rp, sel):
    w = rp.w
    w("Start-up on a filled store: the median start by time until it answers MQTT.")
    w()
    w("| row | broker | sessions stored (of asked) | fill (rate) | until it answers "
      "(CONNACK) | Petrel's own load time | RSS once accepting | store file | bytes "
      "on disk per session: file; allocated | first session back | starts |")
    w("|---|---|---|---:|---:|---|---:|---|---|---|---|")
    for name, _ in sel:
        for broker, variant in (("petrel", "always"), ("mosquitto", "persist_nagle")):
            if rp.g(name, broker, 1, variant).runs:
                w(startup_cells(rp, name, broker, variant)[1])
    w()


def size_samples(run):
    s = [x for x in (run or {}).get("size_samples") or [] if len(x) == 4]
    return sorted(s)


def level_verdict(samples):
    """(levelled off?, text) from the samples' allocated bytes."""
    if len(samples) < 3:
        return None, "too few samples (%d) to tell" % len(samples)
    end = samples[-1]
    half_t = end[0] / 2.0
    half = min(samples, key=lambda x: abs(x[0] - half_t))
    growth = (end[2] - half[2]) / half[2] if half[2] > 0 else None
    if growth is None:
        return None, "the file was empty at half time"
    ok = growth <= LEVEL_GROWTH
    return ok, "%s at %.0f s, %s at the end (%.0f s): %+.1f %% in the second half" % (
        fmt_bytes(half[2]), half[0], fmt_bytes(end[2]), end[0], 100.0 * growth)


def sec_size(rp, sel, bound_cell, loss_cell):
    w = rp.w
    for name, _ in sel:
        g = rp.g(name, "petrel", 1, "always")
        r = g.runs[-1] if g.runs else None
        w("`%s`: the store during one long run (Petrel, `persistence_sync always`)." % name)
        w()
        if r is None:
            w("_No run._")
            w()
            continue
        if r.get("error"):
            w("The run failed: %s." % r["error"])
            w()
            continue
        samples = size_samples(r)
        ok, text = level_verdict(samples)
        w("Delivered %s over the run, lost / dup %s, bound by %s. After the run: "
          "%s%s. Level: %s." % (
              fmt_metric("deliver_rate", r.get("deliver_rate")), loss_cell(g, r, 1),
              bound_cell(r), store_cell(r),
              "; LMDB entries: %s" % ", ".join(
                  "%s %s" % (k[len("mdb_entries_"):], fmt_num(v)) for k, v in sorted(
                      r.items()) if k.startswith("mdb_entries_"))
              if any(k.startswith("mdb_entries_") for k in r) else "",
              ("**levels off**: " if ok else "**still growing**: " if ok is False
               else "") + text))
        w()
        if samples:
            step = max(1, -(-len(samples) // SIZE_ROWS))
            shown = samples[::step]
            if shown[-1] is not samples[-1]:
                shown.append(samples[-1])
            w("| time | data.mdb size | allocated on disk | Petrel's RSS |")
            w("|---:|---:|---:|---:|")
            for t, size, alloc, rss in shown:
                w("| %.0f s | %s | %s | %s |" % (t, fmt_bytes(size), fmt_bytes(alloc),
                                                 fmt_bytes(rss * 1024) if rss else "—"))
            w()


def sec_persist(rp, bound_cell, loss_cell):
    w = rp.w
    fanin = rp.rows_of("persist")
    startup = rp.rows_of("startup")
    size = rp.rows_of("size")
    w("## Persistence")
    w()
    if not (fanin or startup or size):
        w("_Not run (excluded by `--only`)._")
        w()
        return
    method(rp)
    for name, _ in fanin:
        sec_fanin(rp, name, bound_cell, loss_cell)
    if startup:
        sec_startup(rp, startup)
    if size:
        sec_size(rp, size, bound_cell, loss_cell)


# ---- targets -------------------------------------------------------------------------

def target_always(rp):
    sel = rp.rows_of("persist")
    head = "- **Persistence: `persistence_sync always` within %g× of `never` in " \
           "messages/s:**" % ALWAYS_WITHIN
    if not sel:
        return [head + " not measured."]
    out = []
    for name, _ in sel:
        ga, gn = rp.g(name, "petrel", 1, "always"), rp.g(name, "petrel", 1, "never")
        ra, rn = ga.median("deliver_rate"), gn.median("deliver_rate")
        a, n = (ra or {}).get("deliver_rate"), (rn or {}).get("deliver_rate")
        r = ratio(n, a)
        if r is None or a == 0:
            out.append("%s not established (`%s` has no result for both)." % (head, name))
        elif any_loss(ga) or any_loss(gn):
            out.append("%s **not established**: acknowledged messages were lost (always "
                       "%s, never %s)." % (head, fmt_num(any_loss(ga)),
                                           fmt_num(any_loss(gn))))
        else:
            out.append("%s %s (`%s`: always %s, never %s: never ÷ always %s)." % (
                head, "**met**" if r <= ALWAYS_WITHIN else "**not met**", name,
                fmt_metric("deliver_rate", a), fmt_metric("deliver_rate", n),
                fmt_ratio(r)))
    return out


def target_startup(rp):
    head = "- **Start-up with %s stored sessions under %g s:**" % (
        fmt_num(STARTUP_SESSIONS), STARTUP_TARGET_MS / 1000.0)
    sel = rp.rows_of("startup")
    best = None
    for name, _ in sel:
        r = rp.g(name, "petrel", 1, "always").median("startup_ms")
        if r is None:
            continue
        stored = r.get("loaded_sessions") if isnum(r.get("loaded_sessions")) else \
            r.get("connects")
        if best is None or (isnum(stored) and stored > (best[1] or 0)):
            best = (name, stored, r)
    if best is None:
        if any(rp.g(n, "petrel", 1, "always").runs for n, _ in sel):
            return [head + " **not established**: every Petrel start-up run failed."]
        return [head + " not measured."]
    name, stored, r = best
    ms = r.get("startup_ms")
    if not isnum(stored) or stored < STARTUP_SESSIONS:
        return ["%s **not established**: the largest store loaded had %s sessions "
                "(`%s`, answering after %s)." % (head, fmt_num(stored), name, fmt_ms(ms))]
    if r.get("session_present") != 1:
        return ["%s **not established**: after the start the first stored session was "
                "not back (`%s`)." % (head, name)]
    return ["%s %s (`%s`: %s sessions, answering after %s, Petrel's load %s)." % (
        head, "**met**" if isnum(ms) and ms < STARTUP_TARGET_MS else "**not met**", name,
        fmt_num(stored), fmt_ms(ms), fmt_ms(r.get("load_ms")))]


def target_size(rp):
    head = "- **The store levels off under a steady load:**"
    out = []
    for name, _ in rp.rows_of("size"):
        g = rp.g(name, "petrel", 1, "always")
        r = g.runs[-1] if g.runs else None
        ok, text = level_verdict(size_samples(r))
        verdict = "**met**" if ok else "**not met**" if ok is False else \
            "**not established**"
        out.append("%s %s (`%s`: %s)." % (head, verdict, name, text))
    return out or [head + " not measured."]


def persist_targets(rp):
    return target_always(rp) + target_startup(rp) + target_size(rp)
