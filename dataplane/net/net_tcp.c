/* net_tcp.c - the seam between IPv4 and our TCP (tcp.h): segments in are checked
 * (checksum over the RFC 9293 3.1 pseudo-header, header length) and handed to
 * tcp_input() starting at the TCP header; segments out get their checksum, in
 * software or by the port (NET_OFFLOAD_TX_TCP_CKSUM). */
#include "net/net_int.h"

#include <assert.h>
#include <netinet/in.h>

#include <rte_tcp.h>

#include "petrel/tcp.h"

/* The TCP checksum of the segment after the <ihl> bytes of IPv4 header <ip> at the
 * start of <m>: the complement of the sum over the RFC 9293 3.1 pseudo-header and the
 * segment. Over a segment whose checksum field is filled in, 0 when it is sound. */
static uint16_t net_tcp_sum(const struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
			    uint16_t ihl)
{
	uint32_t len = (uint32_t)rte_be_to_cpu_16(ip->total_length) - ihl;
	uint32_t sum = (uint32_t)rte_ipv4_phdr_cksum(ip, 0) + net_cksum_chain(m, ihl, len);

	return (uint16_t)~__rte_raw_cksum_reduce(sum);
}

void net_tcp_input(struct net_if *ni, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		   uint16_t ihl)
{
	uint32_t len = m->pkt_len - ihl, src, dst;
	const struct rte_tcp_hdr *th;
	unsigned doff;
	int ok;

	/* The fixed header in the first segment, and RFC 9293 3.1: the data offset
	 * counts at least the 5 words of the fixed header and ends within the segment. */
	if (unlikely(len < sizeof(*th) || m->data_len < ihl + sizeof(*th))) {
		net_drop(m, &ni->stats.rx_tcp_short);
		return;
	}
	th = rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, ihl);
	doff = (unsigned)(th->data_off >> 4) * 4;
	if (unlikely(doff < sizeof(*th) || doff > len)) {
		net_drop(m, &ni->stats.rx_tcp_short);
		return;
	}
	ok = net_rx_cksum_flag(ni, m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK,
			       RTE_MBUF_F_RX_L4_CKSUM_GOOD, RTE_MBUF_F_RX_L4_CKSUM_BAD);
	if (ok < 0)
		ok = net_tcp_sum(m, ip, ihl) == 0;
	if (unlikely(!ok)) {
		net_drop(m, &ni->stats.rx_tcp_bad_cksum);
		return;
	}
	if (ni->tcp == NULL) {
		net_drop(m, &ni->stats.no_tcp);
		return;
	}
	src = rte_be_to_cpu_32(ip->src_addr);
	dst = rte_be_to_cpu_32(ip->dst_addr);
	rte_pktmbuf_adj(m, ihl);
	m->l4_len = (uint8_t)doff;
	ni->stats.rx_tcp++;
	tcp_input(ni->tcp, m, src, dst, ni->now_us);
}

/* net_tap (DPDK 22.11) offloads a chain's checksum by summing each segment on its own
 * from an even position: after a segment of odd length every byte lands in the wrong
 * half of its word. Such chains are summed here; a NIC that sums chains right loses
 * only that offload, only for them. */
static bool net_tcp_chain_has_odd_segment(const struct rte_mbuf *m)
{
	for (; m->next != NULL; m = m->next)
		if (m->data_len & 1)
			return true;
	return false;
}

void net_tcp_cksum(struct net_if *ni, struct rte_mbuf *m, struct rte_ipv4_hdr *ip)
{
	struct rte_tcp_hdr *th;

	/* tcp_output builds its header in the first segment (tcp.h). */
	assert(m->data_len >= sizeof(*ip) + sizeof(*th));
	th = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, sizeof(*ip));
	th->cksum = 0;
	m->l4_len = (uint8_t)((th->data_off >> 4) * 4);
	if ((ni->p.offloads & NET_OFFLOAD_TX_TCP_CKSUM) && !net_tcp_chain_has_odd_segment(m)) {
		/* The port sums the segment; it wants the pseudo-header sum in the field
		 * (rte_ipv4_phdr_cksum, mbuf_core.h RTE_MBUF_F_TX_TCP_CKSUM). */
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
		th->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else {
		th->cksum = net_tcp_sum(m, ip, sizeof(*ip));
	}
}

int net_tcp_output(void *arg, struct rte_mbuf *m, uint32_t dst_ip)
{
	return net_ipv4_output(arg, m, dst_ip, IPPROTO_TCP);
}
