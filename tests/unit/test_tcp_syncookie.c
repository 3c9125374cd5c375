/* test_tcp_syncookie.c - SYN cookies (dataplane/net/tcp_syncookie.c) with the real
 * libcrypto SipHash: every MSS and window scale survives the round trip, a cookie is
 * bound to its 4-tuple, the peer's ISN and the key, it expires after two 64 s periods,
 * and no single flipped bit passes. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "net/tcp_syncookie.h"

#define SADDR 0xc6120002u	/* 198.18.0.2 */
#define DADDR 0xc6120001u	/* 198.18.0.1 */
#define SPORT 40001
#define DPORT 1883
#define PEER_ISN 0x89abcdefu
#define SEC 1000000ull
#define PERIOD (64 * SEC)
#define T0 (1000 * PERIOD + 17 * SEC)	/* inside a period, not at its start */

static struct tcp_syncookie_key key;

static void key_setup(void)
{
	cr_assert_eq(tcp_syncookie_key_init(&key, 0x0123456789abcdefull), 0);
}

static void key_teardown(void)
{
	tcp_syncookie_key_fini(&key);
}

TestSuite(tcp_syncookie, .init = key_setup, .fini = key_teardown);

static uint32_t make(uint16_t mss, uint8_t ws, bool sack, uint64_t now)
{
	struct tcp_syncookie_opts o = { .mss = mss, .wscale = ws, .sack_ok = sack };

	return tcp_syncookie_make(&key, SADDR, DADDR, SPORT, DPORT, PEER_ISN, &o, now);
}

static bool check(uint32_t cookie, uint64_t now, struct tcp_syncookie_opts *o)
{
	return tcp_syncookie_check(&key, SADDR, DADDR, SPORT, DPORT, PEER_ISN, cookie, now, o);
}

Test(tcp_syncookie, every_mss_and_wscale_round_trips)
{
	static const uint16_t table[] = TCP_SYNCOOKIE_MSS_TABLE;

	for (unsigned m = 0; m < 4; m++)
		for (uint8_t ws = 0; ws <= TCP_SYNCOOKIE_WSCALE_NONE; ws++)
			for (int sack = 0; sack < 2; sack++) {
				struct tcp_syncookie_opts o = { 0 };
				uint32_t c = make(table[m], ws, sack, T0);

				cr_assert(check(c, T0, &o), "mss %u ws %u sack %d refused",
					  table[m], ws, sack);
				cr_assert_eq(o.mss, table[m]);
				cr_assert_eq(o.wscale, ws);
				cr_assert_eq(o.sack_ok, sack != 0);
			}
}

