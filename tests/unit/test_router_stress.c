/* test_router_stress.c - the router under concurrent readers and writers, with real
 * liburcu-qsbr threads: no lookup loses a subscription that is never removed, no
 * lookup reports a subscriber that had no matching subscription for its whole
 * duration, every report is one per subscriber at the right QoS once the
 * subscriber's state is settled, no reader sees a subscriber whose hold() was
 * already released, and hold/release balance after destroy.
 *
 * How "wrong result" is decided without locking the readers: every churning
 * subscriber has an epoch counter, written only by the writer thread that owns it,
 * that moves through four phases per cycle:
 *
 *   epoch % 4   state                        plan (filters + final QoS)
 *   0           no subscription at all       -
 *   1           subscribing (QoS may change) fixed for the cycle
 *   2           all of plan subscribed       fixed
 *   3           unsubscribing                fixed
 *
 * The plan is stored before the epoch enters phase 1. A reader samples epoch and plan
 * before the lookup and the epoch again after it. Equal phase-0 epochs: the subscriber
 * must not be reported. Both samples in the same cycle: the plan is the one in force,
 * so a report needs a planned filter that matches the topic, and in a settled phase 2
 * it must come with the planned QoS. Other samples prove nothing and are not judged.
 *
 * Bounded: about 1.5 s of churn plus set-up, and iteration caps; 3 readers and 2
 * writers, which still interleave on a 2-core machine.
 */
#include <urcu-qsbr.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "petrel/router.h"
#include "petrel/topic.h"
#include "unit_util.h"

#define NREADERS	3
#define NWRITERS	2
#define NCHURN		32
#define RUN_MS		1500
#define READER_MAX_ITERS 5000000ul
#define WRITER_MAX_STEPS 2000000ul

/* ---- the fixed world: stable subscriptions, churn filter pool, lookup topics ---- */

struct stable_sub {
	int sub;
	const char *filter;
	uint8_t qos;
};

static const struct stable_sub stable[] = {
	{ 0, "sport/tennis/player1", 1 },
	{ 0, "sport/#", 0 },
	{ 1, "+/tennis/#", 2 },
	{ 2, "#", 0 },
	{ 3, "$SYS/#", 1 },
	{ 4, "$SYS/monitor/+", 2 },
	{ 5, "a/b/c/d", 1 },
	{ 6, "a/+/c/#", 0 },
	{ 6, "a/b/c/d/#", 2 },
	{ 7, "+/+", 1 },
	{ 8, "/+", 2 },
	{ 9, "churn/+/x", 1 },
	{ 10, "d3/deep/+/path/#", 2 },
	{ 11, "sport/+", 0 },
	{ 11, "+", 1 },
};
#define NSTABLE 12
#define NSTABLE_ENTRIES (sizeof(stable) / sizeof(stable[0]))

/* %d is the churning subscriber's index, so some paths are private and get pruned. */
static const char *const churn_pattern[] = {
	"sport/#", "sport/tennis/+", "+/tennis/#", "#", "+/+", "a/b/c/d", "a/+/c/#",
	"churn/%d/x", "churn/+/x/#", "$SYS/#", "$SYS/monitor/+", "d%d/deep/er/path",
	"d%d/deep/+/path/#", "/+", "+", "sport/tennis/player1", "a/b/c/d/#",
	"u%d/only/mine", "sport/tennis/player1/#", "+/monitor/Clients",
};
#define NPATTERN (sizeof(churn_pattern) / sizeof(churn_pattern[0]))

static const char *const topics[] = {
	"sport/tennis/player1", "sport/tennis/player1/ranking", "sport", "sport/",
	"/finance", "$SYS/monitor/Clients", "$SYS", "a/b/c/d", "a/x/c", "a/b/c/d/e",
	"churn/3/x", "churn/4/x/y", "d3/deep/er/path", "d5/deep/zz/path/q",
	"u7/only/mine", "SYS/monitor/Clients", "nothing/here", "sport/golf",
};
#define NTOPIC (sizeof(topics) / sizeof(topics[0]))

/* Never matches a lookup topic: it only makes nodes appear and vanish beside the
 * paths the readers walk. */
