/* ipv4.c - IPv4 input and output for a host (RFC 791, RFC 1122 3.2.1 and 3.3).
 *
 * Input accepts only datagrams to our own address, whole (fragments are counted and
 * dropped: nothing we talk, TCP with its MSS, needs reassembly), with a sound header:
 * version 4, IHL >= 5, total length within the frame, header checksum (the port's
 * verdict when NET_OFFLOAD_RX_CKSUM and it gave one, else software), a source a host
 * may send from. Options are allowed and skipped (RFC 1122 3.2.1.8: none of them needs
 * a host's action here). Ethernet padding past the total length is trimmed.
 *
 * Output builds a 20-byte header with DF (RFC 1191: we never fragment, TCP sizes
 * segments from the MTU), TTL 64 and a running ID, and sends to the destination when
 * it is on-link, else to the gateway. */
#include "net/net_int.h"

#include <errno.h>
#include <netinet/in.h>

/* RFC 1122 3.2.1.7: TTL 64 is the recommended default. */
#define IPV4_TTL 64

int net_rx_cksum_flag(const struct net_if *ni, uint64_t flags, uint64_t good, uint64_t bad)
{
	if (!(ni->p.offloads & NET_OFFLOAD_RX_CKSUM))
		return -1;
	/* NONE (good | bad bits): the checksum field is wrong in the frame but the
	 * port verified the data (mbuf_core.h), as virtual ports do. */
	if (flags == good || flags == (good | bad))
		return 1;
	if (flags == bad)
		return 0;
	return -1;
}

/* RFC 1122 3.2.1.3: a source address no host may send from (this network 0/8, loopback
 * 127/8, multicast, reserved and limited broadcast 224/3, our own) or our subnet's
 * broadcast address; such datagrams are silently discarded. */
static bool ipv4_bad_source(const struct net_if *ni, uint32_t src)
{
	uint8_t top = (uint8_t)(src >> 24);

	if (top == 0 || top == 127 || top >= 224 || src == ni->p.ip)
		return true;
	return ni->p.prefix_len <= 30 && (src | ni->mask) == UINT32_MAX;
}

static int ipv4_next_hop(const struct net_if *ni, uint32_t dst, uint32_t *hop);

void ipv4_input(struct net_if *ni, struct rte_mbuf *m, bool l2_bcast,
		const struct rte_ether_addr *l2_src)
{
	const struct rte_ipv4_hdr *ip;
	uint16_t ihl, total, frag;
	int ok;

	if (unlikely(m->data_len < sizeof(*ip))) {
		net_drop(m, &ni->stats.rx_ipv4_bad_len);
		return;
	}
	ip = rte_pktmbuf_mtod(m, const struct rte_ipv4_hdr *);
	if (unlikely((ip->version_ihl >> 4) != 4 ||
		     (ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) < RTE_IPV4_MIN_IHL)) {
		net_drop(m, &ni->stats.rx_ipv4_bad_header);
		return;
	}
	ihl = rte_ipv4_hdr_len(ip);
	total = rte_be_to_cpu_16(ip->total_length);
	/* The header (options included) must lie in the first segment. */
	if (unlikely(ihl > m->data_len || total < ihl || total > m->pkt_len)) {
		net_drop(m, &ni->stats.rx_ipv4_bad_len);
		return;
	}
	ok = net_rx_cksum_flag(ni, m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK,
			       RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_BAD);
	if (ok < 0)      /* a sound header sums to 0xffff, its checksum included */
		ok = rte_raw_cksum(ip, ihl) == 0xffff;
	if (unlikely(!ok)) {
		net_drop(m, &ni->stats.rx_ipv4_bad_cksum);
		return;
	}
	if (unlikely(ipv4_bad_source(ni, rte_be_to_cpu_32(ip->src_addr)))) {
		net_drop(m, &ni->stats.rx_ipv4_bad_header);
		return;
	}
	/* Only our unicast address. RFC 1122 3.3.6: a datagram that came by link-layer
	 * broadcast to a unicast address is discarded; IP broadcasts are no one's here
	 * (we run TCP only), so no echo reply to a broadcast either (3.2.2.6). */
	if (rte_be_to_cpu_32(ip->dst_addr) != ni->p.ip || l2_bcast) {
		net_drop(m, &ni->stats.rx_not_ours);
		return;
	}
	/* A datagram from the MAC we know for its neighbour says that neighbour is there
	 * (RFC 1122 2.3.2.1, link-layer advice): an entry being re-checked is confirmed,
	 * whether or not its ARP reply came. Under a storm of connects over memif the
	 * requests and replies of refreshes were lost on full rings, and each forgotten
	 * entry cut every connection of that address off until it answered again. Only
	 * while some entry is pending: the lookup costs nothing otherwise. */
	if (unlikely(ni->arp_pending != 0)) {
		uint32_t hop;

		if (ipv4_next_hop(ni, rte_be_to_cpu_32(ip->src_addr), &hop) == 0)
			arp_heard(ni, hop, l2_src);
	}
	frag = rte_be_to_cpu_16(ip->fragment_offset);
	if (unlikely(frag & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))) {
		net_drop(m, &ni->stats.rx_ipv4_fragments);
		return;
	}
	/* Ethernet pads frames to 60 bytes: the datagram ends at its total length. The
	 * TTL is not checked: RFC 1122 3.2.1.7, a host MUST NOT discard a datagram for a
	 * TTL below 2. */
	if (m->pkt_len > total && rte_pktmbuf_trim(m, (uint16_t)(m->pkt_len - total)) < 0) {
		/* the padding spans segments: rte_pktmbuf_trim only cuts the last one */
		net_drop(m, &ni->stats.rx_ipv4_bad_len);
		return;
	}
	switch (ip->next_proto_id) {
	case IPPROTO_TCP:
		net_tcp_input(ni, m, ip, ihl);
		break;
	case IPPROTO_ICMP:
		icmp_input(ni, m, ip, ihl);
		break;
	default:
		net_drop(m, &ni->stats.rx_ipv4_other_proto);
		break;
	}
}

