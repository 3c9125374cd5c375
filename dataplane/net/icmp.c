/* icmp.c - ICMP for a host that answers pings (RFC 792, RFC 1122 3.2.2): an echo
 * request gets an echo reply with the same identifier, sequence number and data
 * (3.2.2.6); every other message is counted and dropped: we run no UDP and act on no
 * error report (TCP copes with loss by itself). Requests to broadcast never get here
 * (ipv4.c takes only our unicast address). */
#include "net/net_int.h"

#include <netinet/in.h>

#include <rte_icmp.h>

void icmp_input(struct net_if *ni, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		uint16_t ihl)
{
	uint32_t len = m->pkt_len - ihl, src;
	struct rte_icmp_hdr *ih;

	/* The 8-byte header (type, code, checksum, id, seq) in the first segment. */
	if (unlikely(len < sizeof(*ih) || m->data_len < ihl + sizeof(*ih))) {
		net_drop(m, &ni->stats.rx_icmp_bad);
		return;
	}
	/* RFC 792: the checksum covers the whole message; a sound one sums to 0xffff. */
	if (unlikely(net_cksum_chain(m, ihl, len) != 0xffff)) {
		net_drop(m, &ni->stats.rx_icmp_bad);
		return;
	}
	ih = rte_pktmbuf_mtod_offset(m, struct rte_icmp_hdr *, ihl);
	if (ih->icmp_type != RTE_IP_ICMP_ECHO_REQUEST) {
		net_drop(m, &ni->stats.rx_icmp_other);
		return;
	}
	ni->stats.rx_icmp_echo++;
	src = rte_be_to_cpu_32(ip->src_addr);
	/* The reply is the request turned around in its own mbuf: type 0, the rest as
	 * received. net_ipv4_output builds a fresh IP header; request options are not
	 * echoed (3.2.2.6 only says SHOULD for Record Route and Timestamp). */
	rte_pktmbuf_adj(m, ihl);
	m->ol_flags = 0;
	ih->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	ih->icmp_code = 0;
	ih->icmp_cksum = 0;
	ih->icmp_cksum = (uint16_t)~net_cksum_chain(m, 0, len);
	net_ipv4_output(ni, m, src, IPPROTO_ICMP);
}