static const char *const junk_pattern[] = {
	"sport/tennis/player1/j%d/#", "+/tennis/j%d", "a/b/c/d/j%d/+", "j%d", "$SYS/j%d",
};
#define NJUNK (sizeof(junk_pattern) / sizeof(junk_pattern[0]))

#define SUB_JUNK (NSTABLE + NCHURN)
#define NSUBS (SUB_JUNK + 1)

static struct tsub subs[NSUBS];
static char churn_filter[NCHURN][NPATTERN][64];
static bool churn_hits[NTOPIC][NCHURN][NPATTERN];
static int stable_want[NTOPIC][NSTABLE];	/* highest QoS, -1 = no match */

struct churn_state {
	atomic_ulong epoch;
	atomic_ullong plan;	/* 2 bits per pattern: 0 = not planned, else qos + 1 */
};

static struct churn_state churn[NCHURN];
static struct router *router;
static atomic_bool stop;		/* set on the first failure */
static uint64_t deadline_ms;		/* written before the threads start */

static atomic_long failures;
static atomic_flag first_failure_taken = ATOMIC_FLAG_INIT;
static char first_failure[256];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(&failures, 1);
	atomic_store(&stop, true);
	if (atomic_flag_test_and_set(&first_failure_taken))
		return;
	va_start(ap, fmt);
	vsnprintf(first_failure, sizeof(first_failure), fmt, ap);
	va_end(ap);
}

