/* test_subs_scale.c - subscriptions at scale (issue 6): one filter shared by a million
 * subscribers, one session with a hundred thousand filters, and session end on it,
 * with the real router and session modules under real liburcu-qsbr. Each change must
 * cost O(1) or O(log n) in those counts: on the old copy-on-write entry arrays and the
 * session's linear filter list these tests run for hours, so the suite timeout is
 * what fails there (no timed assertion). The seconds each phase took are printed for
 * docs/benchmarks.md. Matches are checked exactly along the way. */
#include <urcu-qsbr.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "petrel/broker.h"
#include "petrel/router.h"
#include "petrel/session.h"
#include "petrel/worker.h"
#include "unit_util.h"

static const struct router_params tparams = { .hold = tsub_hold, .release = tsub_release };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, double t0, size_t n)
{
	double dt = now_s() - t0;

	fprintf(stderr, "[subs_scale] %s: %zu in %.2f s (%.0f/s)\n", what, n, dt,
		dt > 0 ? (double)n / dt : 0.0);
}

/* Every reported subscriber once, with its QoS; for the million-way match. */
struct seen {
	struct tsub *base;
	size_t nsubs;
	uint8_t *qos;		/* reported QoS + 1; 0 = not reported */
	size_t n, dups;
};

static void seen_collect(void *arg, void *sub, uint8_t qos)
{
	struct seen *sn = arg;
	size_t i = (size_t)((struct tsub *)sub - sn->base);

	cr_assert_lt(i, sn->nsubs);
	if (sn->qos[i] != 0)
		sn->dups++;
	sn->qos[i] = (uint8_t)(qos + 1);
	sn->n++;
}

static size_t match_all(struct router *r, const char *topic, struct seen *sn)
{
	size_t n;

	memset(sn->qos, 0, sn->nsubs);
	sn->n = 0;
	sn->dups = 0;
	rcu_read_lock();
	n = router_match(r, topic, strlen(topic), seen_collect, sn);
	rcu_read_unlock();
	cr_assert_eq(n, sn->n);
	cr_assert_eq(sn->dups, 0, "one report per subscriber (MQTT-3.3.5-1)");
	return n;
}

TestSuite(subs_scale, .init = unit_rcu_init, .fini = unit_rcu_fini);

#define MILLION 1000000

Test(subs_scale, a_million_subscribers_on_one_filter, .timeout = 240)
{
	struct router *r = router_create(&tparams);
	struct tsub *s = calloc(MILLION, sizeof(*s));
	struct seen sn = { .base = s, .nsubs = MILLION, .qos = calloc(MILLION, 1) };
	double t0;
	size_t i;

	cr_assert_not_null(s);
	cr_assert_not_null(sn.qos);
	t0 = now_s();
	for (i = 0; i < MILLION; i++) {
		s[i].id = (int)i;
		cr_assert_eq(router_subscribe(r, "fleet/+/pos", 11, &s[i], (uint8_t)(i % 2)), 1);
	}
	report("subscribe on one filter", t0, MILLION);
	cr_assert_eq(router_count(r), MILLION);

	t0 = now_s();
	cr_assert_eq(match_all(r, "fleet/7/pos", &sn), MILLION);
	report("match reporting every subscriber", t0, MILLION);
	for (i = 0; i < MILLION; i++)
		cr_assert_eq(sn.qos[i], i % 2 + 1, "subscriber %zu", i);

	/* MQTT-3.8.4-3: a repeat replaces the QoS in place, without a new entry. */
	t0 = now_s();
	for (i = 0; i < MILLION; i += 2)
		cr_assert_eq(router_subscribe(r, "fleet/+/pos", 11, &s[i], 2), 0);
	report("QoS replacement", t0, MILLION / 2);
	cr_assert_eq(router_count(r), MILLION);

	/* Leave in an order that is neither head nor tail first: every third one. */
	t0 = now_s();
	for (i = 0; i < MILLION; i += 3) {
		cr_assert_eq(router_unsubscribe(r, "fleet/+/pos", 11, &s[i]), 0);
		if (i % 65536 == 0)
			rcu_quiescent_state();	/* as a worker would: reclamation runs */
	}
	report("unsubscribe a third", t0, (MILLION + 2) / 3);
	cr_assert_eq(match_all(r, "fleet/x/pos", &sn), MILLION - (MILLION + 2) / 3);
	for (i = 0; i < MILLION; i++) {
		int want = i % 3 == 0 ? 0 : i % 2 == 0 ? 3 : 2;

		cr_assert_eq(sn.qos[i], want, "subscriber %zu: %d, want %d", i, sn.qos[i], want);
	}
	cr_assert_eq(match_all(r, "fleet/x/speed", &sn), 0);

	t0 = now_s();
	for (i = 0; i < MILLION; i++) {
		int rc = router_unsubscribe(r, "fleet/+/pos", 11, &s[i]);

		cr_assert_eq(rc, i % 3 == 0 ? -ENOENT : 0, "subscriber %zu: %d", i, rc);
		if (i % 65536 == 0)
			rcu_quiescent_state();
	}
	report("unsubscribe the rest", t0, MILLION);
	cr_assert_eq(router_count(r), 0);
	cr_assert_eq(match_all(r, "fleet/7/pos", &sn), 0);
	router_destroy(r);
	for (i = 0; i < MILLION; i++) {
		cr_assert_eq(atomic_load(&s[i].holds), 1);
		cr_assert_eq(atomic_load(&s[i].releases), 1);
	}
	free(sn.qos);
	free(s);
	assert_no_leaks_rcu();
}

