/* test_tcp_recovery.c - congestion control as the wire shows it (NewReno,
 * tcp_cong.c): the initial window (RFC 5681 3.1), slow start, fast retransmit after
 * three duplicate ACKs (RFC 5681 3.2) and NewReno's retransmission on a partial ACK
 * (RFC 6582 3.2), and after an RTO one segment at a time (RFC 5681 3.1 loss window).
 * Driven by tcp_script.h; MSS 1460, so IW = 3 segments. */
#include <criterion/criterion.h>

#include "tcp_script.h"

static uint8_t buf[20 * 1460];

static struct tcp_script *established(void)
{
	struct tcp_script *s = tcp_script_new();

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i / 1460 + i);
	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	return s;
}

#define SEG(n) (1 + (n) * 1460)   /* relative seq of our n-th segment */

/* Sends 7 segments' worth past IW: 3, then 2 per ACK in slow start. Leaves
 * segments 2..6 outstanding (snd_una = SEG(2)). */
static void fill_pipe(struct tcp_script *s)
{
	tcp_script_send(s, buf, 14 * 1460);
	for (int i = 0; i < 3; i++)
		tcp_script_out(s, ".", SEG(i), 1, 65535, "", buf + i * 1460, 1460);
	tcp_script_none(s);
	tcp_script_in(s, ".", 1, SEG(1), 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", SEG(3), 1, 65535, "", NULL, 1460);
	tcp_script_out(s, ".", SEG(4), 1, 65535, "", NULL, 1460);
	tcp_script_none(s);
	tcp_script_in(s, ".", 1, SEG(2), 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", SEG(5), 1, 65535, "", NULL, 1460);
	tcp_script_out(s, ".", SEG(6), 1, 65535, "", NULL, 1460);
	tcp_script_none(s);
}

Test(tcp_recovery, initial_window_and_slow_start_rfc5681_3_1)
{
	struct tcp_script *s = established();

	fill_pipe(s);
	tcp_script_free(s);
}

Test(tcp_recovery, fast_retransmit_after_three_dup_acks_rfc5681_3_2)
{
	struct tcp_script *s = established();

	fill_pipe(s);
	/* Segment 2 was lost; 3, 4 and 5 arrive and each brings a duplicate ACK. */
	tcp_script_in(s, ".", 1, SEG(2), 65535, NULL, NULL, 0);
	tcp_script_in(s, ".", 1, SEG(2), 65535, NULL, NULL, 0);
	tcp_script_none(s);
	tcp_script_in(s, ".", 1, SEG(2), 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", SEG(2), 1, 65535, "", buf + 2 * 1460, 1460);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->fast_retransmits, 1);
	/* The 4th duplicate inflates cwnd by one SMSS: one new segment goes. */
	tcp_script_in(s, ".", 1, SEG(2), 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", SEG(7), 1, 65535, "", buf + 7 * 1460, 1460);
	tcp_script_none(s);
	/* The full ACK ends recovery: cwnd = ssthresh, so new data continues. */
	tcp_script_in(s, ".", 1, SEG(8), 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", SEG(8), 1, 65535, "", buf + 8 * 1460, 1460);
	tcp_script_free(s);
}

Test(tcp_recovery, newreno_partial_ack_resends_the_next_hole_rfc6582_3_2)
{
	struct tcp_script *s = established();

	fill_pipe(s);
	/* Segments 2 and 4 were lost: 3, 5 and 6 bring three duplicate ACKs. */
	for (int i = 0; i < 3; i++)
		tcp_script_in(s, ".", 1, SEG(2), 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", SEG(2), 1, 65535, "", buf + 2 * 1460, 1460);
	tcp_script_none(s);
	/* The resent 2 fills up to 4: a partial ACK, 4 is resent at once. */
	tcp_script_in(s, ".", 1, SEG(4), 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", SEG(4), 1, 65535, "", buf + 4 * 1460, 1460);
	cr_assert_eq(tcp_stack_stats(s->ts)->fast_retransmits, 1);
	tcp_script_free(s);
}

Test(tcp_recovery, after_an_rto_one_segment_at_a_time_rfc5681_3_1)
{
	struct tcp_script *s = established();

	fill_pipe(s);
	/* Nothing more comes back: RTO (rto_min, RTT samples of 0). */
	tcp_script_at(s, s->now + 200000);
	tcp_script_out(s, ".", SEG(2), 1, 65535, "", buf + 2 * 1460, 1460);
	tcp_script_none(s);
	/* Its ACK: slow start from one segment, two go. */
	tcp_script_in(s, ".", 1, SEG(3), 65535, NULL, NULL, 0);
	tcp_script_out(s, ".", SEG(3), 1, 65535, "", buf + 3 * 1460, 1460);
	tcp_script_out(s, ".", SEG(4), 1, 65535, "", buf + 4 * 1460, 1460);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_recovery, idle_longer_than_an_rto_restarts_from_the_initial_window_rfc5681_4_1)
{
	struct tcp_script *s = established();

	fill_pipe(s);
	/* Everything acked, cwnd well past IW by slow start. */
	tcp_script_in(s, ".", 1, SEG(7), 65535, NULL, NULL, 0);
	for (;;) {
		struct tcp_script_seg g;
		uint32_t end = 0;

		while (tcp_script_pop(s, &g))
			end = g.seq - s->our_isn + (uint32_t)g.len;
		if (end == 0)
			break;
		tcp_script_in(s, ".", 1, end, 65535, NULL, NULL, 0);
	}
	cr_assert_eq(s->user.out_acked, 14 * 1460);
	/* Idle for 10 s (RTO is 200 ms): the next burst starts from IW = 3 segments. */
	s->now += 10000000;
	tcp_script_send(s, buf, 6 * 1460);
	for (int i = 0; i < 3; i++)
		tcp_script_out(s, ".", SEG(14 + i), 1, 65535, "", NULL, 1460);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_recovery, the_ack_of_our_syn_ack_does_not_grow_cwnd_rfc5681_3_1)
{
	struct tcp_script *s = established();

	/* IW is exactly 3 segments: a fourth byte waits for an ACK. */
	tcp_script_send(s, buf, 3 * 1460 + 1);
	for (int i = 0; i < 3; i++)
		tcp_script_out(s, ".", SEG(i), 1, 65535, "", NULL, 1460);
	tcp_script_none(s);
	tcp_script_in(s, ".", 1, SEG(1), 65535, NULL, NULL, 0);
	tcp_script_out(s, "P.", SEG(3), 1, 65535, "", NULL, 1);
	tcp_script_free(s);
}
