/* test_net_arp.c - ARP (arp.c) through a real net_if: answering, learning, resolving
 * with one waiting frame, retries and their end, ageing, the announcement, next hops.
 * Time is passed in: net_rx / net_timers at exact microseconds. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "net_test.h"

TestSuite(net_arp, .init = nt_setup, .fini = nt_teardown);

static const struct rte_ether_addr zero_mac;

/* A datagram's payload for net_ipv4_output: <len> bytes of <fill>. */
static struct rte_mbuf *payload(size_t len, uint8_t fill)
{
	uint8_t buf[256];

	memset(buf, fill, len);
	return nt_mbuf(buf, len);
}

/* Captured frame <i> is an ARP packet with these fields. */
static void assert_arp(unsigned i, const struct rte_ether_addr *eth_dst, uint16_t op,
		       const struct rte_ether_addr *tha, uint32_t tip)
{
	size_t len;
	uint8_t *f = (uint8_t *)(uintptr_t)nt_frame(i, &len);
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(f + sizeof(struct rte_ether_hdr));

	cr_assert_eq(len, sizeof(struct rte_ether_hdr) + sizeof(*ah));
	cr_assert(rte_is_same_ether_addr(&nt_eth(f)->dst_addr, eth_dst));
	cr_assert(rte_is_same_ether_addr(&nt_eth(f)->src_addr, &nt_our_mac));
	cr_assert_eq(rte_be_to_cpu_16(nt_eth(f)->ether_type), RTE_ETHER_TYPE_ARP);
	cr_assert_eq(rte_be_to_cpu_16(ah->arp_hardware), RTE_ARP_HRD_ETHER);
	cr_assert_eq(rte_be_to_cpu_16(ah->arp_protocol), RTE_ETHER_TYPE_IPV4);
	cr_assert_eq(ah->arp_hlen, 6);
	cr_assert_eq(ah->arp_plen, 4);
	cr_assert_eq(rte_be_to_cpu_16(ah->arp_opcode), op);
	cr_assert(rte_is_same_ether_addr(&ah->arp_data.arp_sha, &nt_our_mac));
	cr_assert_eq(rte_be_to_cpu_32(ah->arp_data.arp_sip), NT_OUR_IP);
	cr_assert(rte_is_same_ether_addr(&ah->arp_data.arp_tha, tha));
	cr_assert_eq(rte_be_to_cpu_32(ah->arp_data.arp_tip), tip);
}

/* Captured frame <i> is an IPv4 datagram to <ip> via <mac>, of <plen> bytes <fill>. */
static void assert_ipv4_to(unsigned i, const struct rte_ether_addr *mac, uint32_t ip,
			   size_t plen, uint8_t fill)
{
	size_t len;
	uint8_t *f = (uint8_t *)(uintptr_t)nt_frame(i, &len);

	cr_assert_eq(len, sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + plen);
	cr_assert(rte_is_same_ether_addr(&nt_eth(f)->dst_addr, mac));
	cr_assert_eq(rte_be_to_cpu_16(nt_eth(f)->ether_type), RTE_ETHER_TYPE_IPV4);
	cr_assert_eq(rte_be_to_cpu_32(nt_ipv4(f)->dst_addr), ip);
	cr_assert(nt_ipv4_cksum_ok(f));
	cr_assert_eq(((uint8_t *)nt_l4(f))[0], fill);
}

Test(net_arp, request_for_us_gets_reply_with_our_mac)
{
	uint8_t f[64];

	nt_rx(f, nt_build_arp(f, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &nt_peer_mac, NT_PEER_IP,
			      &zero_mac, NT_OUR_IP), 0);
	cr_assert_eq(nt_flush(), 1);
	assert_arp(0, &nt_peer_mac, RTE_ARP_OP_REPLY, &nt_peer_mac, NT_PEER_IP);
	cr_assert_eq(net_if_stats(nt_ni)->rx_arp, 1);
	cr_assert_eq(net_if_stats(nt_ni)->tx_arp, 1);
	/* and the requester was learnt: a datagram to it goes out at once */
	cr_assert_eq(net_ipv4_output(nt_ni, payload(10, 0xab), NT_PEER_IP, IPPROTO_UDP), 0);
	cr_assert_eq(nt_flush(), 2);
	assert_ipv4_to(1, &nt_peer_mac, NT_PEER_IP, 10, 0xab);
	nt_assert_no_leak();
}

