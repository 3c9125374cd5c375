/* test_tcp_cong.c - NewReno (dataplane/net/tcp_cong.c) rule by rule. Every expected
 * number is worked out in the test from the RFC text it cites (RFC 5681, RFC 6582),
 * with SMSS = 1000 so the arithmetic reads plainly. Sequence numbers start near the
 * top of the 32-bit space in some tests so wrap-around is exercised. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "net/tcp_cong.h"

#define SMSS 1000u

static struct tcp_cong cc;

static void cong_setup(void)
{
	tcp_newreno.init(&cc, SMSS);
}

/* Puts <cc> in congestion avoidance or slow start at a chosen point, as a TCB that has
 * run for a while would have it. */
static void cong_at(uint32_t cwnd, uint32_t ssthresh)
{
	cc.cwnd = cwnd;
	cc.ssthresh = ssthresh;
}

/* Feeds <n> duplicate ACKs; returns how many asked for a retransmission. */
static int dupacks(int n, uint32_t snd_una, uint32_t snd_nxt)
{
	int rexmit = 0;

	for (int i = 0; i < n; i++)
		if (tcp_newreno.on_dupack(&cc, snd_una, snd_nxt, snd_nxt - snd_una) ==
		    TCP_CONG_RETRANSMIT)
			rexmit++;
	return rexmit;
}

TestSuite(tcp_cong, .init = cong_setup);

/* ---- RFC 5681 3.1: initial window --------------------------------------------------- */

