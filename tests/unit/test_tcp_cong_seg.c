/* test_tcp_cong_seg.c - NewReno (tcp_cong.c) seen through the real stack, segment by
 * segment (tcp_script.h): what each ACK releases in slow start and congestion
 * avoidance (RFC 5681 3.1), fast retransmit on the third duplicate ACK and window
 * inflation (3.2), NewReno partial and full ACKs (RFC 6582 3.2), the RTO's loss window
 * (RFC 5681 3.1) and the `recover` guard after it.
 *
 * The peer offers MSS 1000 without timestamps, so SMSS = 1000 and IW = 4 SMSS
 * (RFC 5681 3.1 eq. 1, SMSS <= 1095); its window (65535) never limits us, cwnd does.
 * The user has 60,000 bytes queued: every segment is a full one without PSH. */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp_script.h"

#define SMSS 1000u
#define WIN 65535

static uint8_t payload[60000];

static struct tcp_script *established(void)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, WIN, "mss 1000", NULL, 0);
	tcp_script_out(s, "S.", 0, 1, TCP_SCRIPT_ANY, "mss 1460", NULL, 0);
	tcp_script_in(s, ".", 1, 1, WIN, NULL, NULL, 0);
	cr_assert_eq(s->user.accepted, 1);
	memset(payload, 'm', sizeof(payload));
	tcp_script_send(s, payload, sizeof(payload));
	return s;
}

/* The peer acknowledges up to relative <ack> (a duplicate if it did before). */
static void ack(struct tcp_script *s, uint32_t ack)
{
	tcp_script_in(s, ".", 1, ack, WIN, NULL, NULL, 0);
}

/* We send one full segment at relative <seq>. */
static void seg(struct tcp_script *s, uint32_t seq)
{
	tcp_script_out(s, ".", seq, 1, TCP_SCRIPT_ANY, "", NULL, SMSS);
}

/* The initial window, then the first two ACKs, each releasing two segments (slow
 * start: one for the segment acknowledged, one for cwnd's growth). Leaves snd_una at
 * 2001, snd_max at 8001: six segments in flight. */
static void slow_start_two_rounds(struct tcp_script *s)
{
	for (uint32_t i = 0; i < 4; i++)
		seg(s, 1 + i * SMSS);
	tcp_script_none(s);
	ack(s, 1001);
	seg(s, 4001);
	seg(s, 5001);
	tcp_script_none(s);
	ack(s, 2001);
	seg(s, 6001);
	seg(s, 7001);
	tcp_script_none(s);
}

Test(tcp_cong_seg, slow_start_releases_two_segments_per_ack_rfc5681_3_1)
{
	struct tcp_script *s = established();

	/* IW: "If SMSS <= 1095 bytes: IW = 4 * SMSS bytes and MUST NOT be more than 4
	 * segments" - four segments, then the window is full. */
	slow_start_two_rounds(s);
	/* A stretch ACK of two segments: eq. 2 adds min(N, SMSS), so it frees two
	 * segments' room and grows cwnd by one SMSS, not two: three segments out. */
	ack(s, 4001);
	seg(s, 8001);
	seg(s, 9001);
	seg(s, 10001);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->retransmits, 0);
	tcp_script_free(s);
}

/* Slow start, then segment 2001 is lost: three duplicate ACKs of 2001. */
static void fast_retransmit(struct tcp_script *s)
{
	slow_start_two_rounds(s);
	ack(s, 2001);
	ack(s, 2001);
	/* No limited transmit (RFC 3042): the first two send nothing. */
	tcp_script_none(s);
	ack(s, 2001);
	/* RFC 5681 3.2 step 2: "retransmit the lost segment", only that one: ssthresh =
	 * max(FlightSize / 2, 2*SMSS) = 3000, cwnd = ssthresh + 3*SMSS = 6000 = the
	 * flight, so nothing new goes out. */
	seg(s, 2001);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->fast_retransmits, 1);
}

Test(tcp_cong_seg, third_dupack_retransmits_and_further_ones_inflate_rfc5681_3_2)
{
	struct tcp_script *s = established();

	fast_retransmit(s);
	/* Step 4: each further duplicate ACK adds SMSS to cwnd; step 5: send new data
	 * if cwnd allows - one segment per duplicate ACK. */
	ack(s, 2001);
	seg(s, 8001);
	tcp_script_none(s);
	ack(s, 2001);
	seg(s, 9001);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->fast_retransmits, 1,
		     "a fourth duplicate ACK retransmitted again");
	tcp_script_free(s);
}