Test(net_arp, request_for_another_address_gets_nothing_and_teaches_nothing)
{
	uint8_t f[64];

	nt_rx(f, nt_build_arp(f, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &nt_peer_mac, NT_PEER_IP,
			      &zero_mac, NT_IP(198, 18, 0, 3)), 0);
	cr_assert_eq(nt_flush(), 0);
	cr_assert_eq(net_if_stats(nt_ni)->rx_arp, 1);
	/* not learnt: sending to the peer asks first */
	net_ipv4_output(nt_ni, payload(10, 1), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 1);
	assert_arp(0, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_PEER_IP);
	nt_assert_no_leak();
}

Test(net_arp, probe_for_our_address_is_answered_and_teaches_nothing)
{
	uint8_t f[64];
	size_t len;
	const uint8_t *r;
	const struct rte_arp_hdr *ah;

	/* RFC 5227 2.1.1: a probe has sender IP 0; the owner answers it (2.4). */
	nt_rx(f, nt_build_arp(f, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &nt_peer_mac, 0,
			      &zero_mac, NT_OUR_IP), 0);
	cr_assert_eq(nt_flush(), 1);
	assert_arp(0, &nt_peer_mac, RTE_ARP_OP_REPLY, &nt_peer_mac, 0);
	r = nt_frame(0, &len);
	ah = (const struct rte_arp_hdr *)(r + sizeof(struct rte_ether_hdr));
	cr_assert_eq(ah->arp_data.arp_tip, 0);
	nt_assert_no_leak();
}

Test(net_arp, reply_to_another_host_teaches_nothing)
{
	uint8_t f[64];

	nt_rx(f, nt_build_arp(f, &nt_bcast_mac, RTE_ARP_OP_REPLY, &nt_peer_mac, NT_PEER_IP,
			      &nt_gw_mac, NT_GW_IP), 0);
	cr_assert_eq(net_if_stats(nt_ni)->rx_arp, 1);
	net_ipv4_output(nt_ni, payload(10, 1), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 1);
	assert_arp(0, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_PEER_IP);
	nt_assert_no_leak();
}

Test(net_arp, malformed_packets_are_counted_and_ignored)
{
	uint8_t f[64];
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(f + sizeof(struct rte_ether_hdr));
	size_t len = nt_build_arp(f, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &nt_peer_mac,
				  NT_PEER_IP, &zero_mac, NT_OUR_IP);

	ah->arp_hlen = 8;
	nt_rx(f, len, 0);
	ah->arp_hlen = 6;
	ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REVREQUEST);
	nt_rx(f, len, 0);
	ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	ah->arp_data.arp_sip = rte_cpu_to_be_32(NT_OUR_IP);    /* claims our address */
	nt_rx(f, len, 0);
	nt_rx(f, sizeof(struct rte_ether_hdr) + 20, 0);         /* truncated */
	cr_assert_eq(nt_flush(), 0);
	cr_assert_eq(net_if_stats(nt_ni)->arp_bad, 4);
	cr_assert_eq(net_if_stats(nt_ni)->rx_arp, 0);
	nt_assert_no_leak();
}

Test(net_arp, unresolved_frame_waits_and_the_reply_releases_it)
{
	cr_assert_eq(net_ipv4_output(nt_ni, payload(20, 0x5a), NT_PEER_IP, IPPROTO_UDP), 0);
	cr_assert_eq(nt_flush(), 1);
	assert_arp(0, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_PEER_IP);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 1000);
	cr_assert_eq(nt_flush(), 2);
	assert_ipv4_to(1, &nt_peer_mac, NT_PEER_IP, 20, 0x5a);
	cr_assert_eq(net_if_stats(nt_ni)->arp_unresolved_drops, 0);
	nt_assert_no_leak();
}

