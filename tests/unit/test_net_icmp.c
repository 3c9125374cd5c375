/* test_net_icmp.c - ICMP echo (icmp.c) through a real net_if: the reply's bytes,
 * and every other message counted and dropped. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "net_test.h"

TestSuite(net_icmp, .init = nt_setup, .fini = nt_teardown);

#define STAT(name) (net_if_stats(nt_ni)->name)

Test(net_icmp, echo_reply_carries_id_seq_and_data_back)
{
	uint8_t req[256];
	size_t len = nt_build_echo(req, 0x1234, 0xbeef, 56), rlen;
	uint8_t *r;
	struct rte_icmp_hdr *rq = nt_l4(req), *rp;

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_rx(req, len, 0);
	cr_assert_eq(STAT(rx_icmp_echo), 1);
	cr_assert_eq(nt_flush(), 1);
	r = (uint8_t *)(uintptr_t)nt_frame(0, &rlen);
	cr_assert_eq(rlen, len);
	cr_assert(rte_is_same_ether_addr(&nt_eth(r)->dst_addr, &nt_peer_mac));
	cr_assert(rte_is_same_ether_addr(&nt_eth(r)->src_addr, &nt_our_mac));
	cr_assert_eq(rte_be_to_cpu_32(nt_ipv4(r)->src_addr), NT_OUR_IP);
	cr_assert_eq(rte_be_to_cpu_32(nt_ipv4(r)->dst_addr), NT_PEER_IP);
	cr_assert_eq(nt_ipv4(r)->next_proto_id, IPPROTO_ICMP);
	cr_assert_eq(nt_ipv4(r)->total_length, nt_ipv4(req)->total_length);
	cr_assert(nt_ipv4_cksum_ok(r));
	rp = nt_l4(r);
	cr_assert_eq(rp->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	cr_assert_eq(rp->icmp_code, 0);
	cr_assert_eq(rp->icmp_ident, rq->icmp_ident);
	cr_assert_eq(rp->icmp_seq_nb, rq->icmp_seq_nb);
	cr_assert_eq(memcmp(rp + 1, rq + 1, 56), 0);
	cr_assert_eq(rte_raw_cksum(rp, sizeof(*rp) + 56), 0xffff, "reply checksum");
	nt_assert_no_leak();
}

Test(net_icmp, echo_from_off_link_is_answered_through_the_gateway)
{
	uint8_t req[256];
	size_t len = nt_build_echo(req, 1, 2, 8), rlen;
	uint8_t *r;

	nt_ipv4(req)->src_addr = rte_cpu_to_be_32(NT_FAR_IP);
	nt_ipv4_fix(req);
	nt_learn(NT_GW_IP, &nt_gw_mac, 0);
	nt_rx(req, len, 0);
	cr_assert_eq(nt_flush(), 1);
	r = (uint8_t *)(uintptr_t)nt_frame(0, &rlen);
	cr_assert(rte_is_same_ether_addr(&nt_eth(r)->dst_addr, &nt_gw_mac));
	cr_assert_eq(rte_be_to_cpu_32(nt_ipv4(r)->dst_addr), NT_FAR_IP);
	nt_assert_no_leak();
}

Test(net_icmp, bad_checksum_dropped)
{
	uint8_t req[256];
	size_t len = nt_build_echo(req, 1, 2, 32);

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	req[len - 1] ^= 0x40;                     /* a data bit flipped on the way */
	nt_rx(req, len, 0);
	cr_assert_eq(STAT(rx_icmp_bad), 1);
	cr_assert_eq(STAT(rx_icmp_echo), 0);
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}

Test(net_icmp, truncated_message_dropped)
{
	uint8_t req[256];

	/* four bytes of ICMP: no room for identifier and sequence number */
	size_t len = nt_build_ipv4(req, NT_PEER_IP, NT_OUR_IP, IPPROTO_ICMP,
				   "\x08\x00\xf7\xff", 4);

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_rx(req, len, 0);
	cr_assert_eq(STAT(rx_icmp_bad), 1);
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}

Test(net_icmp, other_messages_dropped)
{
	static const uint8_t types[] = { RTE_IP_ICMP_ECHO_REPLY, 3 /* unreachable */,
					 13 /* timestamp */, 5 /* redirect */ };

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	for (unsigned i = 0; i < sizeof(types); i++) {
		uint8_t req[256];
		size_t len = nt_build_echo(req, 1, 2, 8);
		struct rte_icmp_hdr *ih = nt_l4(req);

		ih->icmp_type = types[i];
		ih->icmp_cksum = 0;
		ih->icmp_cksum = (uint16_t)~rte_raw_cksum(ih, sizeof(*ih) + 8);
		nt_rx(req, len, 0);
	}
	cr_assert_eq(STAT(rx_icmp_other), sizeof(types));
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}

Test(net_icmp, echo_to_broadcast_gets_no_reply)
{
	uint8_t req[256];
	size_t len = nt_build_echo(req, 1, 2, 8);

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	nt_ipv4(req)->dst_addr = rte_cpu_to_be_32(NT_IP(198, 18, 0, 255));
	nt_ipv4_fix(req);
	nt_eth(req)->dst_addr = nt_bcast_mac;
	nt_rx(req, len, 0);
	cr_assert_eq(STAT(rx_not_ours), 1);
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}
