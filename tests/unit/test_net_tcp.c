/* test_net_tcp.c - the seam to TCP (net_tcp.c): what reaches tcp_input (wrapped,
 * net_test.h) and what is dropped before it; the checksum of segments TCP sends, in
 * software and offloaded. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "net_test.h"

TestSuite(net_tcp, .init = nt_setup, .fini = nt_teardown);

#define STAT(name) (net_if_stats(nt_ni)->name)

/* tcp_input is wrapped: any non-NULL stack will do, it is never looked into. */
static int fake_stack;
#define STACK ((struct tcp_stack *)(void *)&fake_stack)

Test(net_tcp, sound_segment_is_handed_on_at_the_tcp_header)
{
	uint8_t f[128];
	size_t len = nt_build_tcp(f, RTE_TCP_SYN_FLAG, 5, 0);   /* 54 bytes */
	const struct rte_tcp_hdr *th;

	memset(f + len, 0xee, 60 - len);                        /* ethernet padding */
	net_if_set_tcp(nt_ni, STACK);
	nt_rx(f, 60, 777);
	cr_assert_eq(STAT(rx_tcp), 1);
	cr_assert_eq(nt_nsegs, 1);
	cr_assert_eq(nt_segs[0].src, NT_PEER_IP);
	cr_assert_eq(nt_segs[0].dst, NT_OUR_IP);
	cr_assert_eq(nt_segs[0].now_us, 777);
	cr_assert_eq(nt_segs[0].m->pkt_len, 20, "trimmed to the IP payload");
	th = rte_pktmbuf_mtod(nt_segs[0].m, const struct rte_tcp_hdr *);
	cr_assert_eq(rte_be_to_cpu_16(th->src_port), 40000);
	cr_assert_eq(th->tcp_flags, RTE_TCP_SYN_FLAG);
	cr_assert_eq(nt_flush(), 0);
	nt_assert_no_leak();
}

Test(net_tcp, options_and_payload_are_handed_on_whole)
{
	uint8_t f[256];
	size_t len = nt_build_tcp(f, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, 8, 100);

	net_if_set_tcp(nt_ni, STACK);
	nt_rx(f, len, 0);
	cr_assert_eq(nt_nsegs, 1);
	cr_assert_eq(nt_segs[0].m->pkt_len, 32 + 100);
	cr_assert_eq(memcmp(rte_pktmbuf_mtod(nt_segs[0].m, uint8_t *), nt_l4(f), 132), 0);
	nt_assert_no_leak();
}

Test(net_tcp, without_a_stack_counted_no_tcp)
{
	uint8_t f[128];

	nt_rx(f, nt_build_tcp(f, RTE_TCP_SYN_FLAG, 5, 0), 0);
	cr_assert_eq(STAT(no_tcp), 1);
	cr_assert_eq(nt_nsegs, 0);
	nt_assert_no_leak();
}

Test(net_tcp, bad_checksum_dropped)
{
	uint8_t f[128];
	size_t len = nt_build_tcp(f, RTE_TCP_ACK_FLAG, 5, 10);

	net_if_set_tcp(nt_ni, STACK);
	f[len - 1] ^= 1;
	nt_rx(f, len, 0);
	cr_assert_eq(STAT(rx_tcp_bad_cksum), 1);
	cr_assert_eq(nt_nsegs, 0);
	nt_assert_no_leak();
}

Test(net_tcp, short_headers_dropped)
{
	uint8_t f[128];
	size_t len;

	net_if_set_tcp(nt_ni, STACK);
	len = nt_build_tcp(f, RTE_TCP_ACK_FLAG, 4, 0);           /* offset < 5 words */
	nt_rx(f, len, 0);
	len = nt_build_tcp(f, RTE_TCP_ACK_FLAG, 5, 8);           /* offset past the end */
	((struct rte_tcp_hdr *)nt_l4(f))->data_off = 8 << 4;
	nt_rx(f, len, 0);
	/* twelve bytes of TCP: not even the fixed header */
	len = nt_build_ipv4(f, NT_PEER_IP, NT_OUR_IP, IPPROTO_TCP, "0123456789ab", 12);
	nt_rx(f, len, 0);
	cr_assert_eq(STAT(rx_tcp_short), 3);
	cr_assert_eq(nt_nsegs, 0);
	nt_assert_no_leak();
}

static void rx_offload(struct net_params *p)
{
	p->offloads = NET_OFFLOAD_RX_CKSUM;
}