Test(tcp_cong_seg, partial_ack_retransmits_the_next_hole_full_ack_exits_rfc6582_3_2)
{
	struct tcp_script *s = established();

	fast_retransmit(s);	/* recover = 8000, the highest byte sent */
	ack(s, 2001);
	seg(s, 8001);
	ack(s, 2001);
	seg(s, 9001);		/* cwnd 8000, snd_max 10001 */
	/* Partial ACK (4001 <= recover): 4001 was lost too. "Retransmit the first
	 * unacknowledged segment", deflate by the 2000 bytes acknowledged and add back
	 * SMSS: cwnd = 8000 - 2000 + 1000 = 7000 against 6000 in flight from 4001, so
	 * one new segment follows the retransmission. */
	ack(s, 4001);
	seg(s, 4001);
	seg(s, 10001);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->fast_retransmits, 1,
		     "a partial ACK is not a new fast retransmit");
	/* Full ACK (8001 > recover): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS)
	 * = min(3000, 3000 + 1000) = 3000, exactly the flight (8001..11001): nothing. */
	ack(s, 8001);
	tcp_script_none(s);
	/* Congestion avoidance now: one segment per ACK ... */
	ack(s, 9001);
	seg(s, 11001);
	tcp_script_none(s);
	ack(s, 10001);
	seg(s, 12001);
	tcp_script_none(s);
	/* ... until a cwnd's worth (3000 bytes) was acknowledged: cwnd 4000, two. */
	ack(s, 11001);
	seg(s, 13001);
	seg(s, 14001);
	tcp_script_none(s);
	tcp_script_free(s);
}

/* Segments 1001.. are lost; the RTO fires. Returns with cwnd = 1 SMSS and segment
 * 1001 resent. */
static void timeout(struct tcp_script *s)
{
	uint64_t due;

	for (uint32_t i = 0; i < 4; i++)
		seg(s, 1 + i * SMSS);
	ack(s, 1001);
	seg(s, 4001);
	seg(s, 5001);	/* flight 5000, snd_max 6001 */
	due = tcp_next_timer_us(s->ts, s->now);
	cr_assert_neq(due, UINT64_MAX, "no retransmission timer");
	tcp_script_at(s, s->now + due - 1);
	tcp_script_none(s);
	tcp_script_at(s, s->now + 1);
	/* RFC 5681 3.1: "cwnd MUST be set to no more than the loss window, LW, which
	 * equals 1 full-sized segment": one segment, from snd_una. */
	seg(s, 1001);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->rto_timeouts, 1);
}

Test(tcp_cong_seg, rto_collapses_cwnd_to_one_segment_then_slow_start_rfc5681_3_1)
{
	struct tcp_script *s = established();

	timeout(s);
	/* Slow start from LW: the ACK of the resent segment opens two (go-back-N from
	 * snd_una: 2001 and 3001 are resent). */
	ack(s, 2001);
	seg(s, 2001);
	seg(s, 3001);
	tcp_script_none(s);
	/* ssthresh = max(FlightSize / 2, 2*SMSS) = 2500: one more slow start step to
	 * cwnd 3000, three segments. */
	ack(s, 4001);
	seg(s, 4001);
	seg(s, 5001);
	seg(s, 6001);
	tcp_script_none(s);
	/* At 3000 >= ssthresh: avoidance, one segment per ACK. */
	ack(s, 5001);
	seg(s, 7001);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_cong_seg, dupacks_below_recover_after_an_rto_do_not_fast_retransmit_rfc6582_3_2)
{
	struct tcp_script *s = established();

	timeout(s);	/* recover = 6000 (step 5: the highest sequence number sent) */
	ack(s, 2001);
	seg(s, 2001);
	seg(s, 3001);
	/* Three duplicate ACKs of 2001 (the peer got a resent segment twice): step 2,
	 * the ACK does not cover more than recover, so no fast retransmit and no new
	 * ssthresh; cwnd (2000) is full. */
	ack(s, 2001);
	ack(s, 2001);
	ack(s, 2001);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->fast_retransmits, 0);
	/* Slow start goes on as before: ssthresh is still 2500, cwnd 2000 -> 3000. */
	ack(s, 4001);
	seg(s, 4001);
	seg(s, 5001);
	seg(s, 6001);
	tcp_script_none(s);
	tcp_script_free(s);
}
