/* test_tcp_random.c - a seeded storm of plausible and implausible segments against
 * live connections (any flags, sequence and acknowledgment numbers around and far
 * from the edges, payloads, windows, options; the clock jumping; the user pausing,
 * resuming, sending, closing and aborting). Bounded: a fixed count of segments per
 * seed. It asserts what must hold whatever comes in: no crash (run under ASan in
 * build-asan), every emitted segment well formed and addressed to the peer, the
 * user's acknowledged bytes never past what it wrote, no callback after gone(), and
 * every mbuf back in the pool at the end. */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp_script.h"

static uint64_t rnd_state;

static uint32_t rnd(void)
{
	/* splitmix64: reproducible per seed */
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

static const char *const flag_sets[] = {
	".", "P.", "F.", "FP.", "R", "R.", "S", "S.", "", "FS.", "SR", "F", "P",
};
static const char *const opt_sets[] = {
	NULL, "mss 1460", "ts 5 5", "mss 536,ws 14,sackOK,ts 1 0", "ws 9", "nop,eol",
};

static void storm(uint64_t seed)
{
	struct tcp_script *s = tcp_script_new();
	static uint8_t payload[1500];
	struct tcp_script_seg g;
	unsigned opens = 0;
	size_t base_in = 0, base_out = 0;

	rnd_state = seed;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)rnd();
	s->p.rcv_buf = 8192;
	s->p.max_retries = 4;
	s->p.ooo_max = 4;
	/* odd seeds attach payload spans as external buffers (tcp_txdata.c) */
	s->p.tx_chains = (seed & 1) != 0;
	s->user.span_ref = true;
	s->user.span_max = 400;
	tcp_script_start(s);
	for (int i = 0; i < 3000; i++) {
		uint32_t r = rnd();

		if (s->user.t == NULL && (r & 7) == 0) {
			/* a fresh connection from a fresh port */
			s->peer_port = (uint16_t)(20000 + opens++);
			s->have_our_isn = false;
			s->user.accepted = 0;
			s->user.gone = 0;
			base_out = s->user.out_acked = s->user.out_len;
			tcp_script_in(s, "S", 0, 0, 65535, "mss 1000,ts 1 0,nop,ws 3", NULL, 0);
			while (tcp_script_pop(s, &g))
				;
			tcp_script_in(s, ".", 1, 1, 4000, "ts 2 0", NULL, 0);
			if (s->user.in_len > TCP_SCRIPT_BUF / 2)
				s->user.in_len = 0;
			base_in = s->user.in_len;
		}
		switch (r % 10) {
		case 0:
			tcp_script_at(s, s->now + rnd() % 3000000);
			break;
		case 1:
			if (s->user.t != NULL && s->user.out_len + 3000 < TCP_SCRIPT_BUF)
				tcp_script_send(s, payload, rnd() % sizeof(payload));
			break;
		case 2:
			s->user.consume = !s->user.consume;
			s->user.consume_max = rnd() % 700;
			if (s->user.t != NULL && s->user.consume)
				tcp_script_resume(s);
			break;
		case 3:
			if (s->user.t != NULL && (rnd() & 15) == 0) {
				if (rnd() & 1)
					tcp_script_close(s);
				else {
					tcp_abort(s->user.t);
					s->user.t = NULL;
					tcp_flush(s->ts, s->now);
				}
			}
			break;
		default: {
			const char *f = flag_sets[rnd() % (sizeof(flag_sets) / sizeof(flag_sets[0]))];
			const char *o = opt_sets[rnd() % (sizeof(opt_sets) / sizeof(opt_sets[0]))];
			/* mostly where a live peer would be, sometimes anywhere */
			uint32_t near_seq = 1 + (uint32_t)(s->user.in_len - base_in);
			uint32_t near_ack = 1 + (uint32_t)(s->user.out_acked - base_out) +
					    rnd() % (uint32_t)(s->user.out_len - s->user.out_acked + 2);
			uint32_t seq = (rnd() & 7) == 0 ? rnd() : near_seq + rnd() % 3 * 700 - 700;
			uint32_t ack = (rnd() & 7) == 0 ? rnd() : near_ack;

			if ((rnd() & 3) != 0)
				f = (rnd() & 1) ? "." : "P.";
			size_t len = (rnd() & 1) ? rnd() % sizeof(payload) : 0;

			tcp_script_in(s, f, seq, ack, (uint16_t)rnd(), o, payload, len);
			break;
		}
		}
		while (tcp_script_pop(s, &g)) {
			cr_assert_eq(g.dst_ip, s->peer_ip);
			cr_assert_leq(g.len, 1460);
		}
		cr_assert_leq(s->user.out_acked, s->user.out_len);
		cr_assert_leq(s->user.gone, 1, "gone() twice");
	}
	/* The storm reached the states that matter: connections opened and moved data. */
	cr_assert_geq(tcp_stack_stats(s->ts)->conns_passive, 10);
	cr_assert_gt(s->user.out_acked, 0);
	tcp_script_free(s);
}

Test(tcp_random, storm_seed_1_attached_spans)
{
	storm(1);
}

Test(tcp_random, storm_seed_3_attached_spans)
{
	storm(3);
}

Test(tcp_random, storm_seed_deadbeee_copied)
{
	storm(0xdeadbeee);
}