Test(net_arp, one_frame_waits_per_neighbour_the_newest)
{
	net_ipv4_output(nt_ni, payload(20, 1), NT_PEER_IP, IPPROTO_UDP);
	net_ipv4_output(nt_ni, payload(20, 2), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(net_if_stats(nt_ni)->arp_unresolved_drops, 1);
	cr_assert_eq(nt_flush(), 1);              /* one request, not two */
	nt_learn(NT_PEER_IP, &nt_peer_mac, 1000);
	cr_assert_eq(nt_flush(), 2);
	assert_ipv4_to(1, &nt_peer_mac, NT_PEER_IP, 20, 2);
	nt_assert_no_leak();
}

Test(net_arp, three_requests_a_second_apart_then_the_frame_is_dropped)
{
	net_ipv4_output(nt_ni, payload(20, 1), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 1);
	net_timers(nt_ni, NT_SEC - 1);
	cr_assert_eq(nt_flush(), 1);
	net_timers(nt_ni, NT_SEC);
	cr_assert_eq(nt_flush(), 2);
	assert_arp(1, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_PEER_IP);
	net_timers(nt_ni, 2 * NT_SEC);
	cr_assert_eq(nt_flush(), 3);
	cr_assert_eq(net_if_stats(nt_ni)->arp_unresolved_drops, 0);
	net_timers(nt_ni, 3 * NT_SEC);
	cr_assert_eq(nt_flush(), 3);              /* no fourth request */
	cr_assert_eq(net_if_stats(nt_ni)->arp_unresolved_drops, 1);
	cr_assert_eq(net_if_stats(nt_ni)->tx_arp, 3);
	/* a late reply finds nothing waiting */
	nt_learn(NT_PEER_IP, &nt_peer_mac, 4 * NT_SEC);
	cr_assert_eq(nt_flush(), 3);
	nt_assert_no_leak();
}

Test(net_arp, aged_entry_is_used_while_asked_again_then_forgotten)
{
	const uint64_t age = 60 * NT_SEC;      /* net_params_default's arp_timeout_us */

	net_ipv4_output(nt_ni, payload(20, 1), NT_PEER_IP, IPPROTO_UDP);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(nt_flush(), 2);              /* request, datagram */

	net_timers(nt_ni, age - 1);
	net_ipv4_output(nt_ni, payload(20, 2), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 3);              /* fresh: straight out */
	assert_ipv4_to(2, &nt_peer_mac, NT_PEER_IP, 20, 2);

	net_timers(nt_ni, age);
	net_ipv4_output(nt_ni, payload(20, 3), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 5);              /* aged: a request, and the datagram */
	assert_arp(3, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_PEER_IP);
	assert_ipv4_to(4, &nt_peer_mac, NT_PEER_IP, 20, 3);

	net_timers(nt_ni, age + NT_SEC);
	net_timers(nt_ni, age + 2 * NT_SEC);
	cr_assert_eq(nt_flush(), 7);              /* two more requests */
	net_timers(nt_ni, age + 3 * NT_SEC);
	cr_assert_eq(nt_flush(), 7);
	/* no answer: forgotten, the next datagram waits for a new resolution */
	net_ipv4_output(nt_ni, payload(20, 4), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 8);
	assert_arp(7, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_PEER_IP);
	nt_learn(NT_PEER_IP, &nt_gw_mac, age + 4 * NT_SEC);   /* it moved */
	cr_assert_eq(nt_flush(), 9);
	assert_ipv4_to(8, &nt_gw_mac, NT_PEER_IP, 20, 4);
	nt_assert_no_leak();
}

Test(net_arp, aged_entry_answered_is_fresh_again)
{
	const uint64_t age = 60 * NT_SEC;

	net_ipv4_output(nt_ni, payload(20, 1), NT_PEER_IP, IPPROTO_UDP);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	net_timers(nt_ni, age);
	net_ipv4_output(nt_ni, payload(20, 2), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 4);
	nt_learn(NT_PEER_IP, &nt_peer_mac, age + 10);
	net_timers(nt_ni, age + 5 * NT_SEC);
	net_ipv4_output(nt_ni, payload(20, 3), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 5);              /* no more requests */
	assert_ipv4_to(4, &nt_peer_mac, NT_PEER_IP, 20, 3);
	nt_assert_no_leak();
}

/* A datagram from the neighbour's known MAC confirms an entry being re-checked when
 * the ARP answer does not come (lost on a full ring): no more requests, and it is not
 * forgotten. Without that, all traffic to it stopped until it answered again. */
Test(net_arp, aged_entry_confirmed_by_a_datagram_from_its_mac)
{
	const uint64_t age = 60 * NT_SEC;
	uint8_t f[128];

	net_ipv4_output(nt_ni, payload(20, 1), NT_PEER_IP, IPPROTO_UDP);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	net_timers(nt_ni, age);
	net_ipv4_output(nt_ni, payload(20, 2), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 4);              /* request, datagrams 1 and 2 */
	nt_rx(f, nt_build_echo(f, 1, 1, 16), age + 10);   /* from nt_peer_mac */
	cr_assert_eq(nt_flush(), 5);              /* the echo reply */
	cr_assert_eq(net_if_stats(nt_ni)->arp_heard_confirms, 1);
	for (unsigned s = 1; s <= 4; s++)
		net_timers(nt_ni, age + s * NT_SEC);
	cr_assert_eq(nt_flush(), 5, "no more requests");
	net_ipv4_output(nt_ni, payload(20, 3), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 6, "still resolved: straight out");
	assert_ipv4_to(5, &nt_peer_mac, NT_PEER_IP, 20, 3);
	nt_assert_no_leak();
}

/* From another MAC it confirms nothing: the entry is forgotten as before. */
Test(net_arp, datagram_from_another_mac_confirms_nothing)
{
	const uint64_t age = 60 * NT_SEC;
	uint8_t f[128];
	size_t len;

	net_ipv4_output(nt_ni, payload(20, 1), NT_PEER_IP, IPPROTO_UDP);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	net_timers(nt_ni, age);
	net_ipv4_output(nt_ni, payload(20, 2), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 4);
	len = nt_build_echo(f, 1, 1, 16);
	rte_ether_addr_copy(&nt_gw_mac, &nt_eth(f)->src_addr);
	nt_rx(f, len, age + 10);
	cr_assert_eq(nt_flush(), 5);              /* the echo reply */
	cr_assert_eq(net_if_stats(nt_ni)->arp_heard_confirms, 0);
	for (unsigned s = 1; s <= 3; s++)
		net_timers(nt_ni, age + s * NT_SEC);
	cr_assert_eq(nt_flush(), 7);              /* two more requests, then forgotten */
	net_ipv4_output(nt_ni, payload(20, 3), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 8, "the datagram waits behind a new request");
	assert_arp(7, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_PEER_IP);
	nt_assert_no_leak();
}

Test(net_arp, announcement_is_a_request_for_our_own_address)
{
	net_announce(nt_ni);
	cr_assert_eq(nt_flush(), 1);
	/* RFC 5227 2.3: sender and target IP ours, target MAC zero, broadcast */
	assert_arp(0, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_OUR_IP);
	cr_assert_eq(net_if_stats(nt_ni)->tx_arp, 1);
	nt_assert_no_leak();
}

Test(net_arp, off_link_destination_goes_through_the_gateway)
{
	net_ipv4_output(nt_ni, payload(20, 7), NT_FAR_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 1);
	assert_arp(0, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_GW_IP);
	nt_learn(NT_GW_IP, &nt_gw_mac, 10);
	cr_assert_eq(nt_flush(), 2);
	assert_ipv4_to(1, &nt_gw_mac, NT_FAR_IP, 20, 7);
	nt_assert_no_leak();
}

static void no_gateway(struct net_params *p)
{
	p->gateway = 0;
}

Test(net_arp, off_link_without_gateway_is_unreachable)
{
	net_if_destroy(nt_ni);
	nt_setup_params(no_gateway);
	cr_assert_eq(net_ipv4_output(nt_ni, payload(20, 7), NT_FAR_IP, IPPROTO_UDP),
		     -EHOSTUNREACH);
	cr_assert_eq(net_if_stats(nt_ni)->tx_no_route, 1);
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}

static void tiny_cache(struct net_params *p)
{
	p->arp_entries = 2;
}

Test(net_arp, full_cache_evicts_the_least_recently_confirmed)
{
	uint8_t f[64];

	net_if_destroy(nt_ni);
	nt_setup_params(tiny_cache);
	for (unsigned i = 0; i < 3; i++)
		nt_rx(f, nt_build_arp(f, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &nt_peer_mac,
				      NT_PEER_IP + i, &zero_mac, NT_OUR_IP), i);
	cr_assert_eq(nt_flush(), 3);              /* three replies */
	cr_assert_eq(net_if_stats(nt_ni)->arp_cache_full, 1);
	/* .3 and .4 are known, .2 (the oldest) went */
	net_ipv4_output(nt_ni, payload(20, 3), NT_PEER_IP + 2, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 4);
	assert_ipv4_to(3, &nt_peer_mac, NT_PEER_IP + 2, 20, 3);
	net_ipv4_output(nt_ni, payload(20, 3), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 5);
	assert_arp(4, &nt_bcast_mac, RTE_ARP_OP_REQUEST, &zero_mac, NT_PEER_IP);
	nt_assert_no_leak();
}
