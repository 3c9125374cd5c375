/* dpdk_counters.c - see dpdk_counters.h. The help texts say what is counted and, for
 * a drop, why; docs/operations.md "DPDK counters" repeats them. */
#include "petrel/dpdk_counters.h"

#define C(n, h) [DPDK_C_##n] = { #n, h }
#define FI2(f, h) C(fault_rx_##f, "Fault injection, received frames: " h), \
		  C(fault_tx_##f, "Fault injection, sent frames: " h)

const struct transport_counter dpdk_counters[DPDK_NCOUNTERS] = {
	C(tcp_in_segs, "TCP segments received"),
	C(tcp_out_segs, "TCP segments sent"),
	C(tcp_in_bad, "TCP segments dropped as malformed (header length, options)"),
	C(tcp_in_no_flow_rst, "RSTs sent for segments of no connection"),
	C(tcp_retransmits, "TCP segments sent again"),
	C(tcp_fast_retransmits, "Retransmissions after three duplicate ACKs (RFC 5681)"),
	C(tcp_rto_timeouts, "Retransmission timer expiries"),
	C(tcp_zero_window_probes, "Probes sent to a peer that advertised a zero window"),
	C(tcp_challenge_acks, "Challenge ACKs sent for suspect RST or SYN (RFC 5961)"),
	C(tcp_syn_cookies_sent, "SYN-ACKs carrying a cookie (the SYN backlog was full)"),
	C(tcp_syn_cookies_ok, "ACKs of a cookie that validated and opened a connection"),
	C(tcp_syn_cookies_bad, "ACKs that looked like an answer to a cookie but did not validate"),
	C(tcp_out_of_order, "TCP segments received out of order"),
	C(tcp_dup_segs, "TCP segments received that held only data already received"),
	C(tcp_conns_passive, "TCP connections accepted"),
	C(tcp_conns_active, "TCP connections opened (petrel-bench's client side)"),
	C(tcp_conns_reset, "TCP connections ended by a RST from the peer"),
	C(tcp_conns_timeout, "TCP connections ended by retransmission or keep-alive timeout"),
	C(tcp_conns_over_limit, "Connections refused by tcp_max_connections"),
	C(tcp_out_dropped, "TCP segments the interface could not send"),
	C(tcp_no_mbuf, "TCP segments not built for want of an mbuf (dpdk_mbufs)"),
	C(tcp_time_wait, "TCP connections that entered TIME-WAIT"),
	C(tcp_ooo_dropped, "Out-of-order segments dropped: the queue was at its limit"),
	C(tcp_challenge_acks_limited, "Challenge ACKs not sent: over the rate limit"),
	C(tcp_bad_ack, "Segments whose ACK was outside the acceptable range (RFC 5961 5.2)"),
	C(tcp_syn_backlog_full, "SYNs that found the SYN backlog full (answered with a cookie)"),
	C(tcp_paws_rejected, "Segments dropped by timestamp checks (PAWS, RFC 7323)"),
	C(tcp_syn_cookies_late, "Cookie ACKs that reached a later SYN-RECEIVED connection and opened it"),
	C(net_rx_frames, "Frames received"),
	C(net_tx_frames, "Frames the port took for sending"),
	C(net_rx_bad_eth, "Frames dropped: too short for an ethernet header"),
	C(net_rx_not_ours, "Frames dropped: addressed to another MAC"),
	C(net_rx_vlan, "Frames dropped: VLAN tagged"),
	C(net_rx_other_ethertype, "Frames dropped: neither IPv4 nor ARP"),
	C(net_rx_arp, "ARP packets received and handled"),
	C(net_tx_arp, "ARP packets sent"),
	C(net_arp_bad, "ARP packets dropped as malformed"),
	C(net_arp_unresolved_drops, "Frames dropped while their next hop was unresolved"),
	C(net_arp_cache_full, "ARP entries evicted to make room (dpdk_arp_entries)"),
	C(net_rx_ipv4_bad_header, "IPv4 packets dropped: bad header"),
	C(net_rx_ipv4_bad_cksum, "IPv4 packets dropped: bad header checksum"),
	C(net_rx_ipv4_bad_len, "IPv4 packets dropped: bad length"),
	C(net_rx_ipv4_fragments, "IPv4 fragments dropped (not reassembled)"),
	C(net_rx_ipv4_other_proto, "IPv4 packets dropped: neither TCP nor ICMP"),
	C(net_rx_icmp_echo, "ICMP echo requests answered"),
	C(net_rx_icmp_bad, "ICMP packets dropped as malformed"),
	C(net_rx_icmp_other, "ICMP packets other than echo requests (ignored)"),
	C(net_rx_tcp, "TCP segments handed to the stack"),
	C(net_rx_tcp_bad_cksum, "TCP segments dropped: bad checksum"),
	C(net_rx_tcp_short, "TCP segments dropped: shorter than their header"),
	C(net_no_tcp, "TCP segments dropped: no stack"),
	C(net_tx_full, "Frames dropped: the port's transmit queue was full"),
	C(net_tx_no_route, "Frames dropped: no route (off-link without dpdk_gateway)"),
	C(net_tx_no_headroom, "Frames dropped: no headroom for the headers"),
	C(net_tx_too_big, "Frames dropped: longer than the MTU"),
	C(net_no_mbuf, "Frames not built for want of an mbuf (dpdk_mbufs)"),
	C(net_arp_heard_confirms, "ARP entries confirmed by a datagram from the neighbour"),
	C(port_rx_frames, "Frames the worker took from its queue or ring"),
	C(port_steered_out, "Worker 0: frames passed to another worker's ring"),
	C(port_steer_full, "Worker 0: frames dropped, the owner's receive ring was full"),
	C(port_arp_copies, "ARP frames copied to the other workers"),
	C(port_arp_copy_failed, "ARP frames not copied to another worker (no mbuf, ring full)"),
	C(port_tx_frames, "Frames the port (or worker 0's ring) took"),
	C(port_tx_relayed, "Worker 0: other workers' frames it sent to the port"),
	C(port_tx_ring_full, "Single queue: output dropped, worker 0's ring was full"),
	C(port_tx_dropped, "Single queue: output the port refused"),
	C(port_tx_kicks, "Empty bursts that make the driver send"),
	C(tx_refused, "Frames the port refused after fault injection"),
	C(idle_sleeps, "Times the worker slept for want of work"),
	C(rx_intr_wakeups, "Sleeps that a frame's RX interrupt ended"),
	C(rx_intr_repolls, "Sleeps called off by the poll after arming the interrupt"),
	FI2(dropped, "dropped"),
	FI2(duplicated, "duplicated"),
	FI2(reordered, "held back and sent after a later one"),
	FI2(corrupted, "one byte flipped"),
	FI2(dup_failed, "duplicates not made (no mbuf, no room)"),
};

void dpdk_counters_collect(uint64_t *v, const struct tcp_stats *tcp, const struct net_stats *net,
			   const struct port_stats *port, const struct dpdk_worker_counters *own,
			   const struct faultinj_stats *fi_rx, const struct faultinj_stats *fi_tx)
{
	static const struct faultinj_stats none;

	if (fi_rx == NULL)
		fi_rx = &none;
	if (fi_tx == NULL)
		fi_tx = &none;
#define X(f) v[DPDK_C_tcp_##f] = tcp->f;
	TCP_STATS_FIELDS(X)
#undef X
#define X(f) v[DPDK_C_net_##f] = net->f;
	NET_STATS_FIELDS(X)
#undef X
#define X(f) v[DPDK_C_port_##f] = port->f;
	PORT_STATS_FIELDS(X)
#undef X
	v[DPDK_C_tx_refused] = own->tx_refused;
	v[DPDK_C_idle_sleeps] = own->idle_sleeps;
	v[DPDK_C_rx_intr_wakeups] = own->rx_intr_wakeups;
	v[DPDK_C_rx_intr_repolls] = own->rx_intr_repolls;
#define FI(f) v[DPDK_C_fault_rx_##f] = fi_rx->f; v[DPDK_C_fault_tx_##f] = fi_tx->f;
	FI(dropped) FI(duplicated) FI(reordered) FI(corrupted) FI(dup_failed)
#undef FI
}