Test(net_tcp, rx_offload_verdict_is_trusted)
{
	uint8_t f[128];
	size_t len = nt_build_tcp(f, RTE_TCP_ACK_FLAG, 5, 10);
	struct rte_mbuf *m;

	net_if_destroy(nt_ni);
	nt_setup_params(rx_offload);
	net_if_set_tcp(nt_ni, STACK);
	m = nt_mbuf(f, len);                                     /* sound, port says bad */
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_BAD;
	net_rx(nt_ni, &m, 1, 0);
	cr_assert_eq(STAT(rx_tcp_bad_cksum), 1);
	f[len - 1] ^= 1;                                         /* broken, port says good */
	m = nt_mbuf(f, len);
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	net_rx(nt_ni, &m, 1, 0);
	m = nt_mbuf(f, len);                                     /* verified elsewhere */
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_NONE;
	net_rx(nt_ni, &m, 1, 0);
	cr_assert_eq(nt_nsegs, 2);
	nt_rx(f, len, 0);                                        /* no verdict */
	cr_assert_eq(STAT(rx_tcp_bad_cksum), 2);
	nt_assert_no_leak();
}

/* A segment as tcp_output hands it down: data at the TCP header, headroom left. */
static struct rte_mbuf *segment(size_t plen)
{
	uint8_t f[256];
	size_t len = nt_build_tcp(f, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, 6, plen);
	struct rte_mbuf *m = nt_mbuf(f, len);

	rte_pktmbuf_adj(m, (uint16_t)(len - 24 - plen));
	((struct rte_tcp_hdr *)rte_pktmbuf_mtod(m, void *))->cksum = 0x1234;  /* stale */
	return m;
}

Test(net_tcp, output_checksum_in_software)
{
	size_t len;
	const uint8_t *f;

	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(net_tcp_output(nt_ni, segment(50), NT_PEER_IP), 0);
	cr_assert_eq(nt_flush(), 1);
	f = nt_frame(0, &len);
	cr_assert_eq(len, 14 + 20 + 24 + 50);
	cr_assert_eq(nt_ipv4((uint8_t *)(uintptr_t)f)->next_proto_id, IPPROTO_TCP);
	cr_assert(nt_ipv4_cksum_ok(f));
	cr_assert(nt_tcp_cksum_ok(f));
	cr_assert_eq(nt_cap.m[0]->ol_flags & (RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IP_CKSUM),
		     0);
	nt_assert_no_leak();
}

Test(net_tcp, output_checksum_in_software_over_a_chain)
{
	struct rte_mbuf *m = segment(0), *pay = rte_pktmbuf_alloc(nt_pool), *out;
	struct rte_ipv4_hdr *ip;
	uint8_t *p;

	/* the payload in a second segment, as an attached PUBLISH payload would be */
	cr_assert_not_null(pay);
	p = (uint8_t *)rte_pktmbuf_append(pay, 333);
	for (unsigned i = 0; i < 333; i++)
		p[i] = (uint8_t)(i * 7);
	cr_assert_eq(rte_pktmbuf_chain(m, pay), 0);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(net_tcp_output(nt_ni, m, NT_PEER_IP), 0);
	cr_assert_eq(nt_flush(), 1);
	out = nt_cap.m[0];
	cr_assert_eq(out->pkt_len, 14 + 20 + 24 + 333);
	ip = rte_pktmbuf_mtod_offset(out, struct rte_ipv4_hdr *, 14);
	cr_assert_eq(rte_ipv4_udptcp_cksum_mbuf_verify(out, ip, 14 + 20), 0);
	nt_assert_no_leak();
}

static void tx_tcp_offload(struct net_params *p)
{
	p->offloads = NET_OFFLOAD_TX_TCP_CKSUM;
}

/* <m> with segments of <n> bytes each appended, filled so the sums carry (0xff..). */
static void chain_payload(struct rte_mbuf *m, const uint16_t *lens, unsigned n)
{
	for (unsigned s = 0; s < n; s++) {
		struct rte_mbuf *seg = rte_pktmbuf_alloc(nt_pool);
		uint8_t *p;

		cr_assert_not_null(seg);
		p = (uint8_t *)rte_pktmbuf_append(seg, lens[s]);
		cr_assert_not_null(p);
		for (unsigned i = 0; i < lens[s]; i++)
			p[i] = (uint8_t)(0xff - (i + s) % 3);
		cr_assert_eq(rte_pktmbuf_chain(m, seg), 0);
	}
}

/* The frame <out>, flattened, has sound IPv4 and TCP checksums. */
static void assert_flat_cksums_ok(const struct rte_mbuf *out)
{
	static uint8_t flat[2048];

	cr_assert_leq(out->pkt_len, sizeof(flat));
	cr_assert_not_null(rte_pktmbuf_read(out, 0, out->pkt_len, flat));
	cr_assert(nt_ipv4_cksum_ok(flat));
	cr_assert(nt_tcp_cksum_ok(flat), "TCP checksum of the chain is wrong");
}

