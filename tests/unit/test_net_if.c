/* test_net_if.c - the interface as a whole (net_if.c): a mixed burst accounted frame
 * by frame with every mbuf back in the pool, the transmit queue against a full port
 * and when it fills, creation checks, an empty pool. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "net_test.h"

TestSuite(net_if, .init = nt_setup, .fini = nt_teardown);

#define STAT(name) (net_if_stats(nt_ni)->name)

static const struct rte_ether_addr zero_mac;
static int fake_stack;

/* Every way a frame can end, summed: each received frame is counted in exactly one. */
static uint64_t outcomes(void)
{
	const struct net_stats *s = net_if_stats(nt_ni);

	return s->rx_bad_eth + s->rx_not_ours + s->rx_vlan + s->rx_other_ethertype +
	       s->rx_arp + s->arp_bad + s->rx_ipv4_bad_header + s->rx_ipv4_bad_cksum +
	       s->rx_ipv4_bad_len + s->rx_ipv4_fragments + s->rx_ipv4_other_proto +
	       s->rx_icmp_echo + s->rx_icmp_bad + s->rx_icmp_other + s->rx_tcp +
	       s->rx_tcp_bad_cksum + s->rx_tcp_short + s->no_tcp;
}

/* Frame <i> of the mixed burst: kind i % 8. */
static size_t mixed(uint8_t *f, unsigned i)
{
	size_t len;

	switch (i % 8) {
	case 0:                                   /* ARP request for us: answered */
		return nt_build_arp(f, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &nt_peer_mac,
				    NT_PEER_IP, &zero_mac, NT_OUR_IP);
	case 1:                                   /* echo request: answered */
		return nt_build_echo(f, 1, (uint16_t)i, 24);
	case 2:                                   /* TCP: handed on */
		return nt_build_tcp(f, RTE_TCP_ACK_FLAG, 5, i);
	case 3:                                   /* TCP, bad checksum */
		len = nt_build_tcp(f, RTE_TCP_ACK_FLAG, 5, 4);
		f[len - 1] ^= 0xff;
		return len;
	case 4:                                   /* fragment */
		len = nt_build_echo(f, 1, 1, 8);
		nt_ipv4(f)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
		nt_ipv4_fix(f);
		return len;
	case 5:                                   /* echo, bad ICMP checksum */
		len = nt_build_echo(f, 1, 1, 8);
		f[len - 1] ^= 0xff;
		return len;
	case 6:                                   /* IPv6 */
		len = nt_build_echo(f, 1, 1, 8);
		nt_eth(f)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
		return len;
	default:                                  /* another host's frame */
		len = nt_build_echo(f, 1, 1, 8);
		nt_eth(f)->dst_addr = nt_gw_mac;
		return len;
	}
}

Test(net_if, mixed_burst_adds_up_and_returns_every_mbuf)
{
	struct rte_mbuf *burst[32];

	net_if_set_tcp(nt_ni, (struct tcp_stack *)(void *)&fake_stack);
	for (unsigned i = 0; i < 32; i++) {
		uint8_t f[256];

		burst[i] = nt_mbuf(f, mixed(f, i));
	}
	net_rx(nt_ni, burst, 32, 5);
	cr_assert_eq(STAT(rx_frames), 32);
	cr_assert_eq(outcomes(), 32);
	cr_assert_eq(STAT(rx_arp), 4);
	cr_assert_eq(STAT(rx_icmp_echo), 4);
	cr_assert_eq(STAT(rx_tcp), 4);
	cr_assert_eq(nt_nsegs, 4);
	cr_assert_eq(STAT(rx_tcp_bad_cksum), 4);
	cr_assert_eq(STAT(rx_ipv4_fragments), 4);
	cr_assert_eq(STAT(rx_icmp_bad), 4);
	cr_assert_eq(STAT(rx_other_ethertype), 4);
	cr_assert_eq(STAT(rx_not_ours), 4);
	/* four ARP replies and four echo replies (the first ARP request taught us the
	 * peer, so no reply waits) */
	cr_assert_eq(nt_flush(), 8);
	cr_assert_eq(STAT(tx_frames), 8);
	nt_assert_no_leak();
}

Test(net_if, frames_the_port_refuses_are_freed_and_counted)
{
	nt_cap.accept = 1;
	net_announce(nt_ni);
	net_announce(nt_ni);
	net_announce(nt_ni);
	cr_assert_eq(nt_flush(), 1);
	cr_assert_eq(STAT(tx_frames), 1);
	cr_assert_eq(STAT(tx_full), 2);
	nt_assert_no_leak();
}

Test(net_if, a_full_queue_is_flushed_before_it_overflows)
{
	for (unsigned i = 0; i < NET_TX_QUEUE + 6; i++)
		net_announce(nt_ni);
	cr_assert_eq(nt_cap.n, NET_TX_QUEUE);
	cr_assert_eq(nt_flush(), NET_TX_QUEUE + 6);
	cr_assert_eq(STAT(tx_full), 0);
	nt_assert_no_leak();
}

Test(net_if, destroy_frees_queued_and_waiting_frames)
{
	uint8_t data[16] = { 0 };

	net_announce(nt_ni);                                         /* queued */
	net_ipv4_output(nt_ni, nt_mbuf(data, 16), NT_PEER_IP, IPPROTO_UDP);  /* waits */
	cr_assert_eq(nt_cap.n, 0);
	nt_assert_no_leak();
}

Test(net_if, empty_pool_counted_not_crashed)
{
	struct rte_mbuf *all[1024];
	unsigned n = 0;

	while (n < 1024 && (all[n] = rte_pktmbuf_alloc(nt_pool)) != NULL)
		n++;
	net_announce(nt_ni);
	cr_assert_eq(STAT(no_mbuf), 1);
	cr_assert_eq(nt_flush(), 0);
	rte_pktmbuf_free_bulk(all, n);
	net_announce(nt_ni);
	cr_assert_eq(nt_flush(), 1);
	nt_assert_no_leak();
}

static uint16_t drop_all(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	rte_pktmbuf_free_bulk(pkts, n);
	return n;
}

static struct net_params good(void)
{
	struct net_params p;

	net_params_default(&p);
	p.ip = NT_OUR_IP;
	p.pool = nt_pool;
	p.tx_burst = drop_all;
	return p;
}

Test(net_if, create_refuses_bad_params)
{
	struct net_params p = good();
	struct net_if *ni = net_if_create(&p, 0);

	cr_assert_not_null(ni);
	net_if_destroy(ni);
	p.gateway = NT_FAR_IP;                    /* off-link gateway */
	cr_assert_null(net_if_create(&p, 0));
	cr_assert_eq(errno, EINVAL);
	p = good();
	p.prefix_len = 33;
	cr_assert_null(net_if_create(&p, 0));
	p = good();
	p.pool = NULL;
	cr_assert_null(net_if_create(&p, 0));
	p = good();
	p.arp_entries = 0;
	cr_assert_null(net_if_create(&p, 0));
	p = good();
	p.arp_timeout_us = 999999;                /* below the 1 s retry interval */
	cr_assert_null(net_if_create(&p, 0));
	p = good();
	p.mtu = 100;
	cr_assert_null(net_if_create(&p, 0));
	cr_assert_eq(errno, EINVAL);
}
