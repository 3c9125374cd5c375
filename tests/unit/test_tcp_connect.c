/* test_tcp_connect.c - active open (RFC 9293 3.5, 3.10.7.3): SYN with our options,
 * SYN-ACK -> ESTABLISHED and connected(0); a RST that acknowledges the SYN ->
 * connected(-ECONNREFUSED); SYN retries -> connected(-ETIMEDOUT); simultaneous open
 * (3.5 figure 8); an unacceptable ACK in SYN-SENT gets a RST; source port 0 picks a
 * free ephemeral port (RFC 6335 6). Driven by tcp_script.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>

#include "tcp_script.h"

static struct tcp_script *script(void)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	s->port = 50000; /* our source port */
	return s;
}

Test(tcp_connect, syn_ack_establishes_and_calls_connected_rfc9293_3_10_7_3)
{
	struct tcp_script *s = script();
	char o[64];

	cr_assert_not_null(tcp_script_connect(s));
	snprintf(o, sizeof(o), "mss 1460,ws 1,ts %u 0", tcp_script_tsval(s));
	tcp_script_out(s, "S", 0, TCP_SCRIPT_ANY, 65535, o, NULL, 0);
	cr_assert_eq(s->user.connected, 0);
	snprintf(o, sizeof(o), "mss 1400,ts 77 %u,nop,ws 2", tcp_script_tsval(s));
	tcp_script_in(s, "S.", 0, 1, 65535, o, NULL, 0);
	snprintf(o, sizeof(o), "ts %u 77", tcp_script_tsval(s));
	tcp_script_out(s, ".", 1, 1, 32768, o, NULL, 0);
	cr_assert_eq(s->user.connected, 1);
	cr_assert_eq(s->user.connected_err, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->conns_active, 1);
	/* Their MSS 1400 less our 12 bytes of timestamps. */
	{
		uint8_t buf[2000] = { 0 };

		tcp_script_send(s, buf, sizeof(buf));
	}
	tcp_script_out(s, ".", 1, 1, 32768, NULL, NULL, 1388);
	tcp_script_out(s, "P.", 1389, 1, 32768, NULL, NULL, 2000 - 1388);
	tcp_script_free(s);
}

Test(tcp_connect, rst_acking_the_syn_refuses_rfc9293_3_10_7_3)
{
	struct tcp_script *s = script();

	tcp_script_connect(s);
	tcp_script_out(s, "S", 0, TCP_SCRIPT_ANY, 65535, NULL, NULL, 0);
	/* A RST without an acceptable ACK is ignored (RFC 5961 3.2 for SYN-SENT). */
	tcp_script_in(s, "R", 0, 0, 0, NULL, NULL, 0);
	cr_assert_eq(s->user.connected, 0);
	tcp_script_in(s, "R.", 0, 1, 0, NULL, NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(s->user.connected, 1);
	cr_assert_eq(s->user.connected_err, -ECONNREFUSED);
	/* Gone: no SYN retransmission follows. */
	tcp_script_at(s, s->now + 5000000);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_connect, syn_retries_time_out_rfc6298_5_5)
{
	struct tcp_script *s = tcp_script_new();
	uint64_t at, rto = 1000000;

	s->p.max_retries = 2;
	tcp_script_start(s);
	s->port = 50000;
	tcp_script_connect(s);
	tcp_script_out(s, "S", 0, TCP_SCRIPT_ANY, 65535, NULL, NULL, 0);
	at = s->now;
	for (int i = 0; i < 2; i++) {
		tcp_script_at(s, at + rto - 1);
		tcp_script_none(s);
		at += rto;
		tcp_script_at(s, at);
		tcp_script_out(s, "S", 0, TCP_SCRIPT_ANY, 65535, NULL, NULL, 0);
		rto *= 2;
	}
	cr_assert_eq(s->user.connected, 0);
	tcp_script_at(s, at + rto);
	tcp_script_none(s);
	cr_assert_eq(s->user.connected, 1);
	cr_assert_eq(s->user.connected_err, -ETIMEDOUT);
	tcp_script_free(s);
}

Test(tcp_connect, simultaneous_open_rfc9293_3_5_figure_8)
{
	struct tcp_script *s = script();

	tcp_script_connect(s);
	tcp_script_out(s, "S", 0, TCP_SCRIPT_ANY, 65535, NULL, NULL, 0);
	/* Their SYN crosses ours. */
	tcp_script_in(s, "S", 0, 0, 8192, "mss 1460", NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	cr_assert_eq(s->user.connected, 0);
	tcp_script_in(s, "S.", 0, 1, 8192, "mss 1460", NULL, 0);
	/* Their SYN-ACK again is old now: ACKed, and then their ACK completes it. */
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	tcp_script_in(s, ".", 1, 1, 8192, NULL, NULL, 0);
	cr_assert_eq(s->user.connected, 1);
	cr_assert_eq(s->user.connected_err, 0);
	tcp_script_free(s);
}

Test(tcp_connect, bad_ack_in_syn_sent_gets_rst_rfc9293_3_10_7_3)
{
	struct tcp_script *s = script();

	tcp_script_connect(s);
	tcp_script_out(s, "S", 0, TCP_SCRIPT_ANY, 65535, NULL, NULL, 0);
	tcp_script_in(s, "S.", 0, 77, 8192, NULL, NULL, 0);
	tcp_script_out(s, "R", 77, TCP_SCRIPT_ANY, 0, "", NULL, 0);
	cr_assert_eq(s->user.connected, 0);
	tcp_script_free(s);
}

Test(tcp_connect, source_port_zero_picks_free_ephemeral_ports_rfc6335_6)
{
	struct tcp_script *s = tcp_script_new();
	struct tcp_script_seg a, b;

	tcp_script_start(s);
	s->relative = false;
	cr_assert_not_null(tcp_connect(s->ts, s->peer_ip, s->peer_port, 0, &s->user, s->now));
	cr_assert_not_null(tcp_connect(s->ts, s->peer_ip, s->peer_port, 0, &s->user, s->now));
	cr_assert(tcp_script_pop(s, &a));
	cr_assert(tcp_script_pop(s, &b));
	cr_assert_geq(a.sport, 49152);
	cr_assert_geq(b.sport, 49152);
	cr_assert_neq(a.sport, b.sport);
	/* The same explicit 4-tuple twice is refused. */
	cr_assert_not_null(tcp_connect(s->ts, s->peer_ip, s->peer_port, 40000, &s->user, s->now));
	cr_assert_null(tcp_connect(s->ts, s->peer_ip, s->peer_port, 40000, &s->user, s->now));
	cr_assert_eq(errno, EADDRINUSE);
	tcp_script_free(s);
}

Test(tcp_connect, over_max_conns_connect_fails_with_enobufs)
{
	struct tcp_script *s = tcp_script_new();

	s->p.max_conns = 1;
	tcp_script_start(s);
	cr_assert_not_null(tcp_connect(s->ts, s->peer_ip, s->peer_port, 0, &s->user, s->now));
	errno = 0;
	cr_assert_null(tcp_connect(s->ts, s->peer_ip, s->peer_port, 0, &s->user, s->now));
	cr_assert_eq(errno, ENOBUFS);
	cr_assert_eq(tcp_stack_stats(s->ts)->conns_over_limit, 1);
	tcp_script_free(s);
}
