/* eth.c - Ethernet II framing: frames to our MAC or to broadcast go up by ethertype
 * (ARP, IPv4), everything else is counted and dropped. VLAN-tagged frames are not
 * ours: the interface is untagged (802.1Q and 802.1ad tags, or a tag the port
 * stripped, are counted as rx_vlan). */
#include "net/net_int.h"

#include <errno.h>

void eth_input(struct net_if *ni, struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eh;
	bool bcast = false;
	uint16_t type;

	if (unlikely(m->data_len < RTE_ETHER_HDR_LEN)) {
		net_drop(m, &ni->stats.rx_bad_eth);
		return;
	}
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	/* IEEE 802.3: a group address is never a source. */
	if (unlikely(rte_is_multicast_ether_addr(&eh->src_addr))) {
		net_drop(m, &ni->stats.rx_bad_eth);
		return;
	}
	if (!rte_is_same_ether_addr(&eh->dst_addr, &ni->mac)) {
		if (!rte_is_broadcast_ether_addr(&eh->dst_addr)) {
			net_drop(m, &ni->stats.rx_not_ours);
			return;
		}
		bcast = true;
	}
	type = rte_be_to_cpu_16(eh->ether_type);
	if (unlikely(m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) ||
	    type == RTE_ETHER_TYPE_VLAN || type == RTE_ETHER_TYPE_QINQ) {
		net_drop(m, &ni->stats.rx_vlan);
		return;
	}
	rte_pktmbuf_adj(m, RTE_ETHER_HDR_LEN);
	switch (type) {
	case RTE_ETHER_TYPE_ARP:
		arp_input(ni, m);
		break;
	case RTE_ETHER_TYPE_IPV4:
		ipv4_input(ni, m, bcast, &eh->src_addr);   /* eh: still in the headroom */
		break;
	default:
		net_drop(m, &ni->stats.rx_other_ethertype);
		break;
	}
}

int eth_output(struct net_if *ni, struct rte_mbuf *m, const struct rte_ether_addr *dst,
	       uint16_t ether_type)
{
	struct rte_ether_hdr *eh;

	eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, RTE_ETHER_HDR_LEN);
	if (unlikely(eh == NULL)) {
		net_drop(m, &ni->stats.tx_no_headroom);
		return -ENOBUFS;
	}
	rte_ether_addr_copy(dst, &eh->dst_addr);
	rte_ether_addr_copy(&ni->mac, &eh->src_addr);
	eh->ether_type = rte_cpu_to_be_16(ether_type);
	m->l2_len = RTE_ETHER_HDR_LEN;
	net_txq_push(ni, m);
	return 0;
}
