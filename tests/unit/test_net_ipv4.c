/* test_net_ipv4.c - ethernet (eth.c) and IPv4 (ipv4.c) input checks and output
 * headers through a real net_if. Every bad frame is counted where it fails and
 * nothing is sent; a sound one is an echo request, answered. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include "net_test.h"

TestSuite(net_ipv4, .init = nt_setup, .fini = nt_teardown);

#define STAT(name) (net_if_stats(nt_ni)->name)

/* <f> of <len> bytes, fed in, is dropped: counted once in <*counter>, nothing sent. */
static void assert_dropped(const uint8_t *f, size_t len, const uint64_t *counter)
{
	uint64_t before = *counter;

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_rx(f, len, 0);
	cr_assert_eq(*counter, before + 1);
	cr_assert_eq(nt_flush(), 0);
	cr_assert_eq(STAT(rx_icmp_echo), 0);
	nt_assert_no_leak();
}

static void assert_answered(const uint8_t *f, size_t len)
{
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_rx(f, len, 0);
	cr_assert_eq(STAT(rx_icmp_echo), 1);
	cr_assert_eq(nt_flush(), 1);
	nt_assert_no_leak();
}

Test(net_ipv4, sound_echo_request_is_answered)
{
	uint8_t f[128];

	assert_answered(f, nt_build_echo(f, 1, 1, 16));
}

Test(net_ipv4, version_other_than_4_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->version_ihl = 0x65;
	nt_ipv4_fix(f);
	assert_dropped(f, len, &STAT(rx_ipv4_bad_header));
}

Test(net_ipv4, ihl_below_5_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->version_ihl = 0x44;
	nt_ipv4(f)->hdr_checksum = 0;
	nt_ipv4(f)->hdr_checksum = (uint16_t)~rte_raw_cksum(nt_ipv4(f), 16);
	assert_dropped(f, len, &STAT(rx_ipv4_bad_header));
}

Test(net_ipv4, total_length_beyond_the_frame_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->total_length = rte_cpu_to_be_16(20 + 8 + 16 + 1);
	nt_ipv4_fix(f);
	assert_dropped(f, len, &STAT(rx_ipv4_bad_len));
}

Test(net_ipv4, total_length_below_the_header_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->total_length = rte_cpu_to_be_16(19);
	nt_ipv4_fix(f);
	assert_dropped(f, len, &STAT(rx_ipv4_bad_len));
}

Test(net_ipv4, frame_shorter_than_the_header_dropped)
{
	uint8_t f[128];

	nt_build_echo(f, 1, 1, 16);
	assert_dropped(f, sizeof(struct rte_ether_hdr) + 19, &STAT(rx_ipv4_bad_len));
}

Test(net_ipv4, options_longer_than_the_frame_dropped)
{
	uint8_t f[128];

	nt_build_echo(f, 1, 1, 0);
	nt_ipv4(f)->version_ihl = 0x4f;                    /* 60-byte header */
	nt_ipv4(f)->total_length = rte_cpu_to_be_16(28);
	assert_dropped(f, sizeof(struct rte_ether_hdr) + 28, &STAT(rx_ipv4_bad_len));
}

Test(net_ipv4, bad_header_checksum_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->hdr_checksum ^= 0x0100;
	assert_dropped(f, len, &STAT(rx_ipv4_bad_cksum));
}

Test(net_ipv4, more_fragments_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	nt_ipv4_fix(f);
	assert_dropped(f, len, &STAT(rx_ipv4_fragments));
}

Test(net_ipv4, fragment_offset_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG | 185);
	nt_ipv4_fix(f);
	assert_dropped(f, len, &STAT(rx_ipv4_fragments));
}

Test(net_ipv4, dont_fragment_alone_is_fine)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	nt_ipv4_fix(f);
	assert_answered(f, len);
}

Test(net_ipv4, another_destination_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->dst_addr = rte_cpu_to_be_32(NT_OUR_IP + 1);
	nt_ipv4_fix(f);
	assert_dropped(f, len, &STAT(rx_not_ours));
}

Test(net_ipv4, broadcast_destinations_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->dst_addr = rte_cpu_to_be_32(UINT32_MAX);
	nt_ipv4_fix(f);
	assert_dropped(f, len, &STAT(rx_not_ours));
}

Test(net_ipv4, link_broadcast_to_our_address_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	/* RFC 1122 3.3.6 */
	nt_eth(f)->dst_addr = nt_bcast_mac;
	assert_dropped(f, len, &STAT(rx_not_ours));
}

Test(net_ipv4, source_no_host_may_use_dropped)
{
	static const uint32_t bad[] = {
		NT_IP(127, 0, 0, 1), NT_IP(0, 0, 0, 0), NT_IP(224, 0, 0, 1), UINT32_MAX,
		NT_IP(198, 18, 0, 255), NT_OUR_IP,
	};

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t f[128];
		size_t len = nt_build_echo(f, 1, 1, 16);

		nt_ipv4(f)->src_addr = rte_cpu_to_be_32(bad[i]);
		nt_ipv4_fix(f);
		nt_rx(f, len, 0);
		cr_assert_eq(STAT(rx_ipv4_bad_header), i + 1, "source %08x", bad[i]);
	}
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}

