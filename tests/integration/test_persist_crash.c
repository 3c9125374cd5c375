/* test_persist_crash.c - the promise of issue 8 under kill -9 (docs/operations.md):
 * with persistence_sync always, an acknowledged QoS 1 message reaches every persistent
 * subscriber at least once, an acknowledged QoS 2 message exactly once, and a
 * publisher's messages keep their order (MQTT 3.1.1 sections 4.3, 4.6), however often
 * the broker is killed and restarted on its store.
 *
 * A QoS 1 and a QoS 2 libmosquitto publisher (persist_clients.h: ppub) keep a window of
 * messages in flight and record which were acknowledged; raw persistent subscribers
 * (psub) record every delivery: one online every round, one offline all along, one
 * online every other round and subscribed at QoS 1. Each round the broker is killed
 * with SIGKILL at a moment drawn from a seeded generator (the seed is printed;
 * PETREL_CRASH_SEED=<n> repeats a run), then restarted on the same store. At the end
 * every subscriber comes back and drains, and the records are compared. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "persist_clients.h"

TestSuite(persist_crash, .fini = harness_fini);

#define CRASH_ROUNDS 5
#define CRASH_MAX_SEQ 200000u       /* per publisher, far above what a run sends */
#define CRASH_KILL_MAX_MS 2000      /* a round runs 0..this long before the kill */
#define CRASH_DRAIN_MS 60000        /* the final drain's bound */
#define CRASH_WINDOW 20
/* Per publisher, messages per ms of the round at most: keeps the offline subscriber's
 * backlog, and so the final drain, bounded however fast the broker is, while messages
 * are still in flight whenever the kill comes. */
#define CRASH_RATE_PER_MS 3u

enum { T_Q1, T_Q2, T_N };           /* the publishers, by topic index */

static const char *const crash_topics[] = { "crash/q1", "crash/q2", NULL };

/* A subscriber and what it was granted: QoS 2 subscribers must see a QoS 2 message
 * exactly once, QoS 1 subscribers at least once (MQTT 3.1.1 section 3.8.4: delivery
 * at min(published, granted)). */
struct crash_sub {
	struct psub s;
	uint8_t granted;
	bool online_in_round[CRASH_ROUNDS + 1];
};

