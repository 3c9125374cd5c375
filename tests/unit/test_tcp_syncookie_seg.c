/* test_tcp_syncookie_seg.c - SYN cookies (tcp_syncookie.c) through the real stack,
 * segment by segment (tcp_script.h), with syn_backlog 0 so every SYN is answered
 * with a cookie (RFC 4987 3.6): the SYN-ACK's ISN is a cookie for the 4-tuple and the
 * peer's ISN carrying the MSS rounded down to the table and the window scale
 * (RFC 7323 2.3: a shift over 14 is 14); the ACK that returns it creates the
 * connection with that MSS and scale and data flows both ways; an ACK with a cookie
 * replayed from another port, another ISN or after two 64 s periods gets a RST
 * (RFC 9293 3.10.7.2: an ACK to a listener is reset). Sequence numbers are absolute
 * (the peer's ISN is 7000). */
#include <criterion/criterion.h>
#include <string.h>

#include "net/tcp_syncookie.h"
#include "tcp_script.h"

#define PEER_ISN 7000u
#define SEC 1000000ull

static uint8_t payload[20000];

static struct tcp_script *cookie_stack(void)
{
	struct tcp_script *s = tcp_script_new();

	s->p.syn_backlog = 0;
	s->p.secret = 0x5eed5eed5eedull;
	tcp_script_start(s);
	s->relative = false;
	memset(payload, 'c', sizeof(payload));
	return s;
}

/* The peer at <port> sends a SYN with <opts>; returns our SYN-ACK (a cookie). */
static struct tcp_script_seg syn(struct tcp_script *s, uint16_t port, const char *opts,
				 const char *want_opts)
{
	s->peer_port = port;
	tcp_script_in(s, "S", PEER_ISN, 0, 8192, opts, NULL, 0);
	return tcp_script_out(s, "S.", TCP_SCRIPT_ANY, PEER_ISN + 1, TCP_SCRIPT_ANY, want_opts,
			      NULL, 0);
}

/* The peer at <port> answers with sequence number <seq> and acknowledgment <ack>, and
 * gets <SEQ=SEG.ACK><CTL=RST>: no cookie of ours. */
static void ack_refused(struct tcp_script *s, uint16_t port, uint32_t seq, uint32_t ack)
{
	s->peer_port = port;
	tcp_script_in(s, ".", seq, ack, 1000, NULL, NULL, 0);
	tcp_script_out(s, "R", ack, TCP_SCRIPT_ANY, 0, "", NULL, 0);
	tcp_script_none(s);
}

Test(tcp_syncookie_seg, syn_ack_isn_is_a_cookie_with_the_table_mss_and_wscale)
{
	static const struct {
		const char *opts, *want;  /* the SYN's options, our SYN-ACK's */
		uint16_t mss;
		uint8_t ws;
	} rows[] = {
		{ "mss 1460,nop,ws 7", "mss 1460,ws *", 1460, 7 },
		{ "mss 1400", "mss 1460", 1300, TCP_SYNCOOKIE_WSCALE_NONE },
		{ NULL, "mss 1460", 536, TCP_SYNCOOKIE_WSCALE_NONE },	/* RFC 9293 3.7.1 */
		{ "mss 9000,nop,ws 14", "mss 1460,ws *", 1460, 14 },
		{ "mss 1440,nop,ws 15", "mss 1460,ws *", 1440, 14 },	/* RFC 7323 2.3 */
		{ "mss 600,nop,ws 0", "mss 1460,ws *", 536, 0 },
	};
	struct tcp_script *s = cookie_stack();
	struct tcp_syncookie_key k;

	cr_assert_eq(tcp_syncookie_key_init(&k, s->p.secret), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint16_t port = (uint16_t)(41000 + i);
		struct tcp_script_seg sa = syn(s, port, rows[i].opts, rows[i].want);
		struct tcp_syncookie_opts o;

		cr_assert(tcp_syncookie_check(&k, TCP_SCRIPT_PEER_IP, TCP_SCRIPT_LOCAL_IP, port,
					      TCP_SCRIPT_PORT, PEER_ISN, sa.seq, s->now, &o),
			  "row %zu: the SYN-ACK's ISN is not a cookie", i);
		cr_assert_eq(o.mss, rows[i].mss, "row %zu: mss %u, want %u", i, o.mss,
			     rows[i].mss);
		cr_assert_eq(o.wscale, rows[i].ws, "row %zu: ws %u, want %u", i, o.wscale,
			     rows[i].ws);
	}
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_sent, 6);
	tcp_script_none(s);
	tcp_syncookie_key_fini(&k);
	tcp_script_free(s);
}

