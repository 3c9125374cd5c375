/* test_router.c - the subscription trie (router.c) with real liburcu-qsbr: matching per
 * MQTT 3.1.1 section 4.7, one delivery per client at its highest QoS (MQTT-3.3.5-1),
 * QoS replacement (MQTT-3.8.4-3), hold/release pairing and its grace period, and
 * pruning. Leaks are checked by running this binary under ASan or valgrind. */
#include <urcu-qsbr.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "petrel/router.h"
#include "unit_util.h"

static const struct router_params tparams = { .hold = tsub_hold, .release = tsub_release };

#define MAXRES 64

struct results {
	size_t n;
	void *sub[MAXRES];
	uint8_t qos[MAXRES];
};

static void collect(void *arg, void *sub, uint8_t qos)
{
	struct results *res = arg;

	cr_assert_lt(res->n, MAXRES);
	res->sub[res->n] = sub;
	res->qos[res->n] = qos;
	res->n++;
}

/* Runs a match inside a read-side critical section; returns what was reported. */
static struct results match(struct router *r, const char *topic)
{
	struct results res = { 0 };
	size_t n;

	rcu_read_lock();
	n = router_match(r, topic, strlen(topic), collect, &res);
	rcu_read_unlock();
	cr_assert_eq(n, res.n, "return value %zu != reported %zu", n, res.n);
	return res;
}

/* QoS reported for <s>, or -1 if not reported; fails on a second report. */
static int qos_of(const struct results *res, const struct tsub *s)
{
	int q = -1;
	size_t i;

	for (i = 0; i < res->n; i++) {
		if (res->sub[i] != s)
			continue;
		cr_assert_eq(q, -1, "subscriber %d reported twice", s->id);
		q = res->qos[i];
	}
	return q;
}

static int sub(struct router *r, const char *filter, struct tsub *s, uint8_t qos)
{
	return router_subscribe(r, filter, strlen(filter), s, qos);
}

static int unsub(struct router *r, const char *filter, struct tsub *s)
{
	return router_unsubscribe(r, filter, strlen(filter), s);
}

TestSuite(router, .init = unit_rcu_init, .fini = unit_rcu_fini);

Test(router, exact_subscription_is_reported_once_with_its_qos)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 };
	struct results res;

	cr_assert_not_null(r);
	cr_assert_eq(sub(r, "sport/tennis/player1", &a, 1), 1);
	res = match(r, "sport/tennis/player1");
	cr_assert_eq(res.n, 1);
	cr_assert_eq(qos_of(&res, &a), 1);
	cr_assert_eq(match(r, "sport/tennis").n, 0);
	cr_assert_eq(match(r, "sport/tennis/player1/ranking").n, 0);
	cr_assert_eq(match(r, "sport/tennis/player2").n, 0);
	router_destroy(r);
}

Test(router, empty_router_matches_nothing)
{
	struct router *r = router_create(&tparams);

	cr_assert_eq(match(r, "a").n, 0);
	cr_assert_eq(match(r, "$SYS/x").n, 0);
	cr_assert_eq(router_count(r), 0);
	router_destroy(r);
}

Test(router, works_without_hold_and_release)
{
	struct router *r = router_create(NULL);
	struct tsub a = { .id = 1 };

	cr_assert_eq(sub(r, "a/#", &a, 0), 1);
	cr_assert_eq(match(r, "a/b").n, 1);
	cr_assert_eq(unsub(r, "a/#", &a), 0);
	cr_assert_eq(sub(r, "b", &a, 0), 1);
	router_destroy(r);
}

Test(router, same_filter_again_replaces_the_qos)
{
	/* MQTT-3.8.4-3 */
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 };

	cr_assert_eq(sub(r, "a/b", &a, 0), 1);
	cr_assert_eq(sub(r, "a/b", &a, 2), 0);
	cr_assert_eq(router_count(r), 1);
	cr_assert_eq(qos_of((struct results[]){ match(r, "a/b") }, &a), 2);
	cr_assert_eq(sub(r, "a/b", &a, 2), 0);	/* same QoS: still a replacement */
	cr_assert_eq(sub(r, "a/b", &a, 1), 0);
	cr_assert_eq(qos_of((struct results[]){ match(r, "a/b") }, &a), 1);
	cr_assert_eq(atomic_load(&a.holds), 1, "a replacement must not hold again");
	router_destroy(r);
	cr_assert_eq(atomic_load(&a.releases), 1);
}