/* The neighbour to send to for <dst>: itself on-link, else the gateway. */
static int ipv4_next_hop(const struct net_if *ni, uint32_t dst, uint32_t *hop)
{
	if (((dst ^ ni->p.ip) & ni->mask) == 0) {
		*hop = dst;
		return 0;
	}
	if (ni->p.gateway == 0)
		return -EHOSTUNREACH;
	*hop = ni->p.gateway;
	return 0;
}

int net_ipv4_output(struct net_if *ni, struct rte_mbuf *m, uint32_t dst_ip, uint8_t proto)
{
	struct rte_ipv4_hdr *ip;
	uint32_t hop;
	int rc;

	rc = ipv4_next_hop(ni, dst_ip, &hop);
	if (unlikely(rc < 0)) {
		net_drop(m, &ni->stats.tx_no_route);
		return rc;
	}
	if (unlikely(m->pkt_len + sizeof(*ip) > ni->p.mtu)) {
		net_drop(m, &ni->stats.tx_too_big);
		return -EMSGSIZE;
	}
	ip = (struct rte_ipv4_hdr *)rte_pktmbuf_prepend(m, sizeof(*ip));
	if (unlikely(ip == NULL)) {
		net_drop(m, &ni->stats.tx_no_headroom);
		return -ENOBUFS;
	}
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)m->pkt_len);
	ip->packet_id = rte_cpu_to_be_16(ni->ip_id++);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = IPV4_TTL;
	ip->next_proto_id = proto;
	ip->hdr_checksum = 0;
	ip->src_addr = rte_cpu_to_be_32(ni->p.ip);
	ip->dst_addr = rte_cpu_to_be_32(dst_ip);
	m->l2_len = RTE_ETHER_HDR_LEN;
	m->l3_len = sizeof(*ip);
	if (ni->p.offloads & NET_OFFLOAD_TX_IPV4_CKSUM)
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	else
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	if (proto == IPPROTO_TCP)
		net_tcp_cksum(ni, m, ip);
	return arp_output(ni, m, hop);
}

/* The ones' complement sum, reduced to 16 bits, of <len> bytes of chain <m> from byte
 * <off>. Not rte_raw_cksum_mbuf: DPDK 22.11 truncates the sum of a segment that starts
 * at an odd position to 16 bits before swapping its bytes, so its carries are lost and
 * a chain with a segment of odd length gets a wrong checksum (queued PUBLISHes, whose
 * payloads ride as external buffers, were dropped by the client's kernel on every
 * retransmission). */
uint16_t net_cksum_chain(const struct rte_mbuf *m, uint32_t off, uint32_t len)
{
	uint32_t sum = 0, done = 0;

	while (m != NULL && off >= m->data_len) {
		off -= m->data_len;
		m = m->next;
	}
	for (; m != NULL && done < len; m = m->next, off = 0) {
		uint32_t n = RTE_MIN(len - done, (uint32_t)m->data_len - off);
		uint16_t part = __rte_raw_cksum_reduce(
			__rte_raw_cksum(rte_pktmbuf_mtod_offset(m, const void *, off), n, 0));

		sum += (done & 1) ? rte_bswap16(part) : part;
		done += n;
	}
	return __rte_raw_cksum_reduce(sum);
}