Test(tcp_cong, initial_window_follows_equation_1)
{
	/* "If SMSS > 2190 bytes: IW = 2 * SMSS bytes ...; If (SMSS > 1095 bytes) and
	 * (SMSS <= 2190 bytes): IW = 3 * SMSS bytes ...; if SMSS <= 1095 bytes: IW = 4 *
	 * SMSS bytes". */
	static const struct {
		uint32_t mss, iw;
	} rows[] = {
		{ 536, 4 * 536 }, { 1095, 4 * 1095 }, { 1096, 3 * 1096 }, { 1460, 3 * 1460 },
		{ 2190, 3 * 2190 }, { 2191, 2 * 2191 }, { 8960, 2 * 8960 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		tcp_newreno.init(&cc, rows[i].mss);
		cr_assert_eq(cc.cwnd, rows[i].iw, "SMSS %u: IW %u, want %u", rows[i].mss,
			     cc.cwnd, rows[i].iw);
		cr_assert_eq(tcp_cong_iw(rows[i].mss), rows[i].iw);
		cr_assert_eq(cc.mss, rows[i].mss);
		/* "The initial value of ssthresh SHOULD be set arbitrarily high". */
		cr_assert_geq(cc.ssthresh, 65535u << 14, "ssthresh %u", cc.ssthresh);
		cr_assert_not(cc.in_recovery);
		cr_assert_eq(cc.dupacks, 0);
	}
}

/* ---- RFC 5681 3.1: slow start ------------------------------------------------------ */

Test(tcp_cong, slow_start_grows_by_min_of_acked_and_smss)
{
	/* Eq. 2: cwnd += min (N, SMSS), N the bytes newly acknowledged. */
	uint32_t want = 4 * SMSS;	/* IW for SMSS 1000 */

	cr_assert_eq(cc.cwnd, want);
	tcp_newreno.on_ack(&cc, 1001, SMSS, 3 * SMSS);
	want += SMSS;
	cr_assert_eq(cc.cwnd, want, "full segment: cwnd %u, want %u", cc.cwnd, want);
	/* A stretch ACK of three segments still adds one SMSS. */
	tcp_newreno.on_ack(&cc, 4001, 3 * SMSS, 2 * SMSS);
	want += SMSS;
	cr_assert_eq(cc.cwnd, want, "stretch ACK: cwnd %u, want %u", cc.cwnd, want);
	/* A partial segment adds what it acknowledged. */
	tcp_newreno.on_ack(&cc, 4501, 500, 2 * SMSS);
	want += 500;
	cr_assert_eq(cc.cwnd, want, "500 bytes: cwnd %u, want %u", cc.cwnd, want);
}

Test(tcp_cong, slow_start_doubles_cwnd_per_window_of_acks)
{
	/* One ACK per full segment: every window's worth of ACKs adds one SMSS per
	 * segment, so cwnd doubles per round trip while below ssthresh. */
	uint32_t una = 1;

	for (int rtt = 0; rtt < 4; rtt++) {
		uint32_t start = cc.cwnd, segs = start / SMSS;

		for (uint32_t i = 0; i < segs; i++) {
			una += SMSS;
			tcp_newreno.on_ack(&cc, una, SMSS, (segs - i - 1) * SMSS);
		}
		cr_assert_eq(cc.cwnd, 2 * start, "round %d: %u -> %u", rtt, start, cc.cwnd);
	}
}

/* ---- RFC 5681 3.1: congestion avoidance by byte counting -------------------------------- */

Test(tcp_cong, avoidance_adds_one_smss_per_cwnd_of_bytes_acked)
{
	/* "When the number of bytes acknowledged reaches cwnd, then cwnd can be
	 * incremented by up to SMSS bytes." cwnd = ssthresh = 10 SMSS: ten full ACKs. */
	cong_at(10 * SMSS, 10 * SMSS);
	for (int i = 1; i <= 9; i++) {
		tcp_newreno.on_ack(&cc, 1 + (uint32_t)i * SMSS, SMSS, 9 * SMSS);
		cr_assert_eq(cc.cwnd, 10 * SMSS, "grew after %d of 10 segments", i);
	}
	tcp_newreno.on_ack(&cc, 1 + 10 * SMSS, SMSS, 9 * SMSS);
	cr_assert_eq(cc.cwnd, 11 * SMSS, "cwnd %u after a window of bytes", cc.cwnd);
	/* The count starts over against the new cwnd: 11 segments for the next SMSS. */
	for (int i = 1; i <= 10; i++)
		tcp_newreno.on_ack(&cc, 1 + (10 + (uint32_t)i) * SMSS, SMSS, 9 * SMSS);
	cr_assert_eq(cc.cwnd, 11 * SMSS, "grew before 11 SMSS were acknowledged");
	tcp_newreno.on_ack(&cc, 1 + 21 * SMSS, SMSS, 9 * SMSS);
	cr_assert_eq(cc.cwnd, 12 * SMSS);
}

Test(tcp_cong, avoidance_counts_bytes_not_acks)
{
	/* Byte counting: delayed ACKs (two segments each) grow cwnd as fast as one ACK
	 * per segment would. At cwnd 10 SMSS the first increment comes after 10 SMSS
	 * acked, the next after 11 more: at 21 SMSS, reached by the ACK that brings the
	 * count to 22. */
	cong_at(10 * SMSS, 5 * SMSS);
	for (int i = 1; i <= 5; i++)
		tcp_newreno.on_ack(&cc, 1 + (uint32_t)i * 2 * SMSS, 2 * SMSS, 8 * SMSS);
	cr_assert_eq(cc.cwnd, 11 * SMSS);
	for (int i = 6; i <= 10; i++)
		tcp_newreno.on_ack(&cc, 1 + (uint32_t)i * 2 * SMSS, 2 * SMSS, 8 * SMSS);
	/* 20 SMSS acked: 10 went to the first increment, 10 < 11 counted since. */
	cr_assert_eq(cc.cwnd, 11 * SMSS);
	tcp_newreno.on_ack(&cc, 1 + 22 * SMSS, 2 * SMSS, 8 * SMSS);
	cr_assert_eq(cc.cwnd, 12 * SMSS);
}

Test(tcp_cong, cwnd_saturates_instead_of_wrapping)
{
	cong_at(TCP_CONG_CWND_MAX - 10, TCP_CONG_CWND_MAX);
	tcp_newreno.on_ack(&cc, 1 + SMSS, SMSS, 0);
	cr_assert_eq(cc.cwnd, TCP_CONG_CWND_MAX);
	tcp_newreno.on_ack(&cc, 1 + 2 * SMSS, SMSS, 0);
	cr_assert_eq(cc.cwnd, TCP_CONG_CWND_MAX);
}

/* ---- RFC 5681 3.2: fast retransmit ------------------------------------------------ */

Test(tcp_cong, third_dupack_retransmits_halves_flight_and_inflates)
{
	/* 20 segments outstanding from una; wraps the sequence space. */
	uint32_t una = UINT32_MAX - 5 * SMSS, nxt = una + 20 * SMSS;

	cong_at(20 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(2, una, nxt), 0, "retransmitted before the third dup ACK");
	cr_assert_eq(cc.cwnd, 20 * SMSS, "the first two dup ACKs changed cwnd");
	cr_assert_eq(dupacks(1, una, nxt), 1, "no fast retransmit on the third dup ACK");
	/* Step 2: ssthresh = max (FlightSize / 2, 2*SMSS) = max(10000, 2000). */
	cr_assert_eq(cc.ssthresh, 10 * SMSS);
	/* Step 3: cwnd = ssthresh + 3*SMSS. */
	cr_assert_eq(cc.cwnd, 13 * SMSS);
	cr_assert(cc.in_recovery);
	/* Step 4: each further dup ACK adds SMSS, no further retransmission. */
	cr_assert_eq(dupacks(4, una, nxt), 0, "a fourth dup ACK retransmitted again");
	cr_assert_eq(cc.cwnd, 17 * SMSS);
}

Test(tcp_cong, ssthresh_is_at_least_two_segments)
{
	/* FlightSize 3 SMSS: max(1500, 2000) = 2 SMSS; cwnd = 2 SMSS + 3 SMSS. */
	uint32_t una = 5001, nxt = una + 3 * SMSS;

	cong_at(3 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(3, una, nxt), 1);
	cr_assert_eq(cc.ssthresh, 2 * SMSS);
	cr_assert_eq(cc.cwnd, 5 * SMSS);
}

Test(tcp_cong, an_ack_of_new_data_resets_the_dupack_count)
{
	uint32_t una = 5001, nxt = una + 10 * SMSS;

	cong_at(10 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(2, una, nxt), 0);
	una += SMSS;
	tcp_newreno.on_ack(&cc, una, SMSS, nxt - una);
	cr_assert_eq(dupacks(2, una, nxt), 0, "two old and two new dup ACKs made three");
	cr_assert_not(cc.in_recovery);
	cr_assert_eq(dupacks(1, una, nxt), 1);
}

/* ---- RFC 6582 3.2: NewReno recovery ------------------------------------------------- */

Test(tcp_cong, full_ack_exits_recovery_with_deflated_window)
{
	/* Step 3, full acknowledgment: "Set cwnd to either (1) min (ssthresh,
	 * max(FlightSize, SMSS) + SMSS) or (2) ssthresh" - we take (1). */
	uint32_t una = 1, nxt = una + 20 * SMSS;

	cong_at(20 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(3, una, nxt), 1);
	cr_assert_eq(cc.recover, nxt - 1, "recover: the highest sequence number sent");
	/* Everything up to and including recover acknowledged, nothing else in flight:
	 * min(10000, max(0, 1000) + 1000) = 2000. */
	cr_assert_eq(tcp_newreno.on_ack(&cc, nxt, nxt - una, 0), TCP_CONG_NONE);
	cr_assert_not(cc.in_recovery);
	cr_assert_eq(cc.cwnd, 2 * SMSS);
	cr_assert_eq(cc.ssthresh, 10 * SMSS);
}

Test(tcp_cong, full_ack_with_data_sent_during_recovery_is_capped_at_ssthresh)
{
	uint32_t una = 1, nxt = una + 20 * SMSS;

	cong_at(20 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(3, una, nxt), 1);
	/* Inflated by further dup ACKs the TCB sent 4 new segments: FlightSize after the
	 * full ACK is 4 SMSS, min(10000, 4000 + 1000) = 5000. */
	cr_assert_eq(tcp_newreno.on_ack(&cc, nxt, nxt - una, 4 * SMSS), TCP_CONG_NONE);
	cr_assert_eq(cc.cwnd, 5 * SMSS);
	/* Same with 12 segments outstanding: min(10000, 13000) = ssthresh. */
	tcp_newreno.init(&cc, SMSS);
	cong_at(20 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(3, una, nxt), 1);
	tcp_newreno.on_ack(&cc, nxt, nxt - una, 12 * SMSS);
	cr_assert_eq(cc.cwnd, 10 * SMSS);
	cr_assert_not(cc.in_recovery);
}

Test(tcp_cong, partial_ack_retransmits_deflates_and_stays_in_recovery)
{
	/* Step 3, partial acknowledgment: "retransmit the first unacknowledged segment.
	 * Deflate the congestion window by the amount of new data acknowledged ... If
	 * the partial ACK acknowledges at least one SMSS of new data, then add back SMSS
	 * bytes ... Do not exit the fast recovery procedure". */
	uint32_t una = UINT32_MAX - 2 * SMSS, nxt = una + 20 * SMSS;

	cong_at(20 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(4, una, nxt), 1);
	cr_assert_eq(cc.cwnd, 14 * SMSS);	/* 10 + 3 + 1 */
	/* Two segments acknowledged: 14000 - 2000 + 1000. */
	una += 2 * SMSS;
	cr_assert_eq(tcp_newreno.on_ack(&cc, una, 2 * SMSS, nxt - una), TCP_CONG_RETRANSMIT);
	cr_assert_eq(cc.cwnd, 13 * SMSS);
	cr_assert(cc.in_recovery);
	/* Half a segment acknowledged: no add-back, 13000 - 500. */
	una += 500;
	cr_assert_eq(tcp_newreno.on_ack(&cc, una, 500, nxt - una), TCP_CONG_RETRANSMIT);
	cr_assert_eq(cc.cwnd, 13 * SMSS - 500);
	cr_assert(cc.in_recovery);
	/* Dup ACKs after a partial ACK still inflate (step 4 of RFC 5681 3.2). */
	cr_assert_eq(dupacks(2, una, nxt), 0);
	cr_assert_eq(cc.cwnd, 15 * SMSS - 500);
	/* The ACK that covers recover ends it. */
	cr_assert_eq(tcp_newreno.on_ack(&cc, nxt, nxt - una, 0), TCP_CONG_NONE);
	cr_assert_not(cc.in_recovery);
	cr_assert_eq(cc.cwnd, 2 * SMSS);
	cr_assert_eq(cc.ssthresh, 10 * SMSS, "ssthresh changed during recovery");
}

Test(tcp_cong, ack_of_recover_itself_is_still_partial)
{
	/* "acknowledges all of the data up to and including recover": an ACK equal to
	 * recover leaves the byte at recover unacknowledged. */
	uint32_t una = 1, nxt = una + 10 * SMSS;

	cong_at(10 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(3, una, nxt), 1);
	cr_assert_eq(tcp_newreno.on_ack(&cc, nxt - 1, nxt - 1 - una, 1), TCP_CONG_RETRANSMIT);
	cr_assert(cc.in_recovery);
	cr_assert_eq(tcp_newreno.on_ack(&cc, nxt, 1, 0), TCP_CONG_NONE);
	cr_assert_not(cc.in_recovery);
}

Test(tcp_cong, recover_blocks_a_second_fast_retransmit_for_the_same_loss)
{
	/* Step 2: "If the Cumulative Acknowledgment field didn't cover more than recover"
	 * the TCP "does not enter fast retransmit and does not reset ssthresh". After an
	 * RTO (step 5 records recover) the go-back-N resends produce dup ACKs for data
	 * below recover: they must not halve ssthresh again. */
	uint32_t una = 1, nxt = una + 20 * SMSS;

	cong_at(20 * SMSS, TCP_CONG_CWND_MAX);
	tcp_newreno.on_rto(&cc, nxt, nxt - una);
	cr_assert_eq(cc.ssthresh, 10 * SMSS);
	cr_assert_eq(cc.recover, nxt - 1);
	una += 3 * SMSS;
	tcp_newreno.on_ack(&cc, una, 3 * SMSS, nxt - una);
	cr_assert_eq(dupacks(3, una, nxt), 0, "fast retransmit below recover");
	cr_assert_eq(cc.ssthresh, 10 * SMSS, "ssthresh reset below recover");
	cr_assert_not(cc.in_recovery);
	/* Past recover a new loss is a new episode: max(5000 / 2, 2000) = 2500. */
	una = nxt;
	tcp_newreno.on_ack(&cc, una, nxt - una, 0);
	nxt = una + 5 * SMSS;
	cr_assert_eq(dupacks(3, una, nxt), 1, "no fast retransmit above recover");
	cr_assert_eq(cc.ssthresh, 2500);
	cr_assert(cc.in_recovery);
}

Test(tcp_cong, dupacks_after_recovery_below_recover_do_not_retransmit)
{
	/* Recovery ended by a full ACK; stale dup ACKs for the same loss that arrive
	 * later (reordered in the network) carry an ACK at or below recover. */
	uint32_t una = 1, nxt = una + 10 * SMSS;

	cong_at(10 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(3, una, nxt), 1);
	tcp_newreno.on_ack(&cc, nxt, nxt - una, 0);
	cr_assert_eq(dupacks(3, una, nxt), 0, "a stale dup ACK started a second recovery");
	cr_assert_eq(cc.ssthresh, 5 * SMSS);
}

/* ---- RFC 5681 3.1: retransmission timeout --------------------------------------------- */

Test(tcp_cong, rto_sets_loss_window_and_ssthresh)
{
	/* "cwnd MUST be set to no more than the loss window, LW, which equals 1
	 * full-sized segment"; ssthresh = max (FlightSize / 2, 2*SMSS) (eq. 4). */
	uint32_t una = 1, nxt = una + 16 * SMSS;

	cong_at(16 * SMSS, TCP_CONG_CWND_MAX);
	tcp_newreno.on_rto(&cc, nxt, nxt - una);
	cr_assert_eq(cc.cwnd, SMSS);
	cr_assert_eq(cc.ssthresh, 8 * SMSS);
	/* Then slow start back up to ssthresh: 1 -> 2 -> 4 -> 8 SMSS in three rounds. */
	for (int i = 0; i < 7; i++) {
		una += SMSS;
		tcp_newreno.on_ack(&cc, una, SMSS, nxt - una);
	}
	cr_assert_eq(cc.cwnd, 8 * SMSS);
	/* At ssthresh: congestion avoidance, no more +SMSS per ACK. */
	una += SMSS;
	tcp_newreno.on_ack(&cc, una, SMSS, nxt - una);
	cr_assert_eq(cc.cwnd, 8 * SMSS);
}

Test(tcp_cong, a_second_rto_for_the_same_segment_keeps_ssthresh)
{
	/* ssthresh changes only if "the given segment has not yet been resent by way of
	 * the retransmission timer". After the first RTO a go-back-N TCB has one segment
	 * out: eq. 4 on that would give 2 SMSS, but ssthresh must stay 8 SMSS. */
	uint32_t una = 1, nxt = una + 16 * SMSS;

	cong_at(16 * SMSS, TCP_CONG_CWND_MAX);
	tcp_newreno.on_rto(&cc, nxt, nxt - una);
	tcp_newreno.on_rto(&cc, una + SMSS, SMSS);
	cr_assert_eq(cc.ssthresh, 8 * SMSS);
	cr_assert_eq(cc.cwnd, SMSS);
	/* After an ACK of new data a later timeout is a new loss: max(2000/2, 2000). */
	tcp_newreno.on_ack(&cc, una + SMSS, SMSS, SMSS);
	tcp_newreno.on_rto(&cc, una + 3 * SMSS, 2 * SMSS);
	cr_assert_eq(cc.ssthresh, 2 * SMSS);
}

Test(tcp_cong, rto_during_recovery_leaves_it)
{
	/* RFC 6582 3.2 step 5: "exit the fast recovery procedure if applicable". */
	uint32_t una = 1, nxt = una + 20 * SMSS;

	cong_at(20 * SMSS, TCP_CONG_CWND_MAX);
	cr_assert_eq(dupacks(3, una, nxt), 1);
	tcp_newreno.on_rto(&cc, nxt + 2 * SMSS, nxt + 2 * SMSS - una);
	cr_assert_not(cc.in_recovery);
	cr_assert_eq(cc.cwnd, SMSS);
	cr_assert_eq(cc.recover, nxt + 2 * SMSS - 1);
	/* The next ACK of new data is slow start, not a partial ACK. */
	cr_assert_eq(tcp_newreno.on_ack(&cc, una + SMSS, SMSS, nxt - una), TCP_CONG_NONE);
	cr_assert_eq(cc.cwnd, 2 * SMSS);
}

/* ---- RFC 5681 4.1: restart after idle ------------------------------------------------ */

Test(tcp_cong, idle_restart_uses_min_of_iw_and_cwnd)
{
	/* "cwnd is reduced to no more than RW before transmission begins", RW = min (IW,
	 * cwnd); IW = 4 SMSS here. */
	cong_at(30 * SMSS, 12 * SMSS);
	tcp_newreno.on_idle(&cc);
	cr_assert_eq(cc.cwnd, 4 * SMSS);
	cr_assert_eq(cc.ssthresh, 12 * SMSS, "idle restart changed ssthresh");
	cong_at(2 * SMSS, 12 * SMSS);
	tcp_newreno.on_idle(&cc);
	cr_assert_eq(cc.cwnd, 2 * SMSS, "idle restart grew cwnd");
}
