/* dpdk_counters.h - every counter of the DPDK data plane, one flat list: the TCP
 * stack's (tcp.h), the interface's (net.h), the port's (port.h), the transport's own
 * and the fault injector's (faultinj.h). The same names make the `dpdk totals`
 * shutdown line and the petrel_dpdk_<name>_total Prometheus families, and each has
 * the help text those show (docs/operations.md lists them). */
#ifndef PETREL_DPDK_COUNTERS_H
#define PETREL_DPDK_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "petrel/faultinj.h"
#include "petrel/net.h"
#include "petrel/port.h"
#include "petrel/tcp.h"
#include "petrel/transport.h"

/* The transport's own, besides the structures above. */
struct dpdk_worker_counters {
	uint64_t tx_refused;       /* frames the port refused after fault injection */
	uint64_t idle_sleeps;      /* times the worker slept for want of work */
	uint64_t rx_intr_wakeups;  /* sleeps a frame's RX interrupt ended */
	uint64_t rx_intr_repolls;  /* sleeps the re-poll after arming called off */
};

enum dpdk_counter_index {
#define X(f) DPDK_C_tcp_##f,
	TCP_STATS_FIELDS(X)
#undef X
#define X(f) DPDK_C_net_##f,
	NET_STATS_FIELDS(X)
#undef X
#define X(f) DPDK_C_port_##f,
	PORT_STATS_FIELDS(X)
#undef X
	DPDK_C_tx_refused,
	DPDK_C_idle_sleeps,
	DPDK_C_rx_intr_wakeups,
	DPDK_C_rx_intr_repolls,
#define FI(f) DPDK_C_fault_rx_##f, DPDK_C_fault_tx_##f,
	FI(dropped) FI(duplicated) FI(reordered) FI(corrupted) FI(dup_failed)
#undef FI
	DPDK_NCOUNTERS
};

/* Name ("tcp_retransmits") and help of each, in enum dpdk_counter_index order. */
extern const struct transport_counter dpdk_counters[DPDK_NCOUNTERS];

/* One worker's counters into <v>[DPDK_NCOUNTERS]; <fi_rx>, <fi_tx> may be NULL (no
 * fault injection). */
void dpdk_counters_collect(uint64_t *v, const struct tcp_stats *tcp, const struct net_stats *net,
			   const struct port_stats *port, const struct dpdk_worker_counters *own,
			   const struct faultinj_stats *fi_rx, const struct faultinj_stats *fi_tx);

#endif
