#!/usr/bin/env python3
"""perf_split.py - splits the samples of a `perf record -g` of a DPDK Petrel worker
into where the cycles went per packet: port rx/tx, net layers, TCP, MQTT engine,
other. Used for docs/bench/profile-dpdk.md (see there for the commands).

    perf script -i perf.data --comms w0 -F ip,sym,dso | \\
        scripts/bench/perf_split.py --objs build-release/control/libpetrel_core.a.p \\
            [--packets N] [--hz F] [--ghz G]

A sample goes to the first frame, from the leaf up, that says where it belongs: one of
Petrel's functions by the source file that defines it (nm of the object files, so
static functions count too; inlined ones are part of their caller), a DPDK library by
its name (PMD, ethdev, mbufs, mempools and rings are the port), kernel work on a tap,
a veth or an AF_XDP socket (the PMD's system calls) as the port, an idle sleep
(epoll_wait) as other. Python 3 standard library only.
"""

import argparse
import collections
import os
import re
import subprocess
import sys

CATS = ("port rx/tx", "far side's kernel TCP/IP, run by our tx", "net layers", "TCP",
        "MQTT engine", "other")

# Petrel's sources, by path below dataplane/ (the object file names keep it).
SRC_RULES = (
    (re.compile(r"^(port|faultinj)\.c$"), "port rx/tx"),
    (re.compile(r"^net_tcp_(cong|syncookie|input|output|timer|table)\.c$"), "TCP"),
    (re.compile(r"^net_tcp\.c$"), "TCP"),
    (re.compile(r"^net_"), "net layers"),
    (re.compile(r"^(mqtt_|session|sessdir|topic|router|retain|msg|budget|ptrhash)"),
     "MQTT engine"),
)
# Shared objects by name.
DSO_RULES = (
    (re.compile(r"librte_(net_|ethdev|mbuf|mempool|ring|bus_vdev)|libxdp|libbpf"),
     "port rx/tx"),
)
# libc's system call wrappers that only the PMDs call in the worker's loop: tap reads
# and writes with readv/writev, AF_XDP kicks its rings with recvfrom/sendto.
LIBC_PORT = re.compile(r"^(__GI___)?(__libc_)?(readv|writev|recvfrom|sendto|__send|send|"
                       r"pthread_(en|dis)able_asynccancel)$|^__GI___pthread_(en|dis)able_")
# Kernel functions that tell whose work a system call was, leaf first. A frame the
# broker sends on a tap or (generic-mode) AF_XDP socket is received by the peer's
# kernel at once, in the sending system call: its TCP/IP input runs on our core.
KERNEL_RULES = (
    (re.compile(r"^(tcp_|ip_|__netif_receive|netif_receive|net_rx_action|process_backlog|"
                r"__napi_poll|sock_def_readable|handle_softirqs|do_softirq)"),
     "far side's kernel TCP/IP, run by our tx"),
    (re.compile(r"^(tun_|tap_|xsk_|__xsk|veth_|xdp_|bpf_prog|__sys_(recvfrom|sendto)|"
                r"__x64_sys_(recvfrom|sendto|readv|writev)|do_readv|do_writev|"
                r"vfs_readv|vfs_writev|__dev_direct_xmit)"), "port rx/tx"),
    (re.compile(r"^(do_epoll_wait|ep_poll|__x64_sys_epoll_wait|eventfd_)"), "other"),
)


def petrel_symbols(objdir):
    """symbol -> category from the object files' defined functions."""
    out = {}
    for name in sorted(os.listdir(objdir)):
        if not name.endswith(".o"):
            continue
        src = name[:-2]
        src = re.sub(r"^(\.\._)?dataplane_", "", src)
        cat = None
        for rx, c in SRC_RULES:
            if rx.search(src):
                cat = c
                break
        if cat is None:
            cat = "other"
        nm = subprocess.run(["nm", "--defined-only", os.path.join(objdir, name)],
                            capture_output=True, text=True, check=True).stdout
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tT":
                out.setdefault(parts[2], (cat, src))
    return out


FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def frames(stream):
    """Yields each sample's frames [(sym, dso)], leaf first."""
    cur = []
    for line in stream:
        m = FRAME.match(line)
        if m:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(2))
            cur.append((sym, m.group(3)))
        elif not line.strip() and cur:
            yield cur
            cur = []
    if cur:
        yield cur


# What "other" holds, for the reader: the worker's loop (polling, the clock, the
# transport's glue), the kernel outside the port's system calls (scheduling,
# interrupts, the idle sleep), and libc (callers unknown: no frame pointers).
OTHER_PARTS = ("worker loop and transport glue", "kernel: scheduling, interrupts, idle "
               "sleep", "libc (callers unknown)", "unknown")


def other_part(label, dso):
    if "kernel" in dso or dso.startswith("[") or label.startswith("[k] "):
        return OTHER_PARTS[1]
    if "libc" in os.path.basename(dso):
        return OTHER_PARTS[2]
    if os.path.basename(dso) == "petrel":
        return OTHER_PARTS[0]
    return OTHER_PARTS[3]


def classify(fr, syms):
    """(category, label) of one sample."""
    for sym, dso in fr:
        base = os.path.basename(dso)
        if "kernel" in dso or dso.startswith("["):
            for rx, cat in KERNEL_RULES:
                if rx.search(sym):
                    return cat, "[k] " + sym
            continue
        if sym in syms:
            cat, _ = syms[sym]
            return cat, sym
        if base.startswith("libc") and LIBC_PORT.search(sym):
            return "port rx/tx", "%s (%s)" % (sym, base)
        for rx, cat in DSO_RULES:
            if rx.search(base):
                return cat, "%s (%s)" % (sym, base)
    sym, dso = fr[0]
    return "other", "%s (%s)" % (sym, os.path.basename(dso))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objs", required=True, help="petrel's object files directory")
    ap.add_argument("--packets", type=float, help="frames received + sent in the run")
    ap.add_argument("--hz", type=float, help="sampling frequency of the record (-F)")
    ap.add_argument("--ghz", type=float, help="CPU clock, for cycles per packet")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    syms = petrel_symbols(a.objs)
    cats, labels, others = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for fr in frames(sys.stdin):
        cat, label = classify(fr, syms)
        cats[cat] += 1
        labels[(cat, label)] += 1
        if cat == "other":
            others[other_part(label, fr[0][1])] += 1
        total += 1
    if total == 0:
        sys.exit("no samples")
    per = a.packets and a.packets > 0
    print("| part | samples | share |%s" % (
        " samples per 1000 packets | µs per packet | cycles per packet |" if per else ""))
    print("|---|---:|---:|%s" % ("---:|---:|---:|" if per else ""))

    def row(name, n):
        text = "| %s | %d | %.1f %% |" % (name, n, 100.0 * n / total)
        if per:
            # Each sample stands for 1/hz seconds of the thread on the CPU.
            us = "%.2f" % (n / a.hz * 1e6 / a.packets) if a.hz else "—"
            cyc = "%.0f" % (n / a.hz * a.ghz * 1e9 / a.packets) if a.hz and a.ghz else "—"
            text += " %.2f | %s | %s |" % (1000.0 * n / a.packets, us, cyc)
        return text

    for c in CATS:
        print(row(c, cats[c]))
    print(row("all", total))
    print()
    print("| other: of which | samples | share |")
    print("|---|---:|---:|")
    for part in OTHER_PARTS:
        print("| %s | %d | %.1f %% |" % (part, others[part], 100.0 * others[part] / total))
    print()
    print("| symbol | part | share |")
    print("|---|---|---:|")
    for (cat, label), n in labels.most_common(a.top):
        print("| `%s` | %s | %.1f %% |" % (label.replace("|", "\\|"), cat, 100.0 * n / total))


if __name__ == "__main__":
    main()
