/* test_tcp_rto.c - retransmission timing (RFC 6298): the RTO from RTT samples
 * (2.2-2.3), timestamps as samples (RFC 7323 4), the exponential backoff capped at
 * rto_max (5.5), Karn's rule (3: no sample from a retransmitted segment, the backed-off
 * RTO kept), and the connection dropped after max_retries with gone(-ETIMEDOUT).
 * Times are exact: the clock is the script's. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>

#include "tcp_script.h"

static struct tcp_script *established(uint32_t rto_max, uint32_t retries)
{
	struct tcp_script *s = tcp_script_new();

	s->p.rto_max_us = rto_max;
	s->p.max_retries = retries;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	return s;
}

Test(tcp_rto, rto_doubles_is_capped_and_gives_up_after_max_retries_rfc6298_5_5)
{
	struct tcp_script *s = established(1000000, 5);
	/* The handshake's RTT sample was 0: RTO = rto_min = 200 ms. */
	const uint64_t waits[] = { 200000, 400000, 800000, 1000000, 1000000 };
	uint64_t at;

	tcp_script_send(s, "data", 4);
	tcp_script_out(s, "P.", 1, 1, 65535, "", "data", 4);
	cr_assert_eq(tcp_next_timer_us(s->ts, s->now), 200000);
	at = s->now;
	for (unsigned i = 0; i < 5; i++) {
		tcp_script_at(s, at + waits[i] - 1);
		tcp_script_none(s);
		at += waits[i];
		tcp_script_at(s, at);
		tcp_script_out(s, "P.", 1, 1, 65535, "", "data", 4);
	}
	cr_assert_eq(tcp_stack_stats(s->ts)->rto_timeouts, 5);
	cr_assert_eq(s->user.gone, 0);
	tcp_script_at(s, at + 1000000);
	tcp_script_none(s);
	cr_assert_eq(s->user.gone, 1);
	cr_assert_eq(s->user.gone_err, -ETIMEDOUT);
	cr_assert_eq(tcp_stack_stats(s->ts)->conns_timeout, 1);
	tcp_script_free(s);
}

Test(tcp_rto, rtt_samples_set_the_rto_rfc6298_2_2_and_2_3)
{
	struct tcp_script *s = tcp_script_new();
	uint64_t at;

	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 65535, "mss 1460", NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	/* First sample R = 300 ms (the SYN-ACK): SRTT 300, RTTVAR 150, RTO 900 ms. */
	s->now += 300000;
	tcp_script_in(s, ".", 1, 1, 65535, NULL, NULL, 0);
	tcp_script_send(s, "a", 1);
	tcp_script_out(s, "P.", 1, 1, 65535, "", "a", 1);
	at = s->now;
	tcp_script_at(s, at + 900000 - 1);
	tcp_script_none(s);
	tcp_script_at(s, at + 900000);
	tcp_script_out(s, "P.", 1, 1, 65535, "", "a", 1);
	/* That one was resent (Karn: no sample). The next, acked after 100 ms:
	 * RTTVAR = 3/4 150 + 1/4 |300 - 100| = 162.5, SRTT = 7/8 300 + 1/8 100 = 275,
	 * RTO = 275 + 4 * 162.5 = 925 ms. */
	tcp_script_in(s, ".", 1, 2, 65535, NULL, NULL, 0);
	tcp_script_send(s, "b", 1);
	tcp_script_out(s, "P.", 2, 1, 65535, "", "b", 1);
	s->now += 100000;
	tcp_script_in(s, ".", 1, 3, 65535, NULL, NULL, 0);
	tcp_script_send(s, "c", 1);
	tcp_script_out(s, "P.", 3, 1, 65535, "", "c", 1);
	at = s->now;
	tcp_script_at(s, at + 925000 - 1);
	tcp_script_none(s);
	tcp_script_at(s, at + 925000);
	tcp_script_out(s, "P.", 3, 1, 65535, "", "c", 1);
	tcp_script_free(s);
}

Test(tcp_rto, karn_no_sample_from_a_retransmission_backoff_kept_rfc6298_3)
{
	struct tcp_script *s = established(60000000, 12);
	uint64_t at;

	tcp_script_send(s, "a", 1);
	tcp_script_out(s, "P.", 1, 1, 65535, "", "a", 1);
	tcp_script_at(s, s->now + 200000);
	tcp_script_out(s, "P.", 1, 1, 65535, "", "a", 1);
	/* The ACK is ambiguous: no sample, the RTO stays backed off (400 ms). */
	s->now += 10000;
	tcp_script_in(s, ".", 1, 2, 65535, NULL, NULL, 0);
	tcp_script_send(s, "b", 1);
	tcp_script_out(s, "P.", 2, 1, 65535, "", "b", 1);
	at = s->now;
	tcp_script_at(s, at + 400000 - 1);
	tcp_script_none(s);
	tcp_script_at(s, at + 400000);
	tcp_script_out(s, "P.", 2, 1, 65535, "", "b", 1);
	tcp_script_free(s);
}

Test(tcp_rto, timestamps_give_the_sample_rfc7323_4_1)
{
	struct tcp_script *s = tcp_script_new();
	struct tcp_script_seg synack;
	char o[64];
	uint64_t at;

	tcp_script_start(s);
	tcp_script_in(s, "S", 0, 0, 65535, "mss 1460,ts 100 0,nop,ws 7", NULL, 0);
	synack = tcp_script_out(s, "S.", 0, 1, 65535, NULL, NULL, 0);
	/* The echo of our TSval 500 ms later: SRTT 500, RTO = 500 + 4 * 250 = 1.5 s. */
	s->now += 500000;
	snprintf(o, sizeof(o), "ts 300 %u", synack.tsval);
	tcp_script_in(s, ".", 1, 1, 512, o, NULL, 0);
	tcp_script_send(s, "b", 1);
	tcp_script_out(s, "P.", 1, 1, TCP_SCRIPT_ANY, NULL, "b", 1);
	at = s->now;
	tcp_script_at(s, at + 1500000 - 1);
	tcp_script_none(s);
	tcp_script_at(s, at + 1500000);
	tcp_script_out(s, "P.", 1, 1, TCP_SCRIPT_ANY, NULL, "b", 1);
	tcp_script_free(s);
}

Test(tcp_rto, retransmission_resends_from_snd_una_rfc9293_3_8_1)
{
	struct tcp_script *s = established(60000000, 12);
	uint8_t buf[3000];

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	tcp_script_send(s, buf, sizeof(buf));
	tcp_script_out(s, ".", 1, 1, 65535, "", buf, 1460);
	tcp_script_out(s, ".", 1461, 1, 65535, "", buf + 1460, 1460);
	tcp_script_out(s, "P.", 2921, 1, 65535, "", buf + 2920, 80);
	/* The first segment arrived, the rest did not. */
	tcp_script_in(s, ".", 1, 1461, 65535, NULL, NULL, 0);
	tcp_script_at(s, s->now + 200000);
	tcp_script_out(s, ".", 1461, 1, 65535, "", buf + 1460, 1460);
	cr_assert_geq(tcp_stack_stats(s->ts)->retransmits, 1);
	tcp_script_free(s);
}