Test(tcp_syncookie, mss_rounds_down_to_the_table)
{
	/* Never more than the peer announced (RFC 9293 3.7.1: the peer's MSS bounds
	 * what we send), except below the table's floor of 536, the default MSS. */
	static const struct {
		uint16_t in, out;
	} rows[] = {
		{ 0, 536 },      { 500, 536 },   { 536, 536 },   { 1299, 536 },  { 1300, 1300 },
		{ 1439, 1300 }, { 1440, 1440 }, { 1459, 1440 }, { 1460, 1460 }, { 8960, 1460 },
		{ 65535, 1460 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tcp_syncookie_opts o = { 0 };

		cr_assert(check(make(rows[i].in, 7, false, T0), T0, &o));
		cr_assert_eq(o.mss, rows[i].out, "MSS %u came back as %u, want %u",
			     rows[i].in, o.mss, rows[i].out);
	}
}

Test(tcp_syncookie, another_tuple_isn_or_key_fails)
{
	struct tcp_syncookie_opts o;
	struct tcp_syncookie_key other;
	uint32_t c = make(1460, 7, false, T0);

	cr_assert(check(c, T0, &o));
	cr_assert_not(tcp_syncookie_check(&key, SADDR + 1, DADDR, SPORT, DPORT, PEER_ISN, c,
					  T0, &o), "another source address");
	cr_assert_not(tcp_syncookie_check(&key, SADDR, DADDR + 1, SPORT, DPORT, PEER_ISN, c,
					  T0, &o), "another destination address");
	cr_assert_not(tcp_syncookie_check(&key, SADDR, DADDR, SPORT + 1, DPORT, PEER_ISN, c,
					  T0, &o), "another source port");
	cr_assert_not(tcp_syncookie_check(&key, SADDR, DADDR, SPORT, DPORT + 1, PEER_ISN, c,
					  T0, &o), "another destination port");
	/* Ports swapped with addresses kept: the MAC input is not symmetric. */
	cr_assert_not(tcp_syncookie_check(&key, SADDR, DADDR, DPORT, SPORT, PEER_ISN, c,
					  T0, &o), "ports swapped");
	cr_assert_not(tcp_syncookie_check(&key, SADDR, DADDR, SPORT, DPORT, PEER_ISN + 1, c,
					  T0, &o), "another peer ISN");
	cr_assert_eq(tcp_syncookie_key_init(&other, 0x0123456789abcdeeull), 0);
	cr_assert_not(tcp_syncookie_check(&other, SADDR, DADDR, SPORT, DPORT, PEER_ISN, c,
					  T0, &o), "another key");
	tcp_syncookie_key_fini(&other);
}

Test(tcp_syncookie, the_same_secret_gives_the_same_cookie_and_the_context_is_reused)
{
	/* The MAC context is re-initialised per cookie: a thousand cookies later the
	 * first one is computed again bit for bit, and a fresh key agrees. */
	struct tcp_syncookie_key again;
	struct tcp_syncookie_opts o = { .mss = 1440, .wscale = 9 };
	uint32_t first = make(1440, 9, false, T0);

	for (uint32_t i = 0; i < 1000; i++)
		(void)tcp_syncookie_make(&key, SADDR ^ i, DADDR, SPORT, DPORT, i, &o, T0);
	cr_assert_eq(make(1440, 9, false, T0), first);
	cr_assert_eq(tcp_syncookie_key_init(&again, 0x0123456789abcdefull), 0);
	cr_assert_eq(tcp_syncookie_make(&again, SADDR, DADDR, SPORT, DPORT, PEER_ISN, &o, T0),
		     first);
	tcp_syncookie_key_fini(&again);
}

Test(tcp_syncookie, expires_after_about_two_minutes)
{
	struct tcp_syncookie_opts o;
	uint32_t c = make(1460, 7, false, T0);
	/* T0 is 17 s into its period: valid to the end of the next one. */
	uint64_t last_ok = T0 - 17 * SEC + 2 * PERIOD - 1;

	cr_assert(check(c, T0 + PERIOD, &o), "refused after 64 s");
	cr_assert(check(c, last_ok, &o), "refused in the previous period");
	cr_assert_not(check(c, last_ok + 1, &o), "accepted two periods later");
	cr_assert_not(check(c, T0 + 10 * PERIOD, &o), "accepted ten minutes later");
	/* Never one from the future (a period ahead of the clock). */
	cr_assert_not(check(c, T0 - PERIOD, &o), "accepted before it was made");
}

Test(tcp_syncookie, a_cookie_made_at_a_period_start_lives_under_128_s)
{
	struct tcp_syncookie_opts o;
	uint64_t t = 2000 * PERIOD;
	uint32_t c = make(1300, TCP_SYNCOOKIE_WSCALE_NONE, false, t);

	cr_assert(check(c, t + 2 * PERIOD - 1, &o));
	cr_assert_eq(o.wscale, TCP_SYNCOOKIE_WSCALE_NONE);
	cr_assert_not(check(c, t + 2 * PERIOD, &o));
}

Test(tcp_syncookie, works_in_the_first_period_of_the_clock)
{
	/* now / 64 s is 0 during the first period: there is no previous one to try. */
	struct tcp_syncookie_opts o;
	uint32_t c = make(536, 0, false, 5 * SEC);

	cr_assert(check(c, 6 * SEC, &o));
	cr_assert(check(c, PERIOD + 5 * SEC, &o));
	cr_assert_not(check(c, 2 * PERIOD, &o));
}

Test(tcp_syncookie, no_single_bit_flip_passes)
{
	/* Flipping a MAC bit breaks the MAC; flipping an option bit changes the MAC's
	 * input. Many tuples so a lucky collision would show. */
	for (uint32_t n = 0; n < 200; n++) {
		struct tcp_syncookie_opts o = { .mss = 1460, .wscale = (uint8_t)(n % 16) };
		uint32_t isn = PEER_ISN * (n + 1);
		uint32_t c = tcp_syncookie_make(&key, SADDR + n, DADDR, SPORT, DPORT, isn, &o,
						T0);

		cr_assert(tcp_syncookie_check(&key, SADDR + n, DADDR, SPORT, DPORT, isn, c, T0,
					      &o));
		for (int bit = 0; bit < 32; bit++)
			cr_assert_not(tcp_syncookie_check(&key, SADDR + n, DADDR, SPORT, DPORT,
							  isn, c ^ (1u << bit), T0, &o),
				      "tuple %u: bit %d flipped passed", n, bit);
	}
}

Test(tcp_syncookie, cookies_look_random)
{
	/* The cookie is our ISN (RFC 9293 3.4.1 and RFC 6528: not predictable): the MAC
	 * bits of consecutive tuples differ in about half their bits. */
	unsigned total = 0;
	uint32_t prev = make(1460, 7, false, T0);

	for (uint32_t i = 1; i <= 256; i++) {
		struct tcp_syncookie_opts o = { .mss = 1460, .wscale = 7 };
		uint32_t c = tcp_syncookie_make(&key, SADDR, DADDR, SPORT + (uint16_t)i, DPORT,
						PEER_ISN, &o, T0);

		total += (unsigned)__builtin_popcount((c ^ prev) >> 7);
		prev = c;
	}
	/* 256 x 25 bits, half flip on average: 3200, sd 40. 3000..3400 is 5 sd. */
	cr_assert(total > 3000 && total < 3400, "%u of 6400 MAC bits changed", total);
}
