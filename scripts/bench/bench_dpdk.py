"""bench_dpdk.py - the "DPDK data plane" section of docs/benchmarks.md: the dpdk-* rows
of scripts/bench.sh, Petrel on DPDK (net_tap, net_af_xdp on a veth) beside kernel
Petrel and mosquitto over loopback and across a veth pair. Called by bench_md.py.
"""

from bench_data import (LOWER_BETTER, METRIC_NAMES, VARIANT_NAMES, fmt_metric, fmt_num,
                        fmt_ratio, parse_totals, ratio)

# Column order, and what each broker name of the dpdk rows means.
DPDK_BROKERS = (
    ("petrel", "petrel, loopback"),
    ("mosquitto", "mosquitto, loopback"),
    ("petrel-veth", "petrel, veth"),
    ("mosquitto-veth", "mosquitto, veth"),
    ("petrel-tap", "petrel DPDK net_tap"),
    ("petrel-afxdp", "petrel DPDK net_af_xdp"),
)
# The stack's counters worth a reader's eye when not zero: loss and retransmission
# inside the DPDK path.
DPDK_COUNTERS = ("tcp_retransmits", "tcp_fast_retransmits", "tcp_rto_timeouts",
                 "tcp_zero_window_probes", "tcp_out_of_order", "tcp_ooo_dropped",
                 "tcp_no_mbuf", "tcp_out_dropped", "tcp_conns_over_limit",
                 "tcp_syn_cookies_sent", "net_tx_full", "net_no_mbuf",
                 "net_arp_unresolved_drops", "port_tx_dropped", "port_steer_full",
                 "tx_refused", "imissed", "ierrors", "oerrors", "rx_nombuf")


def broker_group(rp, name, broker):
    """The one group of <broker> in row <name> (each runs one variant there)."""
    for (row, b, workers, variant), g in rp.groups.items():
        if row == name and b == broker and workers == 1:
            return variant, g
    return None, None


def dpdk_counters_cell(run):
    c = parse_totals(run.get("dpdk_totals", "")) if run else {}
    shown = ["%s %s" % (k, fmt_num(c[k])) for k in DPDK_COUNTERS if c.get(k)]
    return ", ".join(shown)


def sec_dpdk(rp, bound_cell, loss_cell, conn_cell):
    w = rp.w
    sel = rp.rows_of("dpdk")
    w("## DPDK data plane")
    w()
    if not sel:
        w("_Not run (excluded by `--only`)._")
        w()
        return
    w("Petrel with `dataplane dpdk` (one worker, its own TCP/IP stack) on DPDK's "
      "`net_tap` and on `net_af_xdp` bound to one end of a veth pair, beside kernel "
      "Petrel and mosquitto (TCP_NODELAY; Nagle in `dpdk-conn`) over loopback as in "
      "the rows above, and across a veth pair between two network namespaces. The "
      "broker is at 198.18.0.1, the generator at 198.18.0.2 in a namespace of its "
      "own, pinned to core 1 as everywhere.")
    w()
    w("**What bounds these rows.** The DPDK rows cross a tap or a veth, and on the "
      "far side the generator talks through the *kernel's* TCP/IP stack and the "
      "tap/veth driver; the kernel rows cross loopback, the cheapest path the kernel "
      "has. A DPDK row beside a loopback row is therefore not like for like: the "
      "generator's core also pays for the tap or veth (softirq, copies, the AF_XDP "
      "wake-ups), and the DPDK broker waits on it. The veth columns are the "
      "like-for-like reference for the DPDK columns: the same path, but a kernel "
      "socket on the broker's side. None of these rows measures our stack against "
      "a peer as fast as itself; the next step drives the broker over memif with no "
      "kernel in the path. The DPDK worker polls while there is work and sleeps on "
      "its wake descriptor when idle, so its CPU share is the share it was busy, as "
      "for the kernel brokers. Where the DPDK worker's time goes per packet: "
      "[bench/profile-dpdk.md](bench/profile-dpdk.md).")
    w()
    w("**Latency (`dpdk-latency-q1`).** At 4,000 msg/s a frame comes every 250 µs, "
      "and between them the DPDK worker runs out of its 512 empty polls and sleeps "
      "on its wake descriptor for up to 1 ms (DT_IDLE_SLEEP_MS in "
      "dataplane/transport_dpdk.c). Nothing wakes it when a frame arrives (no RX "
      "interrupt is armed), so a frame that lands during a sleep waits for its "
      "end: with `net_tap` (about 5,000 idle sleeps per run) that wait, not the "
      "stack, is most of the p99; arming the port's RX interrupt for the sleep "
      "would remove it. The `net_af_xdp` worker sends an empty TX burst every turn "
      "(a sendto: the workaround for frames left in the PMD's ring, port.c), so "
      "its 512 empty polls take longer than the gap between frames and it hardly "
      "sleeps (69 to 204 idle sleeps per run), hence its CPU share in this row; its "
      "p99 comes from somewhere else on the copy-mode AF_XDP path over the veth, "
      "not yet profiled.")
    w()
    cols = [(b, lab) for b, lab in DPDK_BROKERS
            if any(broker_group(rp, n, b)[1] for n, _ in sel)]
    w("| row | metric | better | " + " | ".join(lab for _, lab in cols) +
      " | DPDK tap ÷ petrel veth | DPDK af_xdp ÷ petrel veth |")
    w("|---|---|---|" + "---:|" * (len(cols) + 2))
    for name, info in sel:
        keys = [info.get("primary", "deliver_rate")]
        if keys[0] == "connect_rate":
            keys.append("rss_per_conn_bytes")
        for key in keys:
            vals = {}
            for b, _ in cols:
                _, g = broker_group(rp, name, b)
                r = g.median(key) if g else None
                vals[b] = r.get(key) if r else None
            w("| `%s` | %s | %s | %s | %s | %s |" % (
                name, METRIC_NAMES.get(key, key),
                "lower" if key in LOWER_BETTER else "higher",
                " | ".join(fmt_metric(key, vals[b]) for b, _ in cols),
                fmt_ratio(ratio(vals.get("petrel-tap"), vals.get("petrel-veth"))),
                fmt_ratio(ratio(vals.get("petrel-afxdp"), vals.get("petrel-veth")))))
    w()
    w("Per broker: loss (or connections), what bounded the median run, and the DPDK "
      "stack's loss and retransmission counters where not zero (from its `dpdk "
      "totals` line at shutdown).")
    w()
    w("| row | broker | lost / dup (connections) | bound by | DPDK counters | runs |")
    w("|---|---|---|---|---|---|")
    for name, info in sel:
        key = info.get("primary", "deliver_rate")
        for b, lab in cols:
            variant, g = broker_group(rp, name, b)
            if g is None:
                continue
            r = g.median(key)
            qos = (r or info).get("qos")
            cell = conn_cell(r) if key == "connect_rate" else loss_cell(g, r, qos)
            w("| `%s` | %s (%s) | %s | %s | %s | %d ok, %d failed |" % (
                name, lab, VARIANT_NAMES.get(variant, variant), cell, bound_cell(r),
                dpdk_counters_cell(r) or "—", len(g.ok()), len(g.failures())))
    w()
