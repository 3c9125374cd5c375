"""bench_targets.py - the Targets section of docs/benchmarks.md: the project's goals
judged against one run's numbers. A comparison in which either broker lost messages
never counts as met; for the fan-in rows the lossless rates of the search decide
instead. Called by bench_md.py.
"""

from bench_data import (VARIANT_NAMES, any_loss, fmt_metric, fmt_num, fmt_ratio, isnum,
                        lossless_rate, mosq_best, mosq_best_lossless, offered_text, ratio)
from bench_persist import persist_targets


def lossless_pair(rp, name):
    """(petrel, mosquitto) lossless rates of the search row for flat-out row <name>."""
    sname = "search-" + name
    if not any(n == sname for n, _ in rp.rows):
        return None, None
    prate, _ = lossless_rate(rp.recs, sname, "petrel", "backpressure")
    _, mrate, _ = mosq_best_lossless(rp.recs, sname)
    return prate, mrate


def loss_share(group):
    """The largest share of its expected messages any run of <group> lost."""
    shares = [100.0 * r["lost"] / r["expected"] for r in group.ok()
              if isnum(r.get("lost")) and isnum(r.get("expected")) and r["expected"] > 0]
    return "%.1f %%" % max(shares) if shares else fmt_num(any_loss(group))


def target_throughput(rp):
    tp = rp.rows_of("throughput")
    head = "- **Throughput ≥ 2× mosquitto in every fan-in, fan-out and pairs row, with " \
           "no message lost:**"
    if not tp:
        return [head + " not measured."]
    details, bad, open_ = [], [], []
    for name, info in tp:
        gp = rp.g(name, "petrel")
        rpet = gp.median("deliver_rate")
        _, gm, rm = mosq_best(rp.groups, name, "deliver_rate")
        r = ratio(rpet.get("deliver_rate") if rpet else None,
                  rm.get("deliver_rate") if rm else None)
        if r is None:
            open_.append(name)
            details.append("`%s` not measured" % name)
            continue
        lost = []
        if any_loss(gp):
            lost.append("petrel lost up to %s" % loss_share(gp))
        if any_loss(gm):
            lost.append("mosquitto lost up to %s" % loss_share(gm))
        if not lost:
            details.append("`%s` %.2f×" % (name, r))
            if r < 2.0:
                bad.append(name)
            continue
        # A flat-out rate bought with loss proves nothing; the lossless rates decide.
        prate, mrate = lossless_pair(rp, name)
        lr = ratio(prate, mrate)
        if lr is None:
            open_.append(name)
            searched = any(n == "search-" + name for n, _ in rp.rows)
            details.append("`%s` flat out %.2f× but %s, and %s" % (
                name, r, " and ".join(lost),
                "no lossless rate to compare (not searched)" if not searched else
                "`search-%s` found no lossless rate for %s" % (name, " or ".join(
                    b for b, v in (("petrel", prate), ("mosquitto", mrate)) if v is None))))
            continue
        details.append("`%s` flat out %.2f× but %s; at zero loss %.2f× (%s vs %s)" % (
            name, r, " and ".join(lost), lr, fmt_metric("offered_rate", prate),
            fmt_metric("offered_rate", mrate)))
        if lr < 2.0:
            bad.append(name)
    if bad:
        verdict = "**not met** (below 2×: %s%s)" % (
            ", ".join(bad), "; not established: %s" % ", ".join(open_) if open_ else "")
    elif open_:
        verdict = "**not established** (messages lost and no lossless comparison: %s)" % \
            ", ".join(open_)
    else:
        verdict = "**met**"
    return ["%s %s. Petrel ÷ mosquitto: %s." % (head, verdict, "; ".join(details))]


