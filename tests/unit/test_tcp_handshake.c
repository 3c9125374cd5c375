/* test_tcp_handshake.c - passive open (RFC 9293 3.5, 3.10.7.2) and the options of the
 * SYN-ACK (MSS 3.7.1, window scale RFC 7323 2, timestamps RFC 7323 3; SACK-permitted
 * is not echoed, we do not do SACK), driven by tcp_script.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tcp_script.h"

Test(tcp_handshake, syn_ack_echoes_mss_ws_ts_not_sack_rfc7323_1_3)
{
	struct tcp_script *s = tcp_script_new();
	const struct tcp_stats *st;
	char o[64];

	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 65535, "mss 1460,sackOK,ts 100 0,nop,ws 7", NULL, 0);
	/* rcv_buf 65536 needs a shift of 1; a SYN-ACK's window is never scaled. */
	snprintf(o, sizeof(o), "mss 1460,ws 1,ts %u 100", tcp_script_tsval(s));
	tcp_script_out(s, "S.", 0, 1, 65535, o, NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(s->user.accepted, 0, "not accepted before the handshake completes");

	snprintf(o, sizeof(o), "ts 101 %u", tcp_script_tsval(s));
	tcp_script_in(s, ".", 1, 1, 512, o, NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(s->user.accepted, 1);
	st = tcp_stack_stats(s->ts);
	cr_assert_eq(st->conns_passive, 1);
	tcp_script_free(s);
}

Test(tcp_handshake, syn_without_options_gets_mss_only_rfc9293_3_7_1)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 8192, NULL, NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	tcp_script_in(s, ".", 1, 1, 8192, NULL, NULL, 0);
	cr_assert_eq(s->user.accepted, 1);
	/* Without an MSS option we send at most 536 bytes a segment (3.7.1). */
	{
		uint8_t buf[1000];

		memset(buf, 'x', sizeof(buf));
		tcp_script_send(s, buf, sizeof(buf));
	}
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 536);
	tcp_script_out(s, "P.", 537, 1, 65535, "", NULL, 1000 - 536);
	tcp_script_free(s);
}

Test(tcp_handshake, syn_ack_retransmitted_then_given_up_rfc6298_5_5)
{
	struct tcp_script *s = tcp_script_new();
	uint64_t at = TCP_SCRIPT_T0, rto = 1000000;

	s->p.max_retries = 3;
	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 8192, "mss 1000", NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	for (int i = 0; i < 3; i++) {
		tcp_script_at(s, at + rto - 1);
		tcp_script_none(s);
		at += rto;
		tcp_script_at(s, at);
		tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
		rto *= 2;
	}
	tcp_script_at(s, at + rto);
	tcp_script_none(s);
	cr_assert_eq(s->user.accepted, 0);
	/* The TCB is gone: the late ACK meets the listener, which resets it. */
	tcp_script_in(s, ".", 1, 1, 8192, NULL, NULL, 0);
	tcp_script_out(s, "R", 1, TCP_SCRIPT_ANY, 0, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_handshake, duplicate_syn_in_syn_received_resends_syn_ack)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 8192, "mss 1000", NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	tcp_script_in(s, "S", 0, 0, 8192, "mss 1000", NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_handshake, bad_ack_in_syn_received_gets_rst_rfc9293_3_10_7_4)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 8192, NULL, NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	/* Acknowledges something we never sent: <SEQ=SEG.ACK><CTL=RST>. */
	tcp_script_in(s, ".", 1, 5000, 8192, NULL, NULL, 0);
	tcp_script_out(s, "R", 5000, TCP_SCRIPT_ANY, 0, "", NULL, 0);
	cr_assert_eq(s->user.accepted, 0);
	tcp_script_free(s);
}

Test(tcp_handshake, refused_by_the_user_gets_rst)
{
	struct tcp_script *s = tcp_script_new();

	s->refuse_accept = true;
	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 8192, NULL, NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	tcp_script_in(s, ".", 1, 1, 8192, NULL, NULL, 0);
	tcp_script_out(s, "R", 1, TCP_SCRIPT_ANY, 0, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_handshake, full_backlog_answers_with_a_syn_cookie_rfc4987_3_6)
{
	struct tcp_script *s = tcp_script_new();
	struct tcp_script_seg synack;
	const struct tcp_stats *st;

	s->p.syn_backlog = 1;
	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 8192, "mss 1460", NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	/* A second SYN finds the backlog full: a cookie, no TCB, no timestamps. */
	s->relative = false;
	s->peer_port = 40001;
	tcp_script_in(s, "S", 7000, 0, 8192, "mss 1460,ts 5 0,nop,ws 7", NULL, 0);
	synack = tcp_script_out(s, "S.", TCP_SCRIPT_ANY, 7001, 65535, "mss 1460,ws 1", NULL, 0);
	st = tcp_stack_stats(s->ts);
	cr_assert_eq(st->syn_cookies_sent, 1);
	cr_assert_eq(st->syn_backlog_full, 1);
	/* Nothing is kept for it, so nothing is retransmitted: only the first flow's. */
	tcp_script_at(s, s->now + 1000000);
	cr_assert(tcp_script_pop(s, &synack));
	cr_assert_eq(synack.dport, 40000);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_handshake, ack_of_a_cookie_establishes_the_connection_rfc4987_3_6)
{
	struct tcp_script *s = tcp_script_new();
	struct tcp_script_seg synack;

	s->p.syn_backlog = 0;
	tcp_script_start(s);
	s->relative = false;
	tcp_script_in(s, "S", 7000, 0, 8192, "mss 1300,nop,ws 2", NULL, 0);
	synack = tcp_script_out(s, "S.", TCP_SCRIPT_ANY, 7001, 65535, "mss 1460,ws 1", NULL, 0);
	/* A forged cookie: RST, counted. */
	tcp_script_in(s, ".", 7001, synack.seq + 2, 100, NULL, NULL, 0);
	tcp_script_out(s, "R", synack.seq + 2, TCP_SCRIPT_ANY, 0, "", NULL, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_bad, 1);
	cr_assert_eq(s->user.accepted, 0);
	/* The right one, with data: accepted, the data delivered, window scaling on. */
	tcp_script_in(s, "P.", 7001, synack.seq + 1, 100, NULL, "hello", 5);
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_ok, 1);
	cr_assert_eq(s->user.accepted, 1);
	cr_assert_eq(s->user.in_len, 5);
	/* The peer's window is 100 << 2; the cookie kept its MSS 1300. */
	{
		uint8_t buf[1000] = { 0 };

		tcp_script_send(s, buf, sizeof(buf));
	}
	tcp_script_out(s, ".", synack.seq + 1, 7006, TCP_SCRIPT_ANY, "", NULL, 400);
	tcp_script_none(s);
	tcp_script_free(s);
}
