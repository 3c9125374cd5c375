/* test_tcp_malformed.c - segments no correct peer sends: shorter than a header, a data
 * offset below 5 words or past the segment, option lengths that run past the header
 * or are below 2 (RFC 9293 3.1), SYN and RST together. Each is dropped and counted
 * (in_bad), nothing is sent, no mbuf leaks, and the connection beside them goes on. */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp_script.h"

/* A header toward our port with <doff> words and <opts> after the fixed 20 bytes. */
static size_t raw_header(uint8_t *b, uint8_t doff, uint8_t flags, const uint8_t *opts,
			 size_t optlen)
{
	memset(b, 0, 20);
	b[0] = TCP_SCRIPT_PEER_PORT >> 8;
	b[1] = TCP_SCRIPT_PEER_PORT & 0xff;
	b[2] = TCP_SCRIPT_PORT >> 8;
	b[3] = TCP_SCRIPT_PORT & 0xff;
	b[7] = 1;                 /* seq 1 */
	b[12] = (uint8_t)(doff << 4);
	b[13] = flags;
	b[14] = 0x20;             /* window 8192 */
	if (optlen > 0)
		memcpy(b + 20, opts, optlen);
	return 20 + optlen;
}

Test(tcp_malformed, bad_headers_and_options_are_dropped_and_counted_rfc9293_3_1)
{
	struct tcp_script *s = tcp_script_new();
	uint8_t b[64];
	static const uint8_t opt_runs_past[] = { 2, 8, 5, 0 };   /* MSS with length 8 */
	static const uint8_t opt_len_one[] = { 3, 1, 0, 0 };     /* length below 2 */
	static const uint8_t opt_no_len[] = { 1, 1, 1, 8 };      /* kind 8, no length */
	size_t n;

	tcp_script_start(s);
	tcp_script_in_raw(s, b, 0);
	n = raw_header(b, 5, 0x02, NULL, 0);
	tcp_script_in_raw(s, b, 19);                              /* short */
	n = raw_header(b, 4, 0x02, NULL, 0);
	tcp_script_in_raw(s, b, n);                               /* doff < 5 */
	n = raw_header(b, 15, 0x02, NULL, 0);
	tcp_script_in_raw(s, b, n);                               /* doff past the end */
	n = raw_header(b, 6, 0x02, opt_runs_past, 4);
	tcp_script_in_raw(s, b, n);
	n = raw_header(b, 6, 0x02, opt_len_one, 4);
	tcp_script_in_raw(s, b, n);
	n = raw_header(b, 6, 0x02, opt_no_len, 4);
	tcp_script_in_raw(s, b, n);
	n = raw_header(b, 5, 0x06, NULL, 0);                      /* SYN and RST */
	tcp_script_in_raw(s, b, n);
	tcp_script_none(s);
	cr_assert_eq(tcp_stack_stats(s->ts)->in_bad, 8);
	/* The listener still answers a proper SYN. */
	tcp_script_in(s, "S", 0, 0, 8192, "mss 1460", NULL, 0);
	tcp_script_out(s, "S.", 0, 1, 65535, "mss 1460", NULL, 0);
	tcp_script_free(s);
}

Test(tcp_malformed, unknown_options_are_skipped_rfc9293_3_1)
{
	struct tcp_script *s = tcp_script_new();
	uint8_t b[64];
	/* kind 30 (MPTCP) length 4, then MSS 1000 */
	static const uint8_t opts[] = { 30, 4, 0, 0, 2, 4, 0x03, 0xe8 };

	tcp_script_start(s);
	tcp_script_in_raw(s, b, raw_header(b, 7, 0x02, opts, sizeof(opts)));
	tcp_script_out(s, "S.", TCP_SCRIPT_ANY, TCP_SCRIPT_ANY, 65535, "mss 1460", NULL, 0);
	cr_assert_eq(tcp_stack_stats(s->ts)->in_bad, 0);
	tcp_script_free(s);
}