Test(tcp_syncookie_seg, the_ack_creates_the_connection_with_the_cookies_mss_and_scale)
{
	struct tcp_script *s = cookie_stack();
	struct tcp_script_seg sa = syn(s, 42000, "mss 1400,nop,ws 3", "mss 1460,ws *");
	uint32_t una = sa.seq + 1;

	cr_assert_eq(s->user.accepted, 0, "accepted on the SYN: no state before the ACK");
	/* The ACK returns the cookie and carries data. Window 1000 << 3 = 8000. */
	tcp_script_in(s, "P.", PEER_ISN + 1, una, 1000, NULL, "hello", 5);
	cr_assert_eq(s->user.accepted, 1);
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_ok, 1);
	cr_assert_eq(s->user.in_len, 5);
	cr_assert_arr_eq(s->user.in, "hello", 5);
	/* Our data goes in segments of the cookie's MSS (1400 rounded down to 1300),
	 * IW = 3 * 1300 (RFC 5681 3.1, 1095 < SMSS <= 2190). Had the scale been lost
	 * the window would be 1000 bytes: one short segment. */
	tcp_script_send(s, payload, sizeof(payload));
	for (uint32_t i = 0; i < 3; i++)
		tcp_script_out(s, ".", una + i * 1300, PEER_ISN + 6, TCP_SCRIPT_ANY, "", NULL,
			       1300);
	tcp_script_none(s);
	/* The peer acknowledges one segment and sends more: slow start, two segments,
	 * and the new input is delivered. */
	tcp_script_in(s, "P.", PEER_ISN + 6, una + 1300, 1000, NULL, "world", 5);
	cr_assert_eq(s->user.in_len, 10);
	cr_assert_arr_eq(s->user.in, "helloworld", 10);
	tcp_script_out(s, ".", una + 3 * 1300, PEER_ISN + 11, TCP_SCRIPT_ANY, "", NULL, 1300);
	tcp_script_out(s, ".", una + 4 * 1300, PEER_ISN + 11, TCP_SCRIPT_ANY, "", NULL, 1300);
	tcp_script_none(s);
	cr_assert_eq(s->user.out_acked, 1300);
	tcp_script_free(s);
}

Test(tcp_syncookie_seg, without_window_scale_in_the_syn_the_window_is_not_scaled)
{
	struct tcp_script *s = cookie_stack();
	struct tcp_script_seg sa = syn(s, 42001, "mss 1460", "mss 1460");
	uint32_t una = sa.seq + 1;

	tcp_script_in(s, ".", PEER_ISN + 1, una, 1000, NULL, NULL, 0);
	cr_assert_eq(s->user.accepted, 1);
	/* cwnd (IW 3 * 1460) is not the limit: the peer's 1000 bytes, unscaled, are. */
	tcp_script_send(s, payload, sizeof(payload));
	tcp_script_out(s, ".", una, PEER_ISN + 1, TCP_SCRIPT_ANY, "", NULL, 1000);
	tcp_script_none(s);
	tcp_script_free(s);
}

Test(tcp_syncookie_seg, a_cookie_is_good_for_64_s_and_stale_after_128_s)
{
	struct tcp_script *s = cookie_stack();
	struct tcp_script_seg a = syn(s, 42002, "mss 1460", "mss 1460");
	struct tcp_script_seg b = syn(s, 42003, "mss 1460", "mss 1460");

	/* 64 s later (the next period at most): still good. */
	tcp_script_at(s, s->now + 64 * SEC);
	s->peer_port = 42002;
	tcp_script_in(s, ".", PEER_ISN + 1, a.seq + 1, 1000, NULL, NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(s->user.accepted, 1);
	/* 128 s after it was made a cookie is two periods old whatever its phase: the
	 * ACK gets <SEQ=SEG.ACK><CTL=RST> and no connection. */
	tcp_script_at(s, s->now + 64 * SEC);
	ack_refused(s, 42003, PEER_ISN + 1, b.seq + 1);
	cr_assert_eq(s->user.accepted, 1);
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_ok, 1);
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_bad, 1);
	tcp_script_free(s);
}