static unsigned plan_qos(unsigned long long plan, size_t k)
{
	return (unsigned)((plan >> (2 * k)) & 3);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Every thread watches the clock itself: a scheduler that starves the main thread
 * (valgrind's, for one) must not stretch the run. */
static bool keep_going(unsigned long iter)
{
	if (atomic_load_explicit(&stop, memory_order_relaxed))
		return false;
	return (iter & 63) != 0 || now_ms() < deadline_ms;
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* Expands the one "%d" in <pat> to <id> (patterns are data, not format strings). */
static void expand(char *out, size_t size, const char *pat, int id)
{
	const char *d = strstr(pat, "%d");

	if (d == NULL)
		snprintf(out, size, "%s", pat);
	else
		snprintf(out, size, "%.*s%d%s", (int)(d - pat), pat, id, d + 2);
}

static void build_world(void)
{
	size_t t, c, k, i;

	for (i = 0; i < NSUBS; i++)
		subs[i].id = (int)i;
	for (c = 0; c < NCHURN; c++) {
		for (k = 0; k < NPATTERN; k++) {
			expand(churn_filter[c][k], sizeof(churn_filter[c][k]), churn_pattern[k],
			       (int)c);
			cr_assert(topic_filter_valid(churn_filter[c][k], strlen(churn_filter[c][k])));
		}
	}
	for (t = 0; t < NTOPIC; t++) {
		const char *name = topics[t];

		cr_assert(topic_name_valid(name, strlen(name)));
		for (c = 0; c < NCHURN; c++) {
			for (k = 0; k < NPATTERN; k++)
				churn_hits[t][c][k] = topic_matches(churn_filter[c][k],
					strlen(churn_filter[c][k]), name, strlen(name));
		}
		for (i = 0; i < NSTABLE; i++)
			stable_want[t][i] = -1;
		for (i = 0; i < NSTABLE_ENTRIES; i++) {
			const struct stable_sub *s = &stable[i];

			if (topic_matches(s->filter, strlen(s->filter), name, strlen(name)) &&
			    stable_want[t][s->sub] < s->qos)
				stable_want[t][s->sub] = s->qos;
		}
	}
}

/* ---- readers ---- */

struct reader {
	pthread_t thread;
	uint32_t seed;
	unsigned long lookups;
	int res[NSUBS];		/* reported QoS, -1 = not reported */
	size_t reported;
};

static void reader_collect(void *arg, void *subp, uint8_t qos)
{
	struct reader *rd = arg;
	struct tsub *s = subp;
	long released, held;

	if (s < subs || s >= subs + NSUBS) {
		fail("reported a pointer that is no subscriber: %p", subp);
		return;
	}
	/* Releases first: an entry this reader saw is not released before its
	 * critical section ends, so holds - releases stays >= 1 (router.h). */
	released = atomic_load(&s->releases);
	held = atomic_load(&s->holds);
	if (held - released < 1)
		fail("subscriber %d reported after its last release (holds %ld, releases %ld)",
		     s->id, held, released);
	if (rd->res[s->id] != -1)
		fail("subscriber %d reported twice in one lookup (MQTT-3.3.5-1)", s->id);
	if (qos > 2)
		fail("subscriber %d reported with qos %u", s->id, qos);
	rd->res[s->id] = qos;
	rd->reported++;
}

static void reader_check(struct reader *rd, size_t t, size_t n,
			 const unsigned long *ep0, const unsigned long long *plan0,
			 const unsigned long *ep1)
{
	size_t s, c, k;

	if (n != rd->reported)
		fail("router_match returned %zu but reported %zu", n, rd->reported);
	/* Never removed: must be found, at the QoS of its best matching filter. */
	for (s = 0; s < NSTABLE; s++) {
		if (rd->res[s] != stable_want[t][s])
			fail("topic %s: stable subscriber %zu reported qos %d, want %d",
			     topics[t], s, rd->res[s], stable_want[t][s]);
	}
	if (rd->res[SUB_JUNK] != -1)
		fail("topic %s: junk subscriber reported", topics[t]);
	for (c = 0; c < NCHURN; c++) {
		int got = rd->res[NSTABLE + c];
		int want = -1;

		if (ep0[c] == ep1[c] && ep0[c] % 4 == 0) {
			if (got != -1)
				fail("topic %s: churn %zu reported while unsubscribed (epoch %lu)",
				     topics[t], c, ep0[c]);
			continue;
		}
		if (ep0[c] % 4 == 0 || ep0[c] / 4 != ep1[c] / 4)
			continue;	/* plan changed during the lookup: nothing to judge */
		for (k = 0; k < NPATTERN; k++) {
			unsigned q = plan_qos(plan0[c], k);

			if (q != 0 && churn_hits[t][c][k] && (int)q - 1 > want)
				want = (int)q - 1;
		}
		if (want == -1 && got != -1)
			fail("topic %s: churn %zu reported without a matching filter (epoch %lu)",
			     topics[t], c, ep0[c]);
		if (ep0[c] == ep1[c] && ep0[c] % 4 == 2 && got != want)
			fail("topic %s: settled churn %zu reported qos %d, want %d (epoch %lu)",
			     topics[t], c, got, want, ep0[c]);
	}
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	unsigned long ep0[NCHURN], ep1[NCHURN];
	unsigned long long plan0[NCHURN];

	rcu_register_thread();
	while (keep_going(rd->lookups) && rd->lookups < READER_MAX_ITERS) {
		size_t t = xorshift(&rd->seed) % NTOPIC, c, n;
		const char *name = topics[t];

		for (c = 0; c < NCHURN; c++) {
			ep0[c] = atomic_load_explicit(&churn[c].epoch, memory_order_acquire);
			plan0[c] = atomic_load_explicit(&churn[c].plan, memory_order_relaxed);
		}
		for (c = 0; c < NSUBS; c++)
			rd->res[c] = -1;
		rd->reported = 0;

		rcu_read_lock();
		n = router_match(router, name, strlen(name), reader_collect, rd);
		rcu_read_unlock();

		atomic_thread_fence(memory_order_seq_cst);
		for (c = 0; c < NCHURN; c++)
			ep1[c] = atomic_load_explicit(&churn[c].epoch, memory_order_acquire);
		reader_check(rd, t, n, ep0, plan0, ep1);
		rd->lookups++;
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

/* ---- writers ---- */

struct writer {
	pthread_t thread;
	int idx;
	uint32_t seed;
	unsigned long cycles;
	unsigned long junk_ops;
	uint32_t junk_live[NJUNK];	/* bitmask of live junk filters per pattern */
};

static void epoch_advance(size_t c)
{
	atomic_fetch_add_explicit(&churn[c].epoch, 1, memory_order_seq_cst);
}

static void churn_subscribe(struct writer *w, size_t c)
{
	struct tsub *s = &subs[NSTABLE + c];
	unsigned long long plan = 0;
	size_t k;

	/* At least one filter, usually a handful. */
	while (plan == 0) {
		for (k = 0; k < NPATTERN; k++) {
			if (xorshift(&w->seed) % 4 == 0)
				plan |= (unsigned long long)(xorshift(&w->seed) % 3 + 1) << (2 * k);
		}
	}
	atomic_store_explicit(&churn[c].plan, plan, memory_order_relaxed);
	epoch_advance(c);	/* -> phase 1; publishes the plan */
	for (k = 0; k < NPATTERN; k++) {
		unsigned q = plan_qos(plan, k);
		const char *f = churn_filter[c][k];
		int rc;

		if (q == 0)
			continue;
		if (xorshift(&w->seed) % 2 == 0) {
			/* Subscribe at another QoS first: exercises the replace path. */
			rc = router_subscribe(router, f, strlen(f), s, (uint8_t)(q % 3));
			if (rc != 1)
				fail("churn subscribe %s returned %d, want 1", f, rc);
			rc = router_subscribe(router, f, strlen(f), s, (uint8_t)(q - 1));
			if (rc != 0)
				fail("churn re-subscribe %s returned %d, want 0", f, rc);
		} else {
			rc = router_subscribe(router, f, strlen(f), s, (uint8_t)(q - 1));
			if (rc != 1)
				fail("churn subscribe %s returned %d, want 1", f, rc);
		}
		rcu_quiescent_state();
	}
	epoch_advance(c);	/* -> phase 2 */
}

static void churn_unsubscribe(size_t c)
{
	struct tsub *s = &subs[NSTABLE + c];
	unsigned long long plan = atomic_load_explicit(&churn[c].plan, memory_order_relaxed);
	size_t k;

	epoch_advance(c);	/* -> phase 3 */
	for (k = 0; k < NPATTERN; k++) {
		const char *f = churn_filter[c][k];
		int rc;

		if (plan_qos(plan, k) == 0)
			continue;
		rc = router_unsubscribe(router, f, strlen(f), s);
		if (rc != 0)
			fail("churn unsubscribe %s returned %d, want 0", f, rc);
		rcu_quiescent_state();
	}
	epoch_advance(c);	/* -> phase 0 of the next cycle */
}

static void junk_step(struct writer *w)
{
	size_t p = xorshift(&w->seed) % NJUNK;
	unsigned bit = xorshift(&w->seed) % 32;
	char f[64];
	int rc;

	/* Each writer owns its own junk names (index offset), so rc is predictable. */
	expand(f, sizeof(f), junk_pattern[p], (int)(w->idx * 32 + bit));
	if (w->junk_live[p] & (1u << bit)) {
		rc = router_unsubscribe(router, f, strlen(f), &subs[SUB_JUNK]);
		if (rc != 0)
			fail("junk unsubscribe %s returned %d", f, rc);
		w->junk_live[p] &= ~(1u << bit);
	} else {
		rc = router_subscribe(router, f, strlen(f), &subs[SUB_JUNK], 0);
		if (rc != 1)
			fail("junk subscribe %s returned %d", f, rc);
		w->junk_live[p] |= 1u << bit;
	}
	w->junk_ops++;
}

static void junk_clear(struct writer *w)
{
	char f[64];
	size_t p;
	unsigned bit;

	for (p = 0; p < NJUNK; p++) {
		for (bit = 0; bit < 32; bit++) {
			if (!(w->junk_live[p] & (1u << bit)))
				continue;
			expand(f, sizeof(f), junk_pattern[p], (int)(w->idx * 32 + bit));
			if (router_unsubscribe(router, f, strlen(f), &subs[SUB_JUNK]) != 0)
				fail("junk unsubscribe %s failed at the end", f);
		}
		w->junk_live[p] = 0;
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned long steps = 0;
	size_t c;

	rcu_register_thread();
	while (keep_going(steps) && steps < WRITER_MAX_STEPS) {
		/* Churning subscribers c with c % NWRITERS == idx belong to this writer. */
		c = (size_t)w->idx + NWRITERS * (xorshift(&w->seed) % (NCHURN / NWRITERS));
		if (atomic_load_explicit(&churn[c].epoch, memory_order_relaxed) % 4 == 0) {
			churn_subscribe(w, c);
		} else {
			churn_unsubscribe(c);
			w->cycles++;
		}
		junk_step(w);
		steps++;
		rcu_quiescent_state();
	}
	/* Leave nothing of ours behind. */
	for (c = (size_t)w->idx; c < NCHURN; c += NWRITERS) {
		if (atomic_load_explicit(&churn[c].epoch, memory_order_relaxed) % 4 == 2)
			churn_unsubscribe(c);
	}
	junk_clear(w);
	rcu_unregister_thread();
	return NULL;
}

TestSuite(router_stress, .init = unit_rcu_init, .fini = unit_rcu_fini);

Test(router_stress, concurrent_churn_never_loses_or_invents_a_subscriber, .timeout = 120)
{
	static const struct router_params params = { .hold = tsub_hold, .release = tsub_release };
	static struct reader readers[NREADERS];
	static struct writer writers[NWRITERS];
	unsigned long lookups = 0, cycles = 0, junk = 0;
	size_t i;

	build_world();
	router = router_create(&params);
	cr_assert_not_null(router);
	for (i = 0; i < NSTABLE_ENTRIES; i++) {
		const struct stable_sub *s = &stable[i];

		cr_assert_eq(router_subscribe(router, s->filter, strlen(s->filter), &subs[s->sub],
					      s->qos), 1);
	}

	deadline_ms = now_ms() + RUN_MS;
	for (i = 0; i < NWRITERS; i++) {
		writers[i].idx = (int)i;
		writers[i].seed = 0x9e3779b9u * (uint32_t)(i + 1);
		cr_assert_eq(pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]), 0);
	}
	for (i = 0; i < NREADERS; i++) {
		readers[i].seed = 0x85ebca6bu * (uint32_t)(i + 7);
		cr_assert_eq(pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]), 0);
	}

	/* Offline while we wait, so grace periods (and reclamation) go on without us. */
	rcu_thread_offline();
	for (i = 0; i < NREADERS; i++) {
		pthread_join(readers[i].thread, NULL);
		lookups += readers[i].lookups;
	}
	for (i = 0; i < NWRITERS; i++) {
		pthread_join(writers[i].thread, NULL);
		cycles += writers[i].cycles;
		junk += writers[i].junk_ops;
	}
	rcu_thread_online();

	cr_log_info("%lu lookups, %lu churn cycles, %lu junk ops", lookups, cycles, junk);
	cr_assert_eq(atomic_load(&failures), 0, "%ld failures; first: %s",
		     atomic_load(&failures), first_failure);
	/* Far below what a 2-core machine does (about 10^6 and 10^4), above "idle". */
	cr_assert_gt(lookups, 1000, "readers did not run (%lu lookups)", lookups);
	cr_assert_gt(cycles, 20, "writers did not run (%lu cycles)", cycles);

	/* Only the stable entries are left, and every removed entry got released. */
	cr_assert_eq(router_count(router), NSTABLE_ENTRIES);
	rcu_barrier();
	for (i = NSTABLE; i < NSUBS; i++)
		cr_assert_eq(atomic_load(&subs[i].holds), atomic_load(&subs[i].releases),
			     "subscriber %zu: %ld holds, %ld releases", i,
			     atomic_load(&subs[i].holds), atomic_load(&subs[i].releases));

	/* Remove some stable entries by hand; destroy releases the rest at once. */
	for (i = 0; i < NSTABLE_ENTRIES; i += 2) {
		const struct stable_sub *s = &stable[i];

		cr_assert_eq(router_unsubscribe(router, s->filter, strlen(s->filter),
						&subs[s->sub]), 0);
	}
	router_destroy(router);
	for (i = 0; i < NSUBS; i++)
		cr_assert_eq(atomic_load(&subs[i].holds) - atomic_load(&subs[i].releases), 0,
			     "subscriber %zu: %ld live holds after destroy", i,
			     atomic_load(&subs[i].holds) - atomic_load(&subs[i].releases));
	cr_assert_eq(atomic_load(&subs[0].holds), 2);	/* stable: held once per filter */
	assert_no_leaks_rcu();
}
