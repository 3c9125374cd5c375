/* test_tcp_rst.c - resets and RFC 5961: RST for segments of unknown flows and a SYN
 * to a closed port (RFC 9293 3.10.7.1), a RST is never answered; in an ESTABLISHED
 * connection an in-window RST not at RCV.NXT (5961 3.2) and a SYN (5961 4.2) get a
 * challenge ACK, an ACK outside [SND.UNA - MAX.SND.WND, SND.NXT] is dropped with an
 * ACK (5961 5.2), and challenge ACKs are rate limited per stack (5961 7). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petrel/log.h"
#include "tcp_script.h"

static struct tcp_script *established(void)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	return s;
}

Test(tcp_rst, ack_for_an_unknown_flow_gets_rst_at_its_ack_rfc9293_3_10_7_1)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	s->relative = false;
	tcp_script_in(s, ".", 5000, 7000, 8192, NULL, "x", 1);
	tcp_script_out(s, "R", 7000, 0, 0, "", NULL, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->in_no_flow_rst, 1);
	tcp_script_free(s);
}

Test(tcp_rst, syn_to_a_closed_port_gets_rst_ack_rfc9293_3_10_7_1)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	s->relative = false;
	s->port = 8883; /* nobody listens */
	tcp_script_in(s, "S", 5000, 0, 8192, "mss 1460", NULL, 0);
	/* No ACK in the SYN: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
	tcp_script_out(s, "R.", 0, 5001, 0, "", NULL, 0);
	tcp_script_in(s, "P", 6000, 0, 8192, NULL, "abc", 3);
	tcp_script_out(s, "R.", 0, 6003, 0, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_rst, a_rst_is_never_answered_rfc9293_3_10_7_1)
{
	struct tcp_script *s = tcp_script_new();

	tcp_script_start(s);
	s->relative = false;
	tcp_script_in(s, "R", 5000, 0, 0, NULL, NULL, 0);
	tcp_script_in(s, "R.", 5000, 9, 0, NULL, NULL, 0);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_rst, in_window_rst_off_rcv_nxt_gets_a_challenge_ack_rfc5961_3_2)
{
	struct tcp_script *s = established();

	tcp_script_in(s, "R", 100, 0, 0, NULL, NULL, 0);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	cr_assert_eq(s->user.gone, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->challenge_acks, 1);
	/* Outside the window: dropped without a word. */
	tcp_script_in(s, "R", 100000, 0, 0, NULL, NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(s->user.gone, 0);
	/* The peer answers the challenge with a RST at RCV.NXT: that one counts. */
	tcp_script_in(s, "R", 1, 0, 0, NULL, NULL, 0);
	cr_assert_eq(s->user.gone, 1);
	cr_assert_eq(s->user.gone_err, -ECONNRESET);
	tcp_script_free(s);
}

Test(tcp_rst, syn_in_established_gets_a_challenge_ack_rfc5961_4_2)
{
	struct tcp_script *s = established();

	tcp_script_in(s, "S", 500, 0, 8192, "mss 1460", NULL, 0);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	/* Even a SYN outside the window: RFC 5961 4.2 whatever its seq... */
	tcp_script_in(s, "S", 1, 0, 8192, "mss 1460", NULL, 0);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	cr_assert_eq(s->user.gone, 0);
	/* ...and the connection still works. */
	tcp_script_in(s, "P.", 1, 1, 65535, NULL, "hi", 2);
	cr_assert_eq(s->user.in_len, 2);
	tcp_script_free(s);
}

Test(tcp_rst, ack_of_unsent_data_or_too_old_is_dropped_with_an_ack_rfc5961_5_2)
{
	struct tcp_script *s = established();

	tcp_script_in(s, "P.", 1, 100, 65535, NULL, "no", 2);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	cr_assert_eq(s->user.in_len, 0, "the data of a segment with a bad ACK is dropped");
	tcp_script_in(s, "P.", 1, (uint32_t)-200000, 65535, NULL, "no", 2);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	cr_assert_eq(s->user.in_len, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->bad_ack, 2);
	/* An old ACK inside MAX.SND.WND is just a duplicate: the data is taken. */
	tcp_script_in(s, "P.", 1, 0, 65535, NULL, "ok", 2);
	cr_assert_eq(s->user.in_len, 2);
	tcp_script_free(s);
}

Test(tcp_rst, challenge_acks_are_rate_limited_per_second_rfc5961_7)
{
	struct tcp_script *s = tcp_script_new();
	uint64_t next;

	s->p.challenge_acks_per_s = 2;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	for (int i = 0; i < 4; i++)
		tcp_script_in(s, "R", 100 + i, 0, 0, NULL, NULL, 0);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->challenge_acks, 2);
	cr_assert_eq(tcp_stack_stats(s->ts)->challenge_acks_limited, 2);
	next = (s->now / 1000000 + 1) * 1000000;
	tcp_script_at(s, next);
	tcp_script_in(s, "R", 100, 0, 0, NULL, NULL, 0);
	tcp_script_out(s, ".", 1, 1, 65535, "", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_rst, over_max_conns_a_syn_gets_rst)
{
	struct tcp_script *s = tcp_script_new();

	s->p.max_conns = 1;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	s->peer_port = 40001;
	s->relative = false;
	tcp_script_in(s, "S", 5000, 0, 8192, NULL, NULL, 0);
	tcp_script_out(s, "R.", 0, 5001, 0, "", NULL, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->conns_over_limit, 1);
	tcp_script_free(s);
}

static unsigned count_lines(const char *path, const char *needle)
{
	char line[512];
	unsigned n = 0;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

Test(tcp_rst, the_challenge_ack_limit_is_logged_once_per_episode)
{
	struct tcp_script *s = tcp_script_new();
	char path[] = "/tmp/petrel-tcp-log-XXXXXX";
	int fd = mkstemp(path);
	uint64_t sec;

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(log_open_file(path), 0);
	log_set_stderr(false);
	s->p.challenge_acks_per_s = 1;
	tcp_script_start(s);
	tcp_script_handshake_plain(s, 65535);
	sec = s->now / 1000000;
	/* Two seconds over the limit: one episode, one line. */
	for (int k = 0; k < 2; k++) {
		tcp_script_at(s, (sec + 1 + k) * 1000000);
		for (int i = 0; i < 3; i++)
			tcp_script_in(s, "R", 100, 0, 0, NULL, NULL, 0);
	}
	cr_assert_eq(count_lines(path, "challenge_acks_per_s"), 1);
	/* A quiet second ends the episode; the next one is logged again. */
	tcp_script_at(s, (sec + 3) * 1000000);
	tcp_script_at(s, (sec + 4) * 1000000);
	for (int i = 0; i < 3; i++)
		tcp_script_in(s, "R", 100, 0, 0, NULL, NULL, 0);
	log_close_file();
	cr_assert_eq(count_lines(path, "challenge_acks_per_s"), 2);
	cr_assert_eq(tcp_stack_stats(s->ts)->challenge_acks_limited, 6);
	unlink(path);
	tcp_script_free(s);
}
