/* test_tcp_close.c - every way a connection ends (RFC 9293 3.6, 3.10.4, 3.10.7.4
 * eighth): active close with output still queued, passive close, simultaneous close,
 * half close (the peer's FIN while we still send), TIME-WAIT (the ACK of a
 * retransmitted FIN, 2 MSL expiry), the FIN-WAIT-2 timeout, a RST, and a user that
 * closes from inside recv(). Driven by tcp_script.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp_script.h"

static uint8_t pattern[8192];

static struct tcp_script *established(uint16_t peer_win)
{
	struct tcp_script *s = tcp_script_new();

	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 13 + 5);
	s->p.time_wait_us = 60000000;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, peer_win);
	return s;
}

/* The TCB is gone: a segment for it meets no flow (3.10.7.1) and gets a RST. */
static void assert_gone(struct tcp_script *s, uint32_t seq, uint32_t ack)
{
	tcp_script_in(s, ".", seq, ack, 8192, NULL, NULL, 0);
	tcp_script_out(s, "R", ack, TCP_SCRIPT_ANY, 0, "", NULL, 0);
}

Test(tcp_close, active_close_fin_wait_time_wait_rfc9293_3_6)
{
	struct tcp_script *s = established(65535);

	tcp_script_send(s, "bye", 3);
	tcp_script_out(s, "P.", 1, 1, 65535, "", "bye", 3);
	tcp_script_close(s);
	tcp_script_out(s, "F.", 4, 1, 65535, "", NULL, 0);
	tcp_script_in(s, ".", 1, 5, 65535, NULL, NULL, 0);   /* FIN_WAIT_2 */
	cr_assert_eq(s->user.out_acked, 0, "no callbacks after tcp_close()");
	tcp_script_none(s);
	tcp_script_in(s, "F.", 1, 5, 65535, NULL, NULL, 0);  /* TIME_WAIT */
	tcp_script_out(s, ".", 5, 2, 65534, "", NULL, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->time_wait, 1);
	cr_assert_eq(s->user.eof + s->user.gone, 0);
	tcp_script_free(s);
}