Test(router, unsubscribe_of_something_not_subscribed_is_enoent)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 };

	cr_assert_eq(unsub(r, "a/b", &a), -ENOENT);
	cr_assert_eq(sub(r, "a/b", &a, 0), 1);
	cr_assert_eq(unsub(r, "a/b", &b), -ENOENT);	/* other subscriber */
	cr_assert_eq(unsub(r, "a", &a), -ENOENT);	/* prefix of the filter */
	cr_assert_eq(unsub(r, "a/b/c", &a), -ENOENT);
	cr_assert_eq(unsub(r, "a/+", &a), -ENOENT);	/* a filter that matches it */
	cr_assert_eq(unsub(r, "a/#", &a), -ENOENT);
	cr_assert_eq(unsub(r, "a/b", &a), 0);
	cr_assert_eq(unsub(r, "a/b", &a), -ENOENT);	/* already gone */
	router_destroy(r);
}

Test(router, unsubscribe_removes_only_that_entry)
{
	struct router *r = router_create(&tparams);
	struct tsub s[5];
	struct results res;
	int i;

	for (i = 0; i < 5; i++) {
		s[i] = (struct tsub){ .id = i };
		cr_assert_eq(sub(r, "x/y", &s[i], (uint8_t)(i % 3)), 1);
	}
	cr_assert_eq(unsub(r, "x/y", &s[2]), 0);
	cr_assert_eq(unsub(r, "x/y", &s[0]), 0);
	res = match(r, "x/y");
	cr_assert_eq(res.n, 3);
	cr_assert_eq(qos_of(&res, &s[0]), -1);
	cr_assert_eq(qos_of(&res, &s[1]), 1);
	cr_assert_eq(qos_of(&res, &s[2]), -1);
	cr_assert_eq(qos_of(&res, &s[3]), 0);
	cr_assert_eq(qos_of(&res, &s[4]), 1);
	cr_assert_eq(router_count(r), 3);
	router_destroy(r);
}

Test(router, overlapping_filters_deliver_once_at_the_highest_qos)
{
	/* MQTT-3.3.5-1 */
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 };
	struct results res;

	cr_assert_eq(sub(r, "sport/#", &a, 0), 1);
	cr_assert_eq(sub(r, "sport/tennis/+", &a, 2), 1);
	cr_assert_eq(sub(r, "+/tennis/player1", &a, 1), 1);
	cr_assert_eq(sub(r, "#", &a, 0), 1);
	cr_assert_eq(sub(r, "sport/tennis/player1", &b, 1), 1);
	cr_assert_eq(sub(r, "sport/tennis/#", &b, 0), 1);
	res = match(r, "sport/tennis/player1");
	cr_assert_eq(res.n, 2);
	cr_assert_eq(qos_of(&res, &a), 2);
	cr_assert_eq(qos_of(&res, &b), 1);
	res = match(r, "sport/golf");
	cr_assert_eq(res.n, 1);
	cr_assert_eq(qos_of(&res, &a), 0);
	cr_assert_eq(router_count(r), 6);
	router_destroy(r);
}

Test(router, leading_wildcards_never_match_dollar_topics)
{
	/* MQTT-4.7.2-1 */
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };

	cr_assert_eq(sub(r, "#", &a, 0), 1);
	cr_assert_eq(sub(r, "+/monitor/Clients", &b, 0), 1);
	cr_assert_eq(sub(r, "+/#", &c, 0), 1);
	cr_assert_eq(match(r, "$SYS/monitor/Clients").n, 0);
	cr_assert_eq(match(r, "$SYS").n, 0);
	cr_assert_eq(match(r, "$other/x").n, 0);
	/* The same filters do match the same levels without the '$'. */
	cr_assert_eq(match(r, "SYS/monitor/Clients").n, 3);
	router_destroy(r);
}

Test(router, dollar_filters_match_dollar_topics)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
	struct results res;

	cr_assert_eq(sub(r, "$SYS/#", &a, 1), 1);
	cr_assert_eq(sub(r, "$SYS/monitor/+", &b, 2), 1);
	cr_assert_eq(sub(r, "#", &c, 0), 1);
	res = match(r, "$SYS/monitor/Clients");
	cr_assert_eq(res.n, 2);
	cr_assert_eq(qos_of(&res, &a), 1);
	cr_assert_eq(qos_of(&res, &b), 2);
	/* '#' includes the parent level. */
	cr_assert_eq(qos_of((struct results[]){ match(r, "$SYS") }, &a), 1);
	cr_assert_eq(qos_of((struct results[]){ match(r, "$SYS/x") }, &a), 1);
	router_destroy(r);
}