#define FILTERS 100000

static int filter_of(char *buf, size_t cap, size_t i)
{
	/* Literal filters under a few parents, and every tenth one a wildcard. */
	if (i % 10 == 0)
		return snprintf(buf, cap, "site/%zu/+/temp", i);
	return snprintf(buf, cap, "site/%zu/dev/%zu", i % 97, i);
}

struct count_ctx {
	void *want;
	size_t n;
};

static void count_one(void *arg, void *sub, uint8_t qos)
{
	struct count_ctx *c = arg;

	cr_assert_eq(sub, c->want);
	c->n++;
}

static size_t matches(struct router *r, const char *topic, void *want)
{
	struct count_ctx c = { want, 0 };

	rcu_read_lock();
	router_match(r, topic, strlen(topic), count_one, &c);
	rcu_read_unlock();
	return c.n;
}

/* What a SUBSCRIBE does per filter (subscribe.c): the router and the session's own
 * record. */
static void subscribe_both(struct router *r, struct session *s, size_t n)
{
	char f[64];

	for (size_t i = 0; i < n; i++) {
		int len = filter_of(f, sizeof(f), i);

		cr_assert_eq(router_subscribe(r, f, (size_t)len, s, (uint8_t)(i % 3)), 1);
		cr_assert_eq(session_sub_add(s, f, (size_t)len, (uint8_t)(i % 3)), 0);
	}
}