Test(net_ipv4, other_protocol_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	nt_ipv4(f)->next_proto_id = IPPROTO_UDP;
	nt_ipv4_fix(f);
	assert_dropped(f, len, &STAT(rx_ipv4_other_proto));
}

Test(net_ipv4, low_ttl_is_accepted)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);

	/* RFC 1122 3.2.1.7: MUST NOT discard for TTL < 2 */
	nt_ipv4(f)->time_to_live = 1;
	nt_ipv4_fix(f);
	assert_answered(f, len);
}

Test(net_ipv4, options_are_skipped)
{
	uint8_t f[128], g[128];
	size_t len = nt_build_echo(g, 7, 9, 16), dlen;
	const uint8_t *r;

	/* the same request with 8 bytes of options (NOPs, then end of list) */
	memcpy(f, g, sizeof(struct rte_ether_hdr) + 20);
	memset(f + sizeof(struct rte_ether_hdr) + 20, 1, 7);
	f[sizeof(struct rte_ether_hdr) + 27] = 0;
	memcpy(f + sizeof(struct rte_ether_hdr) + 28, g + sizeof(struct rte_ether_hdr) + 20,
	       len - sizeof(struct rte_ether_hdr) - 20);
	nt_ipv4(f)->version_ihl = 0x47;
	nt_ipv4(f)->total_length = rte_cpu_to_be_16((uint16_t)(len + 8 - 14));
	nt_ipv4_fix(f);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_rx(f, len + 8, 0);
	cr_assert_eq(nt_flush(), 1);
	r = nt_frame(0, &dlen);
	cr_assert_eq(dlen, len);                  /* the reply has no options */
	cr_assert_eq(memcmp(r + len - 16, g + len - 16, 16), 0);
	nt_assert_no_leak();
}

Test(net_ipv4, ethernet_padding_is_trimmed)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 3, 4, 0), dlen;   /* 42 bytes */
	const uint8_t *r;

	memset(f + len, 0xee, 60 - len);                 /* padding that is not zero */
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_rx(f, 60, 0);
	cr_assert_eq(nt_flush(), 1);
	r = nt_frame(0, &dlen);
	cr_assert_eq(dlen, len);
	cr_assert_eq(rte_be_to_cpu_16(nt_ipv4((uint8_t *)(uintptr_t)r)->total_length), 28);
	nt_assert_no_leak();
}

Test(net_ipv4, ethernet_frames_not_for_us_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);
	struct rte_mbuf *m;

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_eth(f)->dst_addr = nt_gw_mac;                          /* another host's */
	nt_rx(f, len, 0);
	cr_assert_eq(STAT(rx_not_ours), 1);
	nt_eth(f)->dst_addr = nt_our_mac;
	nt_eth(f)->src_addr.addr_bytes[0] = 0x01;                 /* group source */
	nt_rx(f, len, 0);
	nt_rx(f, 13, 0);                                          /* runt */
	cr_assert_eq(STAT(rx_bad_eth), 2);
	nt_eth(f)->src_addr = nt_peer_mac;
	nt_eth(f)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
	nt_rx(f, len, 0);
	nt_eth(f)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_QINQ);
	nt_rx(f, len, 0);
	nt_eth(f)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	m = nt_mbuf(f, len);
	m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
	m->vlan_tci = 5;
	net_rx(nt_ni, &m, 1, 0);
	cr_assert_eq(STAT(rx_vlan), 3);
	nt_eth(f)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	nt_rx(f, len, 0);
	cr_assert_eq(STAT(rx_other_ethertype), 1);
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}

/* A datagram sent by net_ipv4_output: the header as RFC 791 wants it. */
static const uint8_t *send_one(size_t plen, uint8_t proto, size_t *len)
{
	uint8_t data[64] = { 0 };

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(net_ipv4_output(nt_ni, nt_mbuf(data, plen), NT_PEER_IP, proto), 0);
	cr_assert_eq(nt_flush(), 1);
	return nt_frame(0, len);
}