Test(router, wildcards_below_the_first_level_match_dollar_levels)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 };

	cr_assert_eq(sub(r, "a/+", &a, 0), 1);
	cr_assert_eq(sub(r, "a/#", &b, 0), 1);
	cr_assert_eq(match(r, "a/$x").n, 2);
	router_destroy(r);
}

Test(router, hash_matches_the_parent_level)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 };

	cr_assert_eq(sub(r, "sport/#", &a, 0), 1);
	cr_assert_eq(sub(r, "sport/tennis/player1/#", &b, 0), 1);
	cr_assert_eq(match(r, "sport").n, 1);
	cr_assert_eq(match(r, "sport/tennis/player1").n, 2);
	cr_assert_eq(match(r, "sport/tennis/player1/score/wimbledon").n, 2);
	cr_assert_eq(match(r, "sports").n, 0);
	cr_assert_eq(match(r, "other").n, 0);
	router_destroy(r);
}

Test(router, plus_matches_one_level_including_an_empty_one)
{
	struct router *r = router_create(&tparams);
	struct tsub pp = { .id = 1 }, sp = { .id = 2 }, p = { .id = 3 }, spt = { .id = 4 };
	struct results res;

	cr_assert_eq(sub(r, "+/+", &pp, 0), 1);
	cr_assert_eq(sub(r, "/+", &sp, 0), 1);
	cr_assert_eq(sub(r, "+", &p, 0), 1);
	cr_assert_eq(sub(r, "sport/+", &spt, 0), 1);
	res = match(r, "/finance");	/* 4.7.1.3 */
	cr_assert_eq(res.n, 2);
	cr_assert_neq(qos_of(&res, &pp), -1);
	cr_assert_neq(qos_of(&res, &sp), -1);
	res = match(r, "sport");
	cr_assert_eq(res.n, 1);
	cr_assert_neq(qos_of(&res, &p), -1);
	res = match(r, "sport/");
	cr_assert_eq(res.n, 2);
	cr_assert_neq(qos_of(&res, &spt), -1);
	cr_assert_neq(qos_of(&res, &pp), -1);
	router_destroy(r);
}

Test(router, zero_length_levels_are_levels)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 };

	cr_assert_eq(sub(r, "a//b", &a, 0), 1);
	cr_assert_eq(sub(r, "a/+/b", &b, 0), 1);
	cr_assert_eq(match(r, "a//b").n, 2);
	cr_assert_eq(match(r, "a/b").n, 0);
	cr_assert_eq(match(r, "a/x/b").n, 1);
	cr_assert_eq(unsub(r, "a//b", &a), 0);
	cr_assert_eq(match(r, "a//b").n, 1);
	router_destroy(r);
}

Test(router, hold_once_per_new_entry_and_release_once_per_removed_entry)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 };

	cr_assert_eq(sub(r, "a", &a, 0), 1);
	cr_assert_eq(sub(r, "a/#", &a, 0), 1);
	cr_assert_eq(sub(r, "a", &a, 1), 0);
	cr_assert_eq(atomic_load(&a.holds), 2);
	cr_assert_eq(unsub(r, "a", &a), 0);
	cr_assert_eq(unsub(r, "a", &a), -ENOENT);
	rcu_barrier();
	cr_assert_eq(atomic_load(&a.releases), 1);
	cr_assert_eq(sub(r, "a", &a, 0), 1);	/* back again: a new entry */
	cr_assert_eq(atomic_load(&a.holds), 3);
	router_destroy(r);
	cr_assert_eq(atomic_load(&a.releases), 3);
}

struct unsub_job {
	struct router *r;
	struct tsub *s;
	int rc;
};

static void unsub_job_run(void *arg)
{
	struct unsub_job *j = arg;

	j->rc = unsub(j->r, "t/x", j->s);
}

Test(router, release_waits_until_readers_pass_a_quiescent_state)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 };
	struct unsub_job job = { .r = r, .s = &a, .rc = 1 };
	struct results res = { 0 };

	cr_assert_eq(sub(r, "t/x", &a, 1), 1);
	rcu_read_lock();
	cr_assert_eq(router_match(r, "t/x", 3, collect, &res), 1);
	/* Another thread removes the entry while we still use <a>. */
	unit_run_on_rcu_thread(unsub_job_run, &job);
	cr_assert_eq(job.rc, 0);
	cr_assert_eq(router_count(r), 0);
	usleep(50 * 1000);
	cr_assert_eq(atomic_load(&a.releases), 0,
		     "released while a reader was still in its critical section");
	cr_assert_eq(res.sub[0], &a);
	rcu_read_unlock();
	rcu_quiescent_state();
	rcu_barrier();
	cr_assert_eq(atomic_load(&a.releases), 1);
	router_destroy(r);
	cr_assert_eq(atomic_load(&a.holds), 1);
	cr_assert_eq(atomic_load(&a.releases), 1);
}