def target_latency(rp):
    out = []
    lat = rp.rows_of("latency")
    if not lat:
        out.append("- **p99 latency ≤ mosquitto's at the same offered load:** not measured.")
    for name, info in lat:
        gp = rp.g(name, "petrel")
        rpet = gp.median("lat_p99_us")
        mvar, gm, rm = mosq_best(rp.groups, name, "lat_p99_us")
        p = rpet.get("lat_p99_us") if rpet else None
        m = rm.get("lat_p99_us") if rm else None
        head = "- **p99 latency ≤ mosquitto's at the same offered load%s:**" % \
            offered_text(rp.recs, name)
        if not (isnum(p) and isnum(m)):
            out.append("%s not established (`%s` has no result for both)." % (head, name))
            continue
        if any_loss(gp) or any_loss(gm):
            out.append("%s **not established**: messages were lost (petrel %s, mosquitto "
                       "%s)." % (head, fmt_num(any_loss(gp)), fmt_num(any_loss(gm))))
            continue
        pp, pm = rpet.get("pub_rate"), rm.get("pub_rate")
        note = ""
        if isnum(pp) and isnum(pm) and max(pp, pm) > 0 and abs(pp - pm) / max(pp, pm) > 0.05:
            note = (" Note: the achieved publish rates differ by more than 5 %% (%s vs "
                    "%s), so the loads were not quite equal." % (
                        fmt_metric("pub_rate", pp), fmt_metric("pub_rate", pm)))
        out.append("%s %s (`%s`: petrel %s, mosquitto %s with %s, %s).%s" % (
            head, "**met**" if p <= m else "**not met**", name,
            fmt_metric("lat_p99_us", p), fmt_metric("lat_p99_us", m),
            VARIANT_NAMES.get(mvar, mvar), fmt_ratio(ratio(p, m)), note))
    return out


def target_memory(rp):
    out = []
    for kind, what in (("conn", "memory per idle connection"),
                       ("offline", "memory per offline session")):
        sel = rp.rows_of(kind)
        if not sel:
            out.append("- **%s ≤ mosquitto's:** not measured." % what.capitalize())
        for name, info in sel:
            rpet = rp.g(name, "petrel").median("rss_per_conn_bytes")
            _, _, rm = mosq_best(rp.groups, name, "rss_per_conn_bytes")
            p = rpet.get("rss_per_conn_bytes") if rpet else None
            m = rm.get("rss_per_conn_bytes") if rm else None
            if not (isnum(p) and isnum(m)):
                out.append("- **%s ≤ mosquitto's:** not established (`%s` has no result "
                           "for both)." % (what.capitalize(), name))
                continue
            short = [b for b, r in (("petrel", rpet), ("mosquitto", rm))
                     if isnum(r.get("connections")) and isnum(r.get("connects")) and
                     r["connects"] < r["connections"]]
            if short:
                out.append("- **%s ≤ mosquitto's:** **not established**: not every "
                           "connection came up (%s)." % (what.capitalize(), ", ".join(short)))
                continue
            out.append("- **%s ≤ mosquitto's:** %s (`%s`: petrel %s, mosquitto %s, %s)." % (
                what.capitalize(), "**met**" if p <= m else "**not met**", name,
                fmt_metric("rss_per_conn_bytes", p), fmt_metric("rss_per_conn_bytes", m),
                fmt_ratio(ratio(p, m))))
    return out


def target_loss(rp):
    """Every run in which Petrel lost messages, by policy; the backpressure promise."""
    out, acked, other = [], [], []
    for (name, broker, workers, variant), g in rp.groups.items():
        if broker != "petrel":
            continue
        for r in g.ok():
            if not (isnum(r.get("lost")) and r["lost"] > 0):
                continue
            exp = r.get("expected")
            share = " (%.1f %%)" % (100.0 * r["lost"] / exp) if isnum(exp) and exp else ""
            text = "`%s` %s -w %s rep %s: %s%s" % (name, variant, workers, r.get("rep"),
                                                 fmt_num(r["lost"]), share)
            # Only drop_new may drop what it acknowledged; every other variant
            # (backpressure, the persistence rows' ones) promises not to.
            if variant != "drop_new" and isnum(r.get("qos")) and r["qos"] >= 1:
                acked.append(text)
            elif r.get("kind") != "search":
                # A search step above the lossless rate loses by design.
                other.append(text)
    if acked:
        out.append("- **Petrel lost acknowledged QoS 1/2 messages**, which "
                   "`queue_full_policy backpressure` promises never to do: %s." %
                   "; ".join(acked))
    else:
        out.append("- Petrel (backpressure, and the persistence variants) lost no "
                   "acknowledged QoS 1/2 message in any run.")
    if other:
        out.append("- **Petrel lost messages** where its policy allows it (QoS 0, or "
                   "`drop_new`): %s." % "; ".join(other))
    return out


def sec_targets(rp):
    w = rp.w
    w("## Targets")
    w()
    w("Judged from the numbers above (this run only). A comparison in which either "
      "broker lost messages does not count as met; where a lossless rate was searched "
      "for, that decides instead.")
    w()
    for line in (target_throughput(rp) + target_latency(rp) + target_memory(rp) +
                 persist_targets(rp) + target_loss(rp)):
        w(line)
    w()
