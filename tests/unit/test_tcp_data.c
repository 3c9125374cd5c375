/* test_tcp_data.c - the byte streams of an ESTABLISHED connection, driven by
 * tcp_script.h: input offered straight from the mbuf, kept when the user stops
 * reading (the window shrinks, RFC 9293 3.8.6.2.2) and offered again after
 * tcp_recv_resume() with a window update; output from send_view() in MSS pieces and
 * released by send_acked(); delayed ACKs (RFC 1122 4.2.3.2, RFC 5681 4.2);
 * out-of-order and duplicate segments (RFC 9293 3.10.7.4); zero-window probes
 * (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17). */
#include <criterion/criterion.h>
#include <rte_eal.h>
#include <rte_mempool.h>
#include <stdio.h>
#include <string.h>

#include "net/tcp_int.h"
#include "tcp_script.h"

static uint8_t pattern[65536];

static void fill_pattern(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + i / 251);
}

static struct tcp_script *established(uint32_t rcv_buf, uint16_t peer_win)
{
	struct tcp_script *s = tcp_script_new();

	fill_pattern();
	if (rcv_buf != 0)
		s->p.rcv_buf = rcv_buf;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, peer_win);
	return s;
}

Test(tcp_data, input_is_offered_from_the_mbuf_and_acked_after_delack_rfc1122_4_2_3_2)
{
	struct tcp_script *s = established(0, 65535);

	tcp_script_in(s, "P.", 1, 1, 65535, NULL, pattern, 100);
	cr_assert_eq(s->user.recv_calls, 1);
	cr_assert_eq(s->user.in_len, 100);
	cr_assert_arr_eq(s->user.in, pattern, 100);
	cr_assert(tcp_script_in_pool(s, s->user.last_ptr), "recv() gets the mbuf's bytes");
	/* One segment: the ACK waits delack_us (40 ms) for data to ride on. */
	tcp_script_none(s);
	tcp_script_at(s, s->now + 40000 - 1);
	tcp_script_none(s);
	tcp_script_at(s, s->now + 1);
	tcp_script_out(s, ".", 1, 101, 65435, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_data, every_second_segment_is_acked_at_once_rfc5681_4_2)
{
	struct tcp_script *s = established(0, 65535);

	tcp_script_in(s, ".", 1, 1, 65535, NULL, pattern, 1460);
	tcp_script_none(s);
	tcp_script_in(s, ".", 1461, 1, 65535, NULL, pattern + 1460, 1460);
	tcp_script_out(s, ".", 1, 2921, 65535, "", NULL, 0);
	cr_assert_arr_eq(s->user.in, pattern, 2920);
	/* The delayed ACK was paid: nothing more when its timer would have fired. */
	tcp_script_at(s, s->now + 40000);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_data, an_ack_rides_on_data_we_send)
{
	struct tcp_script *s = established(0, 65535);

	tcp_script_in(s, "P.", 1, 1, 65535, NULL, pattern, 10);
	tcp_script_send(s, "pong", 4);
	/* 3.8.6.2.2: the right edge moves by min(rcv_buf / 2, MSS) or not at all. */
	tcp_script_out(s, "P.", 1, 11, 65525, "", "pong", 4);
	tcp_script_at(s, s->now + 40000);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_data, output_goes_in_mss_pieces_and_is_released_by_acks)
{
	struct tcp_script *s = established(0, 65535);

	tcp_script_send(s, pattern, 3000);
	tcp_script_out(s, ".", 1, 1, 65535, "", pattern, 1460);
	tcp_script_out(s, ".", 1461, 1, 65535, "", pattern + 1460, 1460);
	tcp_script_out(s, "P.", 2921, 1, 65535, "", pattern + 2920, 80);
	tcp_script_none(s);
	cr_assert_eq(s->user.out_acked, 0);
	tcp_script_in(s, ".", 1, 1461, 65535, NULL, NULL, 0);
	cr_assert_eq(s->user.out_acked, 1460);
	tcp_script_in(s, ".", 1, 3001, 65535, NULL, NULL, 0);
	cr_assert_eq(s->user.out_acked, 3000);
	tcp_script_none(s);
	/* Nothing outstanding: no retransmission later. */
	tcp_script_at(s, s->now + 5000000);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_data, window_shrinks_while_the_user_stops_reading_and_reopens_rfc9293_3_8_6_2_2)
{
	struct tcp_script *s = established(4000, 65535);

	s->user.consume = false;
	tcp_script_in(s, ".", 1, 1, 65535, NULL, pattern, 1000);
	tcp_script_in(s, ".", 1001, 1, 65535, NULL, pattern + 1000, 1000);
	/* Both kept: the window is what is left of rcv_buf. */
	tcp_script_out(s, ".", 1, 2001, 2000, "", NULL, 0);
	cr_assert_eq(s->user.recv_calls, 1, "nothing more is offered while input waits");
	tcp_script_in(s, ".", 2001, 1, 65535, NULL, pattern + 2000, 1000);
	tcp_script_in(s, ".", 3001, 1, 65535, NULL, pattern + 3000, 1000);
	tcp_script_out(s, ".", 1, 4001, 0, "", NULL, 0);
	/* Past the window: not acceptable, ACKed and dropped (3.10.7.4). */
	tcp_script_in(s, ".", 4001, 1, 65535, NULL, pattern + 4000, 1000);
	tcp_script_out(s, ".", 1, 4001, 0, "", NULL, 0);
	cr_assert_eq(s->user.in_len, 0);

	tcp_script_resume(s);
	cr_assert_eq(s->user.in_len, 4000);
	cr_assert_arr_eq(s->user.in, pattern, 4000);
	/* The window opened by more than an MSS: a window update. */
	tcp_script_out(s, ".", 1, 4001, 4000, "", NULL, 0);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_data, a_partial_read_keeps_the_rest_and_small_openings_wait_rfc9293_3_8_6_2_2)
{
	struct tcp_script *s = established(4000, 65535);

	s->user.consume_max = 300;
	tcp_script_in(s, ".", 1, 1, 65535, NULL, pattern, 1000);
	cr_assert_eq(s->user.in_len, 300);
	tcp_script_in(s, ".", 1001, 1, 65535, NULL, pattern + 1000, 1000);
	/* 1700 bytes kept; 300 were read, too few to move the right edge (SWS). */
	tcp_script_out(s, ".", 1, 2001, 2000, "", NULL, 0);
	/* Reading 300 more opens the window by less than an MSS: no update. */
	tcp_script_resume(s);
	cr_assert_eq(s->user.in_len, 600);
	tcp_script_none(s);
	s->user.consume_max = 0;
	tcp_script_resume(s);
	cr_assert_eq(s->user.in_len, 2000);
	cr_assert_arr_eq(s->user.in, pattern, 2000);
	tcp_script_out(s, ".", 1, 2001, 4000, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_data, out_of_order_segments_wait_and_are_acked_at_once_rfc5681_4_2)
{
	struct tcp_script *s = established(0, 65535);
	const struct tcp_stats *st;

	tcp_script_in(s, ".", 1001, 1, 65535, NULL, pattern + 1000, 1000);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	tcp_script_in(s, ".", 3001, 1, 65535, NULL, pattern + 3000, 500);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	cr_assert_eq(s->user.in_len, 0);
	/* The gap fills: everything in order up to the next hole, ACKed at once. */
	tcp_script_in(s, ".", 1, 1, 65535, NULL, pattern, 1000);
	tcp_script_out(s, ".", 1, 2001, 65535, "", NULL, 0);
	cr_assert_eq(s->user.in_len, 2000);
	tcp_script_in(s, ".", 2001, 1, 65535, NULL, pattern + 2000, 1000);
	tcp_script_out(s, ".", 1, 3501, 65535, "", NULL, 0);
	cr_assert_eq(s->user.in_len, 3500);
	cr_assert_arr_eq(s->user.in, pattern, 3500);
	st = tcp_stack_stats(s->ts);
	cr_assert_eq(st->out_of_order, 2);
	tcp_script_free(s);
}

Test(tcp_data, duplicate_and_overlapping_segments_are_trimmed_rfc9293_3_10_7_4)
{
	struct tcp_script *s = established(0, 65535);

	tcp_script_in(s, ".", 1, 1, 65535, NULL, pattern, 1000);
	tcp_script_in(s, ".", 1, 1, 65535, NULL, pattern, 1000);
	/* All old: the second is ACKed at once and not delivered again. */
	tcp_script_out(s, ".", 1, 1001, 64535, "", NULL, 0);
	cr_assert_eq(s->user.in_len, 1000);
	/* Half old, half new: only the new half goes to the user. */
	tcp_script_in(s, ".", 501, 1, 65535, NULL, pattern + 500, 1000);
	cr_assert_eq(s->user.in_len, 1500);
	cr_assert_arr_eq(s->user.in, pattern, 1500);
	cr_assert_geq(tcp_stack_stats(s->ts)->dup_segs, 2);
	tcp_script_free(s);
}

Test(tcp_data, out_of_order_list_is_bounded_and_counted)
{
	struct tcp_script *s = tcp_script_new();

	fill_pattern();
	s->p.ooo_max = 2;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	tcp_script_in(s, ".", 1001, 1, 65535, NULL, pattern + 1000, 100);
	tcp_script_in(s, ".", 2001, 1, 65535, NULL, pattern + 2000, 100);
	tcp_script_in(s, ".", 3001, 1, 65535, NULL, pattern + 3000, 100);
	cr_assert_eq(tcp_stack_stats(s->ts)->ooo_dropped, 1);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_data, zero_window_is_probed_with_backoff_and_reopens_rfc1122_4_2_2_17)
{
	struct tcp_script *s = established(0, 1000);
	uint64_t t0;

	tcp_script_send(s, pattern, 3000);
	tcp_script_out(s, ".", 1, 1, 65535, "", pattern, 1000);
	tcp_script_none(s);
	/* The peer takes it but its window is shut. */
	tcp_script_in(s, ".", 1, 1001, 0, NULL, NULL, 0);
	tcp_script_none(s);
	t0 = s->now;
	/* RTO is rto_min (RTT samples of 0): probes at +200 ms, then +400 ms. */
	tcp_script_at(s, t0 + 200000 - 1);
	tcp_script_none(s);
	tcp_script_at(s, t0 + 200000);
	tcp_script_out(s, ".", 1001, 1, 65535, "", pattern + 1000, 1);
	tcp_script_in(s, ".", 1, 1001, 0, NULL, NULL, 0);
	tcp_script_at(s, t0 + 600000 - 1);
	tcp_script_none(s);
	tcp_script_at(s, t0 + 600000);
	tcp_script_out(s, ".", 1001, 1, 65535, "", pattern + 1000, 1);
	cr_assert_eq(tcp_stack_stats(s->ts)->zero_window_probes, 2);
	/* The window opens: the rest goes at once. */
	tcp_script_in(s, ".", 1, 1001, 8000, NULL, NULL, 0);
	tcp_script_out(s, ".", 1001, 1, 65535, "", pattern + 1000, 1460);
	tcp_script_out(s, "P.", 2461, 1, 65535, "", pattern + 2460, 540);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_data, timestamps_are_echoed_on_data_rfc7323_3_2)
{
	struct tcp_script *s = tcp_script_new();
	char o[64];

	fill_pattern();
	tcp_script_start(s);
	tcp_script_handshake(s, 512);
	s->now += 5000;
	tcp_script_in(s, "P.", 1, 1, 512, "ts 200 1000000", pattern, 10);
	tcp_script_send(s, "ok", 2);
	/* Our window is scaled by 1 now: (65535 - 10) >> 1, the edge unmoved. */
	snprintf(o, sizeof(o), "ts %u 200", tcp_script_tsval(s));
	tcp_script_out(s, "P.", 1, 11, 32762, o, "ok", 2);
	tcp_script_free(s);
}

Test(tcp_data, a_window_too_small_to_use_is_overridden_by_the_persist_timer_rfc9293_3_8_6_2_1)
{
	struct tcp_script *s = established(0, 65535);

	/* The peer offered 65535 in its SYN, now only 100: sender SWS avoidance waits... */
	tcp_script_in(s, ".", 1, 1, 100, NULL, NULL, 0);
	tcp_script_send(s, pattern, 3000);
	tcp_script_none(s);
	/* ...but not for ever: at the override timeout what fits goes. */
	tcp_script_at(s, s->now + 200000);
	tcp_script_out(s, ".", 1, 1, 65535, "", pattern, 100);
	tcp_script_in(s, ".", 1, 101, 4000, NULL, NULL, 0);
	tcp_script_out(s, ".", 101, 1, 65535, "", pattern + 100, 1460);
	tcp_script_out(s, "P.", 1561, 1, 65535, "", pattern + 1560, 1440);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_data, payload_spans_with_a_ref_are_attached_not_copied_and_released)
{
	struct tcp_script *s = tcp_script_new();
	uint64_t t0;

	fill_pattern();
	s->p.tx_chains = true;
	s->user.span_ref = true;
	s->user.span_max = 1000;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	/* 1000 + 460 of the first segment are long enough to attach, the second's 540
	 * bytes too; the bytes on the wire are the same either way. */
	tcp_script_send(s, pattern, 2000);
	{
		struct tcp_script_seg a = tcp_script_out(s, ".", 1, 1, 65535, "", pattern, 1460);
		struct tcp_script_seg b = tcp_script_out(s, "P.", 1461, 1, 65535, "", pattern + 1460, 540);

		if (rte_eal_iova_mode() != RTE_IOVA_VA)
			cr_skip_test("IOVA as PA: spans are copied");
		cr_assert_eq(a.ext_segs, 2);
		cr_assert_eq(b.ext_segs, 1);
	}
	cr_assert_eq(s->user.holds, 3);
	cr_assert_eq(s->user.releases, 3, "the mbufs are gone, so are the refs");
	/* A retransmission attaches the same bytes again. */
	t0 = s->now;
	tcp_script_in(s, ".", 1, 1461, 65535, NULL, NULL, 0);
	tcp_script_at(s, t0 + 200000);
	tcp_script_out(s, "P.", 1461, 1, 65535, "", pattern + 1460, 540);
	cr_assert_eq(s->user.holds, 4);
	/* Short pieces and spans without a ref are copied. */
	s->user.span_ref = false;
	tcp_script_in(s, ".", 1, 2001, 65535, NULL, NULL, 0);
	tcp_script_send(s, pattern, 600);
	cr_assert_eq(tcp_script_out(s, "P.", 2001, 1, 65535, "", pattern, 600).ext_segs, 0);
	tcp_script_free(s);
}

Test(tcp_data, acks_count_every_byte_when_snd_una_wraps_onto_the_isn)
{
	struct tcp_script *s = established(0, 65535);

	/* After 2^32 - 1 bytes snd_una is the ISN again (RFC 9293 3.4: sequence numbers
	 * wrap); simulated by moving the recorded ISN there. Only the ACK of our SYN
	 * may count one sequence number that is not data. */
	s->user.t->iss = s->user.t->snd_una;
	tcp_script_send(s, pattern, 10);
	tcp_script_out(s, "P.", 1, 1, 65535, "", pattern, 10);
	tcp_script_in(s, ".", 1, 11, 65535, NULL, NULL, 0);
	cr_assert_eq(s->user.out_acked, 10);
	tcp_script_free(s);
}

Test(tcp_data, tiny_segments_kept_for_a_paused_user_share_mbufs)
{
	struct tcp_script *s = established(0, 65535);
	struct tcp_script_seg g;

	s->user.consume = false;
	for (uint32_t i = 0; i < 200; i++)
		tcp_script_in(s, ".", 1 + i, 1, 65535, NULL, pattern + i, 1);
	while (tcp_script_pop(s, &g))
		;
	/* 200 bytes kept: copied together, not 200 mbufs of 2 KB each held. */
	cr_assert_leq(rte_mempool_in_use_count(s->pool), 2, "%u mbufs held",
		      rte_mempool_in_use_count(s->pool));
	tcp_script_resume(s);
	cr_assert_eq(s->user.in_len, 200);
	cr_assert_arr_eq(s->user.in, pattern, 200);
	tcp_script_free(s);
}

Test(tcp_data, an_old_timestamp_is_rejected_by_paws_rfc7323_5_3)
{
	struct tcp_script *s = tcp_script_new();
	char o[64];

	fill_pattern();
	tcp_script_start(s);
	tcp_script_handshake(s, 512);
	snprintf(o, sizeof(o), "ts 500 %u", tcp_script_tsval(s));
	tcp_script_in(s, "P.", 1, 1, 512, o, pattern, 10);
	cr_assert_eq(s->user.in_len, 10);
	/* The next bytes, but stamped before TS.Recent: an old duplicate. */
	snprintf(o, sizeof(o), "ts 400 %u", tcp_script_tsval(s));
	tcp_script_in(s, "P.", 11, 1, 512, o, pattern + 10, 10);
	cr_assert_eq(s->user.in_len, 10);
	snprintf(o, sizeof(o), "ts %u 500", tcp_script_tsval(s));
	tcp_script_out(s, ".", 1, 11, TCP_SCRIPT_ANY, o, NULL, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->paws_rejected, 1);
	/* Stamped right, they are taken. */
	snprintf(o, sizeof(o), "ts 501 %u", tcp_script_tsval(s));
	tcp_script_in(s, "P.", 11, 1, 512, o, pattern + 10, 10);
	cr_assert_eq(s->user.in_len, 20);
	tcp_script_free(s);
}