Test(tcp_syncookie_seg, a_cookie_replayed_from_another_port_or_isn_gets_rst)
{
	struct tcp_script *s = cookie_stack();
	struct tcp_script_seg a = syn(s, 42004, "mss 1460", "mss 1460");

	/* Another source port with the same numbers: the MAC covers the 4-tuple. */
	ack_refused(s, 42005, PEER_ISN + 1, a.seq + 1);
	/* The right port with another sequence number: seq - 1 is not the SYN's ISN. */
	ack_refused(s, 42004, PEER_ISN + 2, a.seq + 1);
	cr_assert_eq(s->user.accepted, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_bad, 2);
	/* The genuine ACK still works afterwards: nothing was spent on the forgeries. */
	tcp_script_in(s, ".", PEER_ISN + 1, a.seq + 1, 1000, NULL, NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(s->user.accepted, 1);
	tcp_script_free(s);
}

/* The race of tcp_syn_rcvd_cookie: B's SYN meets a full backlog and gets a cookie,
 * B sends its SYN again once the backlog has room and gets a SYN-ACK with a real ISS,
 * but B had taken the cookie SYN-ACK: its ACK returns the cookie. The connection is
 * built from the cookie (before the fix: RST, and B's open connection was reset). An
 * ACK that fits neither still gets its RST. */
Test(tcp_syncookie_seg, an_ack_of_the_cookie_completes_a_later_syn_received)
{
	struct tcp_script *s = tcp_script_new();
	struct tcp_script_seg a, cookie, real;

	s->p.syn_backlog = 1;
	s->p.secret = 0x5eed5eed5eedull;
	tcp_script_start(s);
	s->relative = false;
	/* A fills the backlog; B's SYN gets a cookie. */
	a = syn(s, 43000, "mss 1460", "mss 1460");
	cookie = syn(s, 43001, "mss 1460", "mss 1460");
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_sent, 1);
	/* A completes: the backlog has room. */
	s->peer_port = 43000;
	tcp_script_in(s, ".", PEER_ISN + 1, a.seq + 1, 1000, NULL, NULL, 0);
	cr_assert_eq(s->user.accepted, 1);
	/* B's SYN again: a SYN-RECEIVED TCB with an ISS of its own. */
	real = syn(s, 43001, "mss 1460", "mss 1460");
	cr_assert_neq(real.seq, cookie.seq, "the TCB's ISS happens to be the cookie");
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_sent, 1);
	/* A stray ACK (neither ISS) still gets <SEQ=SEG.ACK><CTL=RST>. */
	s->peer_port = 43001;
	tcp_script_in(s, ".", PEER_ISN + 1, cookie.seq + 77, 1000, NULL, NULL, 0);
	tcp_script_out(s, "R", cookie.seq + 77, TCP_SCRIPT_ANY, 0, "", NULL, 0);
	tcp_script_none(s);
	cr_assert_eq(s->user.accepted, 1);
	/* B's ACK of the cookie, with data: the connection, no RST. */
	tcp_script_in(s, "P.", PEER_ISN + 1, cookie.seq + 1, 1000, NULL, "hello", 5);
	cr_assert_eq(s->user.accepted, 2);
	cr_assert_eq(s->user.in_len, 5);
	cr_assert_arr_eq(s->user.in, "hello", 5);
	cr_assert_eq(tcp_stack_stats(s->ts)->syn_cookies_late, 1);
	/* Our data continues the cookie's sequence space. */
	tcp_script_send(s, "world", 5);
	tcp_script_out(s, "P.", cookie.seq + 1, PEER_ISN + 6, TCP_SCRIPT_ANY, "", "world", 5);
	tcp_script_none(s);
	tcp_script_free(s);
}