static unsigned crash_seed(void)
{
	const char *env = getenv("PETREL_CRASH_SEED");

	if (env != NULL && env[0] != '\0')
		return (unsigned)strtoul(env, NULL, 10);
	return (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
}

/* xorshift32: the same seed gives the same kill moments on every libc. */
static uint32_t crash_rand(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/* Compares one subscriber's record with the publishers'. Returns the number of
 * violations and prints the first few of each kind. */
static unsigned crash_check(struct crash_sub *cs, struct ppub *pubs)
{
	struct psub *s = &cs->s;
	unsigned bad = 0;

	for (unsigned t = 0; t < T_N; t++) {
		struct ppub *p = &pubs[t];
		uint32_t sent = ppub_sent_count(p);
		bool exactly_once = p->qos == 2 && cs->granted == 2;
		unsigned missing = 0, dups = 0, received = 0;

		for (uint32_t seq = 1; seq <= sent; seq++) {
			unsigned c = psub_count(s, t, seq);

			received += c > 0;
			if (ppub_is_acked(p, seq) && c == 0 && missing++ < 5)
				fprintf(stderr, "[crash] %s: %s message %u was acknowledged and "
					"never delivered\n", s->id, p->topic, (unsigned)seq);
			/* Any QoS 2 message, acknowledged or not: never twice. */
			if (exactly_once && c > 1 && dups++ < 5)
				fprintf(stderr, "[crash] %s: QoS 2 message %s %u delivered %u "
					"times\n", s->id, p->topic, (unsigned)seq, c);
		}
		for (uint32_t seq = sent + 1; seq <= s->max_seq; seq++)
			if (psub_count(s, t, seq) != 0 && bad++ < 1)
				fprintf(stderr, "[crash] %s: %s message %u was never sent\n",
					s->id, p->topic, (unsigned)seq);
		if (s->order_bad_seq[t] != 0) {
			fprintf(stderr, "[crash] %s: %s message %u arrived first after %u: "
				"order broken (MQTT 4.6.0)\n", s->id, p->topic,
				(unsigned)s->order_bad_seq[t], (unsigned)s->order_bad_after[t]);
			bad++;
		}
		fprintf(stderr, "[crash] %s (granted QoS %u): %s sent %u, acknowledged %u, "
			"received %u distinct; %u acknowledged missing, %u QoS 2 duplicates\n",
			s->id, cs->granted, p->topic, (unsigned)sent,
			(unsigned)ppub_acked_count(p), received, missing, dups);
		bad += missing + dups;
	}
	if (s->unknown != 0) {
		fprintf(stderr, "[crash] %s: %u deliveries of unknown messages\n", s->id,
			(unsigned)s->unknown);
		bad++;
	}
	return bad;
}

/* True once every acknowledged message reached every subscriber. */
static bool crash_all_acked_delivered(struct crash_sub *subs, size_t nsubs, struct ppub *pubs)
{
	for (size_t i = 0; i < nsubs; i++)
		for (unsigned t = 0; t < T_N; t++) {
			uint32_t sent = ppub_sent_count(&pubs[t]);

			for (uint32_t seq = 1; seq <= sent; seq++)
				if (ppub_is_acked(&pubs[t], seq) && psub_count(&subs[i].s, t, seq) == 0)
					return false;
		}
	return true;
}

/* Connects <cs> again after a restart: its session must be there (MQTT-3.2.2-2). */
static void crash_resume(struct crash_sub *cs, struct broker *b, unsigned round)
{
	bool present = psub_connect(&cs->s, b);

	if (!present)
		broker_dump_log(b);
	cr_assert(present, "round %u: %s came back to session present 0: the stored "
		  "session was lost", round, cs->s.id);
}

Test(persist_crash, kill9_rounds_lose_no_acknowledged_message, .timeout = 240)
{
	struct broker b;
	struct crash_sub subs[3];
	struct ppub pubs[T_N];
	unsigned seed = crash_seed();
	uint32_t rng = seed ? seed : 1;

	fprintf(stderr, "[crash] seed %u (PETREL_CRASH_SEED=%u repeats the kill moments)\n",
		seed, seed);
	cr_log_info("crash seed %u", seed);

	/* Two workers: publishers and subscribers land on different ones, so entries
	 * cross workers before their acknowledgements come back. No queue limit: the
	 * offline subscriber collects every message of every round. */
	broker_start(&b, 2, "max_queued_messages 0\n");

	memset(subs, 0, sizeof(subs));
	psub_init(&subs[0].s, "crash-online", crash_topics, CRASH_MAX_SEQ);
	psub_init(&subs[1].s, "crash-offline", crash_topics, CRASH_MAX_SEQ);
	psub_init(&subs[2].s, "crash-flip", crash_topics, CRASH_MAX_SEQ);
	subs[0].granted = 2;
	subs[1].granted = 2;
	subs[2].granted = 1;
	for (unsigned r = 0; r < CRASH_ROUNDS; r++) {
		subs[0].online_in_round[r] = true;
		subs[2].online_in_round[r] = r % 2 == 0;
	}
	cr_assert_not(psub_connect(&subs[0].s, &b));
	psub_subscribe(&subs[0].s, 1, "crash/#", 2);
	cr_assert_not(psub_connect(&subs[1].s, &b));
	psub_subscribe(&subs[1].s, 1, "crash/+", 2);
	psub_disconnect(&subs[1].s);
	cr_assert_not(psub_connect(&subs[2].s, &b));
	psub_subscribe(&subs[2].s, 1, "crash/#", 1);

	struct psub *const all[3] = { &subs[0].s, &subs[1].s, &subs[2].s };

	ppub_init(&pubs[T_Q1], "crash-pub1", "crash/q1", 1, 16, CRASH_WINDOW, CRASH_MAX_SEQ);
	ppub_init(&pubs[T_Q2], "crash-pub2", "crash/q2", 2, 16, CRASH_WINDOW, CRASH_MAX_SEQ);

	uint64_t test_start = now_ms();

	for (unsigned round = 0; round < CRASH_ROUNDS; round++) {
		if (round > 0) {
			broker_restart(&b);
			for (size_t i = 0; i < 3; i++)
				if (subs[i].online_in_round[round])
					crash_resume(&subs[i], &b, round);
		}
		for (unsigned t = 0; t < T_N; t++)
			ppub_connect(&pubs[t], &b);

		uint32_t sent0[T_N], acked0[T_N];

		for (unsigned t = 0; t < T_N; t++) {
			sent0[t] = ppub_sent_count(&pubs[t]);
			acked0[t] = ppub_acked_count(&pubs[t]);
		}

		unsigned kill_ms = crash_rand(&rng) % (CRASH_KILL_MAX_MS + 1);
		uint64_t round_start = now_ms();
		uint64_t kill_at = round_start + kill_ms;

		while (now_ms() < kill_at) {
			for (unsigned t = 0; t < T_N; t++) {
				if (ppub_sent_count(&pubs[t]) - sent0[t] <
				    CRASH_RATE_PER_MS * (uint32_t)(now_ms() - round_start))
					ppub_step(&pubs[t]);
				cr_assert(ppub_is_up(&pubs[t]), "round %u: publisher %s "
					  "lost its connection before the kill", round, pubs[t].id);
			}
			/* A short wait: the publishers' acknowledgements arrive on their
			 * own threads and free window room meanwhile. */
			psub_wait_any(all, 3, 1);
			for (size_t i = 0; i < 3; i++) {
				if (!subs[i].online_in_round[round])
					continue;
				psub_poll(&subs[i].s, 0, 0);
				cr_assert_geq(subs[i].s.fd, 0, "round %u: the broker closed %s's "
					      "connection before the kill", round, subs[i].s.id);
			}
		}
		broker_kill(&b);
		for (size_t i = 0; i < 3; i++)
			psub_drain_to_eof(&subs[i].s, 1000);
		for (unsigned t = 0; t < T_N; t++)
			ppub_close(&pubs[t]);

		fprintf(stderr, "[crash] round %u: killed after %u ms; QoS 1: %u sent, %u "
			"acknowledged; QoS 2: %u sent, %u acknowledged\n", round + 1, kill_ms,
			(unsigned)(ppub_sent_count(&pubs[T_Q1]) - sent0[T_Q1]),
			(unsigned)(ppub_acked_count(&pubs[T_Q1]) - acked0[T_Q1]),
			(unsigned)(ppub_sent_count(&pubs[T_Q2]) - sent0[T_Q2]),
			(unsigned)(ppub_acked_count(&pubs[T_Q2]) - acked0[T_Q2]));
	}

	/* Everyone comes back to the store's last word and takes what it holds. */
	broker_restart(&b);
	for (size_t i = 0; i < 3; i++)
		crash_resume(&subs[i], &b, CRASH_ROUNDS);

	uint64_t drain_end = now_ms() + CRASH_DRAIN_MS;
	uint64_t last_rx = now_ms();

	while (now_ms() < drain_end) {
		unsigned n = 0;

		psub_wait_any(all, 3, 100);
		for (size_t i = 0; i < 3; i++)
			n += psub_poll(&subs[i].s, 0, 0);
		if (n > 0)
			last_rx = now_ms();
		/* Done when nothing came for 3 s, or for 0.5 s once everything
		 * acknowledged is in (what was not acknowledged may come too). */
		if (now_ms() - last_rx > 3000 ||
		    (now_ms() - last_rx > 500 && crash_all_acked_delivered(subs, 3, pubs)))
			break;
	}
	for (size_t i = 0; i < 3; i++)
		cr_assert_geq(subs[i].s.fd, 0, "the broker closed %s's connection while it "
			      "drained", subs[i].s.id);

	unsigned bad = 0;

	for (size_t i = 0; i < 3; i++)
		bad += crash_check(&subs[i], pubs);
	fprintf(stderr, "[crash] seed %u: %u rounds in %u ms, %u violations\n", seed,
		CRASH_ROUNDS, (unsigned)(now_ms() - test_start), bad);
	cr_assert(ppub_acked_count(&pubs[T_Q1]) > 0 && ppub_acked_count(&pubs[T_Q2]) > 0,
		  "nothing was acknowledged: the test proved nothing");
	cr_assert_eq(bad, 0, "seed %u: %u violations of the persistence promise (see above)",
		     seed, bad);

	for (size_t i = 0; i < 3; i++) {
		psub_disconnect(&subs[i].s);
		psub_fini(&subs[i].s);
	}
	for (unsigned t = 0; t < T_N; t++)
		ppub_fini(&pubs[t]);
	broker_stop_clean(&b);
}