Test(router, destroy_releases_remaining_entries_before_returning)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 };

	cr_assert_eq(sub(r, "a/b/c", &a, 0), 1);
	cr_assert_eq(sub(r, "a/+/c", &a, 0), 1);
	cr_assert_eq(sub(r, "#", &a, 0), 1);
	cr_assert_eq(sub(r, "a/#", &b, 0), 1);
	cr_assert_eq(sub(r, "x/y", &b, 0), 1);
	cr_assert_eq(unsub(r, "x/y", &b), 0);	/* pending in call_rcu at destroy */
	router_destroy(r);
	cr_assert_eq(atomic_load(&a.holds), 3);
	cr_assert_eq(atomic_load(&a.releases), 3);
	cr_assert_eq(atomic_load(&b.holds), 2);
	cr_assert_eq(atomic_load(&b.releases), 2);
	assert_no_leaks_rcu();
}

#define CHURN_FILTERS 300

/* Filters differ per round: without pruning, every round would leave its nodes. */
static void churn_round(struct router *r, struct tsub *s, int n, int round)
{
	char f[64];
	int i;

	for (i = 0; i < CHURN_FILTERS; i++) {
		snprintf(f, sizeof(f), "churn/%d/%d/level/%d/+/#", round, i % 7, i);
		cr_assert_eq(sub(r, f, &s[i % n], (uint8_t)(i % 3)), 1);
		snprintf(f, sizeof(f), "+/%d/%d/x", round, i);
		cr_assert_eq(sub(r, f, &s[i % n], 0), 1);
	}
	cr_assert_eq(router_count(r), 2 * CHURN_FILTERS);
	for (i = CHURN_FILTERS - 1; i >= 0; i--) {
		snprintf(f, sizeof(f), "churn/%d/%d/level/%d/+/#", round, i % 7, i);
		cr_assert_eq(unsub(r, f, &s[i % n]), 0);
		snprintf(f, sizeof(f), "+/%d/%d/x", round, i);
		cr_assert_eq(unsub(r, f, &s[i % n]), 0);
	}
	cr_assert_eq(router_count(r), 0);
	cr_assert_eq(match(r, "churn/0/1/level/1/a/b").n, 0);
}

Test(router, churn_prunes_empty_nodes_and_gives_memory_back)
{
	struct router *r = router_create(&tparams);
	struct tsub s[10];
	struct mallinfo2 before, after;
	int i;

	for (i = 0; i < 10; i++)
		s[i] = (struct tsub){ .id = i };
	/* Warm up: tables that grew stay grown, and liburcu allocates once. */
	for (i = 0; i < 3; i++)
		churn_round(r, s, 10, -i);
	rcu_barrier();
	before = mallinfo2();
	for (i = 1; i <= 10; i++)
		churn_round(r, s, 10, i);
	rcu_barrier();
	after = mallinfo2();
	/* Without pruning this grows by megabytes; the slack absorbs allocator noise.
	 * Sanitizers replace malloc and report zeros here; they check leaks themselves. */
	if (before.uordblks != 0)
		cr_assert_leq(after.uordblks, before.uordblks + 64 * 1024,
			      "heap grew from %zu to %zu bytes over churn",
			      before.uordblks, after.uordblks);
	router_destroy(r);
	for (i = 0; i < 10; i++)
		cr_assert_eq(atomic_load(&s[i].holds), atomic_load(&s[i].releases));
	assert_no_leaks_rcu();
}

struct big_results {
	int n;
	int *seen;	/* per subscriber id: qos + 1, 0 = not reported */
	int dups;
};

static void collect_big(void *arg, void *subp, uint8_t qos)
{
	struct big_results *res = arg;
	const struct tsub *s = subp;

	if (res->seen[s->id] != 0)
		res->dups++;
	res->seen[s->id] = qos + 1;
	res->n++;
}

#define BIG 10000