Test(net_ipv4, output_header_in_software)
{
	size_t len;
	uint8_t *f = (uint8_t *)(uintptr_t)send_one(30, IPPROTO_UDP, &len);
	struct rte_ipv4_hdr *ip = nt_ipv4(f);
	uint8_t data[8] = { 0 };

	cr_assert_eq(len, 14 + 20 + 30);
	cr_assert(rte_is_same_ether_addr(&nt_eth(f)->src_addr, &nt_our_mac));
	cr_assert_eq(ip->version_ihl, 0x45);
	cr_assert_eq(rte_be_to_cpu_16(ip->total_length), 50);
	cr_assert_eq(rte_be_to_cpu_16(ip->fragment_offset), RTE_IPV4_HDR_DF_FLAG);
	cr_assert_eq(ip->time_to_live, 64);
	cr_assert_eq(ip->next_proto_id, IPPROTO_UDP);
	cr_assert_eq(rte_be_to_cpu_32(ip->src_addr), NT_OUR_IP);
	cr_assert_eq(rte_be_to_cpu_32(ip->dst_addr), NT_PEER_IP);
	cr_assert(nt_ipv4_cksum_ok(f));
	cr_assert_eq(nt_cap.m[0]->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_IPV4), 0);
	/* the next datagram has the next ID */
	net_ipv4_output(nt_ni, nt_mbuf(data, 8), NT_PEER_IP, IPPROTO_UDP);
	cr_assert_eq(nt_flush(), 2);
	cr_assert_eq(rte_be_to_cpu_16(nt_ipv4(rte_pktmbuf_mtod(nt_cap.m[1], uint8_t *))->packet_id),
		     rte_be_to_cpu_16(ip->packet_id) + 1);
	nt_assert_no_leak();
}

static void tx_ip_offload(struct net_params *p)
{
	p->offloads = NET_OFFLOAD_TX_IPV4_CKSUM;
}

Test(net_ipv4, output_header_checksum_offloaded)
{
	size_t len;
	const uint8_t *f;
	struct rte_mbuf *m;

	net_if_destroy(nt_ni);
	nt_setup_params(tx_ip_offload);
	f = send_one(30, IPPROTO_UDP, &len);
	m = nt_cap.m[0];
	cr_assert_eq(m->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_IPV4),
		     RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_IPV4);
	cr_assert_eq(m->l2_len, 14);
	cr_assert_eq(m->l3_len, 20);
	cr_assert_eq(nt_ipv4((uint8_t *)(uintptr_t)f)->hdr_checksum, 0);
	nt_assert_no_leak();
}

Test(net_ipv4, output_longer_than_the_mtu_refused)
{
	uint8_t data[1500] = { 0 };
	struct rte_mbuf *m = nt_mbuf(data, 1481);

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(net_ipv4_output(nt_ni, m, NT_PEER_IP, IPPROTO_UDP), -EMSGSIZE);
	cr_assert_eq(STAT(tx_too_big), 1);
	cr_assert_eq(net_ipv4_output(nt_ni, nt_mbuf(data, 1480), NT_PEER_IP, IPPROTO_UDP), 0);
	cr_assert_eq(nt_flush(), 1);
	nt_assert_no_leak();
}

/* An mbuf of <plen> bytes with only <headroom> bytes in front. */
static struct rte_mbuf *with_headroom(uint16_t headroom, uint16_t plen)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(nt_pool);

	cr_assert_not_null(m);
	m->data_off = headroom;
	cr_assert_not_null(rte_pktmbuf_append(m, plen));
	memset(rte_pktmbuf_mtod(m, void *), 0, plen);
	return m;
}

Test(net_ipv4, output_without_headroom_fails_cleanly)
{
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(net_ipv4_output(nt_ni, with_headroom(19, 8), NT_PEER_IP, IPPROTO_UDP),
		     -ENOBUFS);
	cr_assert_eq(net_ipv4_output(nt_ni, with_headroom(33, 8), NT_PEER_IP, IPPROTO_UDP),
		     -ENOBUFS);                /* room for IPv4, not for ethernet */
	cr_assert_eq(STAT(tx_no_headroom), 2);
	cr_assert_eq(net_ipv4_output(nt_ni, with_headroom(34, 8), NT_PEER_IP, IPPROTO_UDP), 0);
	cr_assert_eq(nt_flush(), 1);
	nt_assert_no_leak();
}

static void rx_offload(struct net_params *p)
{
	p->offloads = NET_OFFLOAD_RX_CKSUM;
}

Test(net_ipv4, rx_offload_verdict_is_trusted)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);
	struct rte_mbuf *m;

	net_if_destroy(nt_ni);
	nt_setup_params(rx_offload);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	m = nt_mbuf(f, len);                      /* sound, but the port says bad */
	m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_BAD;
	net_rx(nt_ni, &m, 1, 0);
	cr_assert_eq(STAT(rx_ipv4_bad_cksum), 1);
	nt_ipv4(f)->hdr_checksum ^= 1;            /* broken, but the port says good */
	m = nt_mbuf(f, len);
	m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
	net_rx(nt_ni, &m, 1, 0);
	cr_assert_eq(STAT(rx_icmp_echo), 1);
	nt_rx(f, len, 0);                         /* no verdict: checked in software */
	cr_assert_eq(STAT(rx_ipv4_bad_cksum), 2);
	cr_assert_eq(nt_flush(), 1);
	nt_assert_no_leak();
}

Test(net_ipv4, rx_offload_flags_ignored_without_the_offload)
{
	uint8_t f[128];
	size_t len = nt_build_echo(f, 1, 1, 16);
	struct rte_mbuf *m;

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_ipv4(f)->hdr_checksum ^= 1;
	m = nt_mbuf(f, len);
	m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
	net_rx(nt_ni, &m, 1, 0);
	cr_assert_eq(STAT(rx_ipv4_bad_cksum), 1);
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}
