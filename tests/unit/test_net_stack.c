/* test_net_stack.c - net_if and the real tcp_stack together, as transport_dpdk.c
 * joins them: tcp_params.output = net_tcp_output, net_if_set_tcp. A SYN frame in
 * gives a SYN-ACK frame out, resolved by ARP, with sound IP and TCP checksums. Links
 * without the tcp_input wrap of the other test_net suites. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "net_test.h"
#include "petrel/tcp.h"

/* The stack's user: refuses nothing, sends nothing; a handshake never reaches it. */
static void *u_accepted(void *listen_arg, struct tcb *t) { return listen_arg; }
static void u_connected(void *user, int err) {}
static size_t u_recv(void *user, const uint8_t *data, size_t len) { return len; }
static int u_send_view(void *user, size_t off, struct tx_span *sp, int max) { return 0; }
static size_t u_send_len(void *user) { return 0; }
static void u_send_acked(void *user, size_t n) {}
static void u_eof(void *user) {}
static void u_gone(void *user, int err) {}
static void u_span(void *ref) {}

static const struct tcp_user_ops user_ops = {
	.accepted = u_accepted, .connected = u_connected, .recv = u_recv,
	.send_view = u_send_view, .send_len = u_send_len, .send_acked = u_send_acked,
	.eof = u_eof, .gone = u_gone, .span_hold = u_span, .span_release = u_span,
};

static struct tcp_stack *ts;
static int listener;

/* A net_if (params edited by <edit>) under a real stack listening on 1883. */
static void stack_start(void (*edit)(struct net_params *p))
{
	struct tcp_params tp;

	nt_setup_params(edit);
	tcp_params_default(&tp);
	tp.local_ip = NT_OUR_IP;
	tp.pool = nt_pool;
	tp.output = net_tcp_output;
	tp.output_arg = nt_ni;
	tp.ops = &user_ops;
	ts = tcp_stack_create(&tp, 0);
	cr_assert_not_null(ts);
	cr_assert_eq(tcp_listen(ts, 1883, &listener), 0);
	net_if_set_tcp(nt_ni, ts);
}

/* The stack first (it holds mbufs: the SYN-ACK to retransmit), then the interface. */
static void stack_stop(void)
{
	tcp_stack_destroy(ts);
	ts = NULL;
	nt_assert_no_leak();
}

static void stack_teardown(void)
{
	if (ts != NULL)
		tcp_stack_destroy(ts);
	nt_teardown();
}

TestSuite(net_stack, .fini = stack_teardown);

/* A SYN from the peer, not yet known by ARP: returns the SYN-ACK frame (index 1). */
static uint8_t *syn_to_syn_ack(size_t *len)
{
	uint8_t f[128];
	uint8_t *r;

	nt_rx(f, nt_build_tcp(f, RTE_TCP_SYN_FLAG, 5, 0), 100);
	tcp_flush(ts, 100);
	/* an ARP request goes out; the SYN-ACK waits for the reply */
	cr_assert_eq(nt_flush(), 1);
	r = (uint8_t *)(uintptr_t)nt_frame(0, len);
	cr_assert_eq(rte_be_to_cpu_16(nt_eth(r)->ether_type), RTE_ETHER_TYPE_ARP);
	nt_learn(NT_PEER_IP, &nt_peer_mac, 200);
	cr_assert_eq(nt_flush(), 2);
	r = (uint8_t *)(uintptr_t)nt_frame(1, len);
	cr_assert(rte_is_same_ether_addr(&nt_eth(r)->dst_addr, &nt_peer_mac));
	cr_assert(rte_is_same_ether_addr(&nt_eth(r)->src_addr, &nt_our_mac));
	cr_assert_eq(rte_be_to_cpu_32(nt_ipv4(r)->src_addr), NT_OUR_IP);
	cr_assert_eq(rte_be_to_cpu_32(nt_ipv4(r)->dst_addr), NT_PEER_IP);
	cr_assert_eq(nt_ipv4(r)->next_proto_id, IPPROTO_TCP);
	cr_assert_eq(rte_be_to_cpu_16(nt_ipv4(r)->total_length), *len - 14);
	cr_assert_eq(((struct rte_tcp_hdr *)nt_l4(r))->tcp_flags,
		     RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
	cr_assert_eq(rte_be_to_cpu_16(((struct rte_tcp_hdr *)nt_l4(r))->src_port), 1883);
	cr_assert_eq(rte_be_to_cpu_16(((struct rte_tcp_hdr *)nt_l4(r))->dst_port), 40000);
	/* nt_build_tcp's SYN has seq 1000 */
	cr_assert_eq(rte_be_to_cpu_32(((struct rte_tcp_hdr *)nt_l4(r))->recv_ack), 1001);
	cr_assert_eq(net_if_stats(nt_ni)->rx_tcp, 1);
	return r;
}

Test(net_stack, syn_in_gives_syn_ack_out_with_sound_checksums)
{
	size_t len;
	uint8_t *r;

	stack_start(NULL);
	r = syn_to_syn_ack(&len);
	cr_assert(nt_ipv4_cksum_ok(r));
	cr_assert(nt_tcp_cksum_ok(r));
	stack_stop();
}

static void tx_offload(struct net_params *p)
{
	p->offloads = NET_OFFLOAD_TX_TCP_CKSUM | NET_OFFLOAD_TX_IPV4_CKSUM;
}

Test(net_stack, syn_ack_checksums_left_to_the_port_with_offloads)
{
	size_t len;
	uint8_t *r;
	struct rte_mbuf *m;
	struct rte_tcp_hdr *th;
	uint16_t tcp_len, port_sum;

	stack_start(tx_offload);
	r = syn_to_syn_ack(&len);
	m = nt_cap.m[1];
	th = nt_l4(r);
	cr_assert_eq(m->ol_flags & (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
				    RTE_MBUF_F_TX_TCP_CKSUM),
		     RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM);
	cr_assert_eq(m->l2_len, 14);
	cr_assert_eq(m->l3_len, 20);
	cr_assert_eq(m->l4_len, (th->data_off >> 4) * 4);
	cr_assert_eq(nt_ipv4(r)->hdr_checksum, 0);
	/* Do what the port does: sum the segment starting from the pseudo-header sum
	 * left in the field, store the complement. The result must verify. */
	tcp_len = (uint16_t)(rte_be_to_cpu_16(nt_ipv4(r)->total_length) - 20);
	port_sum = (uint16_t)~rte_raw_cksum(th, tcp_len);
	th->cksum = port_sum;
	cr_assert(nt_tcp_cksum_ok(r));
	stack_stop();
}