Test(router, ten_thousand_overlapping_subscribers_each_reported_once)
{
	struct router *r = router_create(&tparams);
	struct tsub *s = calloc(BIG, sizeof(*s));
	struct big_results res = { .seen = calloc(BIG, sizeof(int)) };
	size_t n;
	int i;

	for (i = 0; i < BIG; i++) {
		s[i].id = i;
		cr_assert_eq(sub(r, "bench/#", &s[i], 0), 1);
		if (i % 2 == 0)
			cr_assert_eq(sub(r, "bench/+/x", &s[i], 1), 1);
		if (i % 3 == 0)
			cr_assert_eq(sub(r, "+/a/x", &s[i], 2), 1);
	}
	rcu_read_lock();
	n = router_match(r, "bench/a/x", 9, collect_big, &res);
	rcu_read_unlock();
	cr_assert_eq(n, BIG);
	cr_assert_eq(res.n, BIG);
	cr_assert_eq(res.dups, 0);
	for (i = 0; i < BIG; i++) {
		int want = i % 3 == 0 ? 2 : i % 2 == 0 ? 1 : 0;

		cr_assert_eq(res.seen[i], want + 1, "subscriber %d: qos %d, want %d", i,
			     res.seen[i] - 1, want);
	}
	router_destroy(r);
	for (i = 0; i < BIG; i++)
		cr_assert_eq(atomic_load(&s[i].holds), atomic_load(&s[i].releases));
	free(res.seen);
	free(s);
	assert_no_leaks_rcu();
}

Test(router, many_siblings_at_one_level_are_all_found)
{
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 };
	char f[32];
	int i;

	for (i = 0; i < 5000; i++) {
		snprintf(f, sizeof(f), "dev/%d/temp", i);
		cr_assert_eq(sub(r, f, &a, 0), 1);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(f, sizeof(f), "dev/%d/temp", i);
		cr_assert_eq(match(r, f).n, 1, "%s not found", f);
	}
	cr_assert_eq(match(r, "dev/5000/temp").n, 0);
	for (i = 0; i < 5000; i++) {
		snprintf(f, sizeof(f), "dev/%d/temp", i);
		cr_assert_eq(unsub(r, f, &a), 0);
	}
	cr_assert_eq(router_count(r), 0);
	router_destroy(r);
	cr_assert_eq(atomic_load(&a.releases), 5000);
	assert_no_leaks_rcu();
}

/* One parent with 100000 literal children, as 100000 offline clients each on
 * bench/offline/<i> make: the child index must keep every lookup short and exact
 * (results only; topic_level's own suite bounds the probes). */
#define FANOUT 100000

Test(router, hundred_thousand_filters_under_one_parent)
{
	struct router *r = router_create(&tparams);
	struct tsub *s = calloc(FANOUT, sizeof(*s));
	char f[48];
	int i;

	cr_assert_not_null(s);
	for (i = 0; i < FANOUT; i++) {
		s[i].id = i;
		snprintf(f, sizeof(f), "bench/offline/%d", i);
		cr_assert_eq(sub(r, f, &s[i], (uint8_t)(i % 3)), 1);
	}
	cr_assert_eq(router_count(r), FANOUT);
	for (i = 0; i < FANOUT; i++) {
		struct results res;

		snprintf(f, sizeof(f), "bench/offline/%d", i);
		res = match(r, f);
		cr_assert_eq(res.n, 1, "%s: %zu reports", f, res.n);
		cr_assert_eq(res.sub[0], &s[i], "%s: wrong subscriber", f);
		cr_assert_eq(res.qos[0], i % 3);
	}
	cr_assert_eq(match(r, "bench/offline/100000").n, 0);
	cr_assert_eq(match(r, "bench/offline").n, 0);
	cr_assert_eq(match(r, "bench/offline/1/x").n, 0);
	for (i = 0; i < FANOUT; i++) {
		snprintf(f, sizeof(f), "bench/offline/%d", i);
		cr_assert_eq(unsub(r, f, &s[i]), 0);
	}
	cr_assert_eq(router_count(r), 0);
	cr_assert_eq(match(r, "bench/offline/7").n, 0);
	router_destroy(r);
	for (i = 0; i < FANOUT; i++) {
		cr_assert_eq(atomic_load(&s[i].holds), 1);
		cr_assert_eq(atomic_load(&s[i].releases), 1);
	}
	free(s);
	assert_no_leaks_rcu();
}

struct nested {
	struct router *r;
	struct results inner;
	size_t outer;
};

static void collect_and_match_again(void *arg, void *subp, uint8_t qos)
{
	struct nested *n = arg;

	n->outer++;
	router_match(n->r, "b/c", 3, collect, &n->inner);
}