static const uint16_t odd_lens[] = { 333, 101, 7, 64 };

/* Segments of odd length, as PUBLISH headers and payloads chain them: DPDK 22.11's
 * rte_raw_cksum_mbuf drops carries at odd positions (fails without net_cksum_chain). */
Test(net_tcp, output_checksum_in_software_over_a_chain_of_odd_segments)
{
	struct rte_mbuf *m = segment(3);

	chain_payload(m, odd_lens, 4);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(net_tcp_output(nt_ni, m, NT_PEER_IP), 0);
	cr_assert_eq(nt_flush(), 1);
	cr_assert_eq(nt_cap.m[0]->pkt_len, 14 + 20 + 24 + 3 + 333 + 101 + 7 + 64);
	assert_flat_cksums_ok(nt_cap.m[0]);
	nt_assert_no_leak();
}

/* A sound frame that arrives as a chain split at odd positions is accepted. */
Test(net_tcp, input_chain_of_odd_segments_with_a_sound_checksum_accepted)
{
	uint8_t f[512];
	size_t len = nt_build_tcp(f, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, 5, 300);
	struct rte_mbuf *m = nt_mbuf(f, 14 + 20 + 20 + 11), *seg;

	/* the rest in pieces of 101, 77 and the remainder */
	for (size_t at = 14 + 20 + 20 + 11, n; at < len; at += n) {
		n = RTE_MIN(len - at, at < 200 ? 101u : 77u);
		seg = nt_mbuf(f + at, n);
		cr_assert_eq(rte_pktmbuf_chain(m, seg), 0);
	}
	net_if_set_tcp(nt_ni, STACK);
	net_rx(nt_ni, &m, 1, 0);
	cr_assert_eq(STAT(rx_tcp_bad_cksum), 0);
	cr_assert_eq(STAT(rx_tcp), 1);
	cr_assert_eq(nt_nsegs, 1);
	nt_assert_no_leak();
}

Test(net_tcp, output_checksum_offloaded_holds_the_pseudo_header_sum)
{
	size_t len;
	uint8_t *f;
	struct rte_ipv4_hdr *ip;
	struct rte_mbuf *m;
	struct {
		rte_be32_t src, dst;
		uint8_t zero, proto;
		rte_be16_t len;
	} __attribute__((packed)) ph;

	net_if_destroy(nt_ni);
	nt_setup_params(tx_tcp_offload);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(net_tcp_output(nt_ni, segment(50), NT_PEER_IP), 0);
	cr_assert_eq(nt_flush(), 1);
	f = (uint8_t *)(uintptr_t)nt_frame(0, &len);
	m = nt_cap.m[0];
	ip = nt_ipv4(f);
	cr_assert_eq(m->ol_flags & (RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4 |
				    RTE_MBUF_F_TX_IP_CKSUM),
		     RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4);
	cr_assert_eq(m->l2_len, 14);
	cr_assert_eq(m->l3_len, 20);
	cr_assert_eq(m->l4_len, 24);
	/* RFC 9293 3.1 pseudo-header: source, destination, zero, protocol, TCP length;
	 * its sum, not complemented, is what the port starts from */
	ph.src = ip->src_addr;
	ph.dst = ip->dst_addr;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP;
	ph.len = rte_cpu_to_be_16(24 + 50);
	cr_assert_eq(((struct rte_tcp_hdr *)nt_l4(f))->cksum, rte_raw_cksum(&ph, sizeof(ph)));
	cr_assert(nt_ipv4_cksum_ok(f), "IP checksum still in software");
	nt_assert_no_leak();
}

/* net_tap sums a chain's segments each on its own, wrong after an odd one: such a
 * chain is summed in software even when the port offers TCP checksums. */
Test(net_tcp, offload_left_out_for_a_chain_with_odd_segments)
{
	struct rte_mbuf *m;

	net_if_destroy(nt_ni);
	nt_setup_params(tx_tcp_offload);
	m = segment(3);
	chain_payload(m, odd_lens, 4);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 0);
	cr_assert_eq(net_tcp_output(nt_ni, m, NT_PEER_IP), 0);
	cr_assert_eq(nt_flush(), 1);
	cr_assert_eq(nt_cap.m[0]->ol_flags & RTE_MBUF_F_TX_TCP_CKSUM, 0);
	assert_flat_cksums_ok(nt_cap.m[0]);
	nt_assert_no_leak();
}