Test(subs_scale, a_hundred_thousand_filters_in_one_session, .timeout = 30)
{
	struct router *r = router_create(NULL);
	struct session *s = session_create("big", 3, 0);
	char f[64];
	double t0;
	size_t i;

	t0 = now_s();
	subscribe_both(r, s, FILTERS);
	report("subscribe filters of one session", t0, FILTERS);
	cr_assert_eq(router_count(r), FILTERS);
	cr_assert_eq(session_sub_count(s), FILTERS);

	/* A repeat of every filter is found in the session, not added again. */
	t0 = now_s();
	for (i = 0; i < FILTERS; i++) {
		int len = filter_of(f, sizeof(f), i);

		cr_assert_not_null(session_sub_find(s, f, (size_t)len), "%s", f);
		cr_assert_eq(session_sub_add(s, f, (size_t)len, 1), 0);
		cr_assert_eq(router_subscribe(r, f, (size_t)len, s, 1), 0);
	}
	report("re-subscribe filters of one session", t0, FILTERS);
	cr_assert_eq(session_sub_count(s), FILTERS);
	cr_assert_eq(session_sub_find(s, "site/1/dev/1", 12)->qos, 1);

	cr_assert_eq(matches(r, "site/3/dev/3", s), 1);
	cr_assert_eq(matches(r, "site/20/x/temp", s), 1, "site/20/+/temp");
	cr_assert_eq(matches(r, "site/4/dev/3", s), 0);

	t0 = now_s();
	for (i = 0; i < FILTERS; i += 2) {
		int len = filter_of(f, sizeof(f), i);

		cr_assert_eq(session_sub_remove(s, f, (size_t)len), 0);
		cr_assert_eq(router_unsubscribe(r, f, (size_t)len, s), 0);
	}
	report("unsubscribe half the filters of one session", t0, FILTERS / 2);
	cr_assert_eq(session_sub_count(s), FILTERS / 2);
	cr_assert_eq(router_count(r), FILTERS / 2);
	cr_assert_eq(matches(r, "site/3/dev/3", s), 1);
	cr_assert_eq(matches(r, "site/4/dev/4", s), 0, "removed");
	cr_assert_eq(matches(r, "site/20/x/temp", s), 0, "removed");
	for (i = 1; i < FILTERS; i += 2) {
		int len = filter_of(f, sizeof(f), i);

		cr_assert_eq(session_sub_remove(s, f, (size_t)len), 0);
		cr_assert_eq(router_unsubscribe(r, f, (size_t)len, s), 0);
	}
	cr_assert_eq(session_sub_count(s), 0);
	cr_assert_eq(router_count(r), 0);
	session_unref(s);
	router_destroy(r);
	assert_no_leaks_rcu();
}

/* session_clear is what a clean session's end runs: it needs a worker only for the
 * router and the counters. */
Test(subs_scale, session_end_with_a_hundred_thousand_filters)
{
	struct broker *b = calloc(1, sizeof(*b));
	struct worker *w = calloc(1, sizeof(*w));
	struct session *s = session_create("big", 3, 0);
	double t0;

	cr_assert_not_null(b);
	cr_assert_not_null(w);
	b->router = router_create(NULL);
	w->broker = b;
	subscribe_both(b->router, s, FILTERS);
	t0 = now_s();
	session_clear(w, s);
	report("session end with filters", t0, FILTERS);
	cr_assert_eq(router_count(b->router), 0);
	cr_assert_eq(session_sub_count(s), 0);
	cr_assert_eq(w->stats.unsubscribe_failed, 0);
	cr_assert_eq(matches(b->router, "site/3/dev/3", s), 0);
	/* The session stays usable. */
	subscribe_both(b->router, s, 10);
	cr_assert_eq(matches(b->router, "site/3/dev/3", s), 1);
	session_clear(w, s);
	session_unref(s);
	router_destroy(b->router);
	free(w);
	free(b);
	assert_no_leaks_rcu();
}

/* A grace period another thread waits for completes while this thread, an online
 * urcu-qsbr reader like a worker, is still inside session_clear of a big session:
 * session end passes quiescent states as it goes. The old loop passed none, so every
 * call_rcu free in the process waited for the whole session end. */
Test(subs_scale, session_end_lets_grace_periods_complete_meanwhile)
{
	struct broker *b = calloc(1, sizeof(*b));
	struct worker *w = calloc(1, sizeof(*w));
	struct session *s = session_create("big", 3, 0);
	struct unit_gp_waiter g;
	int rounds;

	cr_assert(b != NULL && w != NULL && s != NULL);
	b->router = router_create(NULL);
	w->broker = b;
	unit_gp_waiter_start(&g);
	/* Only session_clear passes quiescent states from here on. The waiter may not
	 * have begun its grace period before the first round: a few rounds at most. */
	for (rounds = 0; rounds < 20; rounds++) {
		subscribe_both(b->router, s, FILTERS);
		session_clear(w, s);
		if (unit_gp_waiter_done(&g, 100))
			break;
	}
	cr_assert(rounds < 20, "no grace period completed during 20 session ends");
	unit_gp_waiter_stop(&g);
	session_unref(s);
	router_destroy(b->router);
	free(w);
	free(b);
	assert_no_leaks_rcu();
}