Test(router, match_called_from_the_callback_does_not_disturb_the_outer_match)
{
	struct router *r = router_create(&tparams);
	struct tsub s[20];
	struct nested n = { .r = r };
	int i;

	for (i = 0; i < 20; i++) {
		s[i] = (struct tsub){ .id = i };
		cr_assert_eq(sub(r, i < 10 ? "a/#" : "a/+", &s[i], 0), 1);
		cr_assert_eq(sub(r, "a/b", &s[i], 1), 1);	/* duplicates: dedup runs */
	}
	cr_assert_eq(sub(r, "b/c", &s[0], 2), 1);
	rcu_read_lock();
	cr_assert_eq(router_match(r, "a/b", 3, collect_and_match_again, &n), 20);
	rcu_read_unlock();
	cr_assert_eq(n.outer, 20);
	cr_assert_eq(n.inner.n, 20);
	for (i = 0; i < 20; i++) {
		cr_assert_eq(n.inner.sub[i], &s[0]);
		cr_assert_eq(n.inner.qos[i], 2);
	}
	router_destroy(r);
	assert_no_leaks_rcu();
}

Test(router, deep_topics_match_through_many_wildcard_branches)
{
	/* More levels than the initial walk stack: the per-thread scratch must grow. */
	enum { LEVELS = 300 };
	static char filter[2 * LEVELS], topic[2 * LEVELS];
	struct router *r = router_create(&tparams);
	struct tsub a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
	struct results res;
	int i;

	for (i = 0; i < LEVELS; i++) {
		filter[2 * i] = '+';
		filter[2 * i + 1] = '/';
		topic[2 * i] = 'l';
		topic[2 * i + 1] = '/';
	}
	filter[2 * LEVELS - 1] = '\0';
	topic[2 * LEVELS - 1] = '\0';
	cr_assert_eq(sub(r, filter, &a, 1), 1);
	cr_assert_eq(sub(r, topic, &b, 2), 1);
	filter[2 * LEVELS - 2] = '#';
	cr_assert_eq(sub(r, filter, &c, 0), 1);
	res = match(r, topic);
	cr_assert_eq(res.n, 3);
	cr_assert_eq(qos_of(&res, &a), 1);
	cr_assert_eq(qos_of(&res, &b), 2);
	cr_assert_eq(qos_of(&res, &c), 0);
	router_destroy(r);
	assert_no_leaks_rcu();
}

/* Session end (session_clear) cannot undo a failed unsubscribe: the router would keep
 * an entry, and a reference, for a session that forgot the filter. So removal must
 * allocate nothing. The old copy-on-write array needed a 4 MB copy here and returned
 * -ENOMEM, which session_clear ignored. The address-space limit makes any new mapping
 * fail; ASan maps its own way and turns a failed allocation into an abort, so the
 * check runs in the plain build only (PETREL_TEST_ASAN: meson knows; clang defines no
 * __SANITIZE_ADDRESS__). */
#define NOMEM_SUBS 200000

#ifndef PETREL_TEST_ASAN
static size_t vm_size_bytes(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}
#endif

Test(router, unsubscribe_allocates_nothing_so_it_cannot_fail_for_lack_of_memory)
{
#ifdef PETREL_TEST_ASAN
	cr_skip_test("address-space limit and ASan do not mix");
#else
	struct router *r = router_create(&tparams);
	struct tsub *s = calloc(NOMEM_SUBS, sizeof(*s));
	struct rlimit lim;
	int i;

	cr_assert_not_null(s);
	for (i = 0; i < NOMEM_SUBS; i++)
		cr_assert_eq(sub(r, "a/b", &s[i], 1), 1);
	cr_assert_eq(unsub(r, "a/b", &s[0]), 0);	/* call_rcu's thread exists now */
	cr_assert_eq(getrlimit(RLIMIT_AS, &lim), 0);
	lim.rlim_cur = vm_size_bytes() + (1u << 20);
	cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
	cr_assert_null(malloc(8u << 20), "the limit is in force");
	for (i = 1; i < 1000; i++)
		cr_assert_eq(unsub(r, "a/b", &s[i]), 0, "unsubscribe %d under the limit", i);
	cr_assert_eq(router_count(r), NOMEM_SUBS - 1000);
	cr_assert_eq(unsub(r, "a/b", &s[NOMEM_SUBS - 1]), 0, "the last one too");
	lim.rlim_cur = lim.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
	router_destroy(r);
	free(s);
#endif
}