Test(tcp_close, time_wait_acks_a_retransmitted_fin_and_expires_after_2msl_rfc9293_3_10_7_4)
{
	struct tcp_script *s = established(65535);
	uint64_t t0;

	tcp_script_close(s);
	tcp_script_out(s, "F.", 1, 1, 65535, "", NULL, 0);
	tcp_script_in(s, "F.", 1, 2, 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", 2, 2, 65534, "", NULL, 0);
	/* The peer missed our ACK and sends its FIN again: ACK it, restart 2 MSL. */
	s->now += 30000000;
	t0 = s->now;
	tcp_script_in(s, "F.", 1, 2, 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", 2, 2, 65534, "", NULL, 0);
	tcp_script_at(s, t0 + 60000000 - 1);
	tcp_script_none(s);
	tcp_script_at(s, t0 + 60000000);
	tcp_script_none(s);
	assert_gone(s, 2, 2);
	tcp_script_free(s);
}

Test(tcp_close, close_sends_queued_output_then_fin_rfc9293_3_10_4)
{
	struct tcp_script *s = established(1000);

	tcp_script_send(s, pattern, 3000);
	tcp_script_out(s, ".", 1, 1, 65535, "", pattern, 1000);
	/* The user goes now: the 3000 bytes (1000 in flight) are copied into the TCB. */
	tcp_script_close(s);
	tcp_script_none(s);
	tcp_script_in(s, ".", 1, 1001, 4000, NULL, NULL, 0);
	tcp_script_out(s, ".", 1001, 1, 65535, "", pattern + 1000, 1460);
	tcp_script_out(s, "FP.", 2461, 1, 65535, "", pattern + 2460, 540);
	cr_assert_eq(s->user.out_acked, 0, "send_acked() is not called after tcp_close()");
	tcp_script_in(s, ".", 1, 3002, 4000, NULL, NULL, 0);
	tcp_script_in(s, "F.", 1, 3002, 4000, NULL, NULL, 0);
	tcp_script_out(s, ".", 3002, 2, 65534, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_close, closed_output_is_retransmitted_from_the_tcb)
{
	struct tcp_script *s = established(65535);

	tcp_script_send(s, pattern, 100);
	tcp_script_out(s, "P.", 1, 1, 65535, "", pattern, 100);
	tcp_script_close(s);
	tcp_script_out(s, "F.", 101, 1, 65535, "", NULL, 0);
	memset(s->user.out, 0, 100); /* the user's buffer is no longer read */
	/* RTO (rto_min, RTT samples of 0): data and FIN again from the TCB's copy. */
	tcp_script_at(s, s->now + 200000);
	tcp_script_out(s, "FP.", 1, 1, 65535, "", pattern, 100);
	tcp_script_in(s, ".", 1, 102, 65535, NULL, NULL, 0);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_close, passive_close_close_wait_last_ack_rfc9293_3_6)
{
	struct tcp_script *s = established(65535);

	tcp_script_in(s, "F.", 1, 1, 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", 1, 2, 65534, "", NULL, 0);
	cr_assert_eq(s->user.eof, 1);
	tcp_script_close(s);
	tcp_script_out(s, "F.", 1, 2, 65534, "", NULL, 0);
	tcp_script_in(s, ".", 2, 2, 65535, NULL, NULL, 0);
	tcp_script_none(s);
	assert_gone(s, 2, 2);
	tcp_script_free(s);
}

Test(tcp_close, simultaneous_close_closing_time_wait_rfc9293_3_6)
{
	struct tcp_script *s = established(65535);

	tcp_script_close(s);
	tcp_script_out(s, "F.", 1, 1, 65535, "", NULL, 0);
	/* Their FIN crosses ours: it does not acknowledge our FIN. */
	tcp_script_in(s, "F.", 1, 1, 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", 2, 2, 65534, "", NULL, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->time_wait, 0, "CLOSING until our FIN is acked");
	tcp_script_in(s, ".", 2, 2, 65535, NULL, NULL, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->time_wait, 1);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_close, half_close_we_keep_sending_after_the_peers_fin_rfc9293_3_6)
{
	struct tcp_script *s = established(65535);

	tcp_script_in(s, "FP.", 1, 1, 65535, NULL, "last", 4);
	tcp_script_out(s, ".", 1, 6, 65530, "", NULL, 0);
	cr_assert_eq(s->user.in_len, 4);
	cr_assert_eq(s->user.eof, 1);
	tcp_script_send(s, pattern, 2000);
	tcp_script_out(s, ".", 1, 6, 65530, "", pattern, 1460);
	tcp_script_out(s, "P.", 1461, 6, 65530, "", pattern + 1460, 540);
	tcp_script_in(s, ".", 6, 2001, 65535, NULL, NULL, 0);
	cr_assert_eq(s->user.out_acked, 2000);
	cr_assert_eq(s->user.gone, 0);
	tcp_script_close(s);
	tcp_script_out(s, "F.", 2001, 6, 65530, "", NULL, 0);
	tcp_script_in(s, ".", 6, 2002, 65535, NULL, NULL, 0);
	assert_gone(s, 6, 2002);
	tcp_script_free(s);
}

Test(tcp_close, eof_waits_for_kept_input_to_be_consumed)
{
	struct tcp_script *s = established(65535);

	s->user.consume = false;
	tcp_script_in(s, "FP.", 1, 1, 65535, NULL, pattern, 100);
	tcp_script_out(s, ".", 1, 102, TCP_SCRIPT_ANY, "", NULL, 0);
	cr_assert_eq(s->user.eof, 0, "eof() after the data, not before");
	tcp_script_resume(s);
	cr_assert_eq(s->user.in_len, 100);
	cr_assert_eq(s->user.eof, 1);
	tcp_script_free(s);
}

Test(tcp_close, fin_wait_2_gives_up_on_a_silent_peer)
{
	struct tcp_script *s = established(65535);
	uint64_t t0;

	tcp_script_close(s);
	tcp_script_out(s, "F.", 1, 1, 65535, "", NULL, 0);
	tcp_script_in(s, ".", 1, 2, 65535, NULL, NULL, 0);
	t0 = s->now;
	tcp_script_at(s, t0 + 60000000);
	cr_assert_eq(tcp_stack_stats(s->ts)->conns_timeout, 1);
	assert_gone(s, 1, 2);
	tcp_script_free(s);
}

Test(tcp_close, rst_at_rcv_nxt_resets_the_connection_rfc9293_3_10_7_4)
{
	struct tcp_script *s = established(65535);

	tcp_script_send(s, pattern, 10);
	tcp_script_out(s, "P.", 1, 1, 65535, "", NULL, 10);
	tcp_script_in(s, "R", 1, 0, 0, NULL, NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(s->user.gone, 1);
	cr_assert_eq(s->user.gone_err, -ECONNRESET);
	cr_assert_eq(tcp_stack_stats(s->ts)->conns_reset, 1);
	/* No retransmission for a dead connection. */
	tcp_script_at(s, s->now + 10000000);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_close, user_may_close_from_inside_recv)
{
	struct tcp_script *s = established(65535);

	s->user.close_in_recv = true;
	tcp_script_send(s, "x", 1);
	tcp_script_out(s, "P.", 1, 1, 65535, "", "x", 1);
	tcp_script_in(s, "P.", 1, 2, 65535, NULL, "quit", 4);
	tcp_script_out(s, "F.", 2, 5, TCP_SCRIPT_ANY, "", NULL, 0);
	tcp_script_in(s, "F.", 5, 3, 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", 3, 6, TCP_SCRIPT_ANY, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_close, abort_sends_rst_rfc9293_3_10_5)
{
	struct tcp_script *s = established(65535);

	tcp_abort(s->user.t);
	tcp_flush(s->ts, s->now);
	tcp_script_out(s, "R", 1, TCP_SCRIPT_ANY, 0, "", NULL, 0);
	assert_gone(s, 1, 1);
	tcp_script_free(s);
}

Test(tcp_close, close_inside_accepted_gets_no_more_callbacks)
{
	struct tcp_script *s = tcp_script_new();

	s->user.close_in_accept = true;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	tcp_script_out(s, "F.", 1, 1, 65535, "", NULL, 0);
	tcp_script_in(s, "P.", 1, 2, 65535, NULL, "late", 4);
	tcp_script_in(s, "F.", 5, 2, 65535, NULL, NULL, 0);
	cr_assert_eq(s->user.recv_calls, 0, "recv() on a user that closed");
	cr_assert_eq(s->user.eof, 0);
	tcp_script_free(s);
}
