/* test_topic_level.c - the child index of the topic tries (topic_level.c), driven
 * directly with real liburcu-qsbr: insert, lookup and delete, hash collisions, 100000
 * children under one node with every one found in a bounded number of probes (the
 * bound is checked on the index's own probe statistics, not on time, so the test
 * fails if the index degenerates into long chains), tombstone reuse and the rebuilds
 * that sweep them, shrinking after a mass delete, the walk over all children, and
 * readers probing while a writer inserts, deletes and rebuilds. Freed memory read by
 * a reader is caught by running this binary under ASan. */
#include <urcu-qsbr.h>

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "petrel/compiler.h"
#include "petrel/topic_level.h"
#include "unit_util.h"

/* A trie node as the index sees it: the child header right before the level bytes. */
struct tnode {
	struct rcu_head rcu;
	int id;
	bool stable;
	struct topic_level_child tl;
	char level[24];
};
TOPIC_LEVEL_CHILD_LAYOUT(struct tnode, tl, level);

static void tn_name(struct tnode *n, int id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void tn_name(struct tnode *n, int id, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(n->level, sizeof(n->level), fmt, ap);
	va_end(ap);
	cr_assert(len >= 0 && (size_t)len < sizeof(n->level));
	n->id = id;
	n->tl.len = (uint32_t)len;
	n->tl.hash = topic_level_hash(n->level, (size_t)len);
}

static struct tnode *tn_of(struct topic_level_child *c)
{
	return c != NULL ? container_of(c, struct tnode, tl) : NULL;
}

/* Lookup of <level> as a reader would do it. */
static struct tnode *find(struct topic_level_index **children, const char *level)
{
	struct tnode *n;

	rcu_read_lock();
	n = tn_of(topic_level_lookup(rcu_dereference(*children), level, strlen(level),
				     topic_level_hash(level, strlen(level))));
	rcu_read_unlock();
	return n;
}

static struct topic_level_stats stats(const struct topic_level_index *idx)
{
	struct topic_level_stats st;

	topic_level_index_stats(idx, &st);
	return st;
}

/* What the index promises about its shape after every insert and delete. */
static void check_shape(const struct topic_level_index *idx, uint32_t want_used)
{
	struct topic_level_stats st = stats(idx);

	cr_assert_eq(st.used, want_used);
	if (want_used == 0) {
		cr_assert_null(idx, "an empty index is freed");
		return;
	}
	cr_assert_eq(st.cap & (st.cap - 1), 0, "cap %u is not a power of two", st.cap);
	cr_assert_leq(((uint64_t)st.used + st.tombs) * 4, (uint64_t)st.cap * 3,
		      "used %u + tombs %u over 3/4 of cap %u", st.used, st.tombs, st.cap);
	cr_assert(st.cap <= 8 || (uint64_t)st.used * 8 >= st.cap,
		  "cap %u kept for only %u children", st.cap, st.used);
}

TestSuite(topic_level, .init = unit_rcu_init, .fini = unit_rcu_fini);

Test(topic_level, insert_lookup_delete)
{
	struct topic_level_index *children = NULL;
	struct tnode n[3];
	uint32_t pos = 0;

	cr_assert_null(find(&children, "a"));
	cr_assert_null(topic_level_next_child(children, &pos));
	tn_name(&n[0], 0, "a");
	tn_name(&n[1], 1, "b");
	tn_name(&n[2], 2, "%s", "");	/* "": a zero-length level is a level */
	cr_assert_eq(topic_level_insert(&children, &n[0].tl), 0);
	cr_assert_eq(stats(children).cap, 4, "starts small");
	cr_assert_eq(topic_level_insert(&children, &n[1].tl), 0);
	cr_assert_eq(topic_level_insert(&children, &n[2].tl), 0);
	check_shape(children, 3);
	cr_assert_eq(find(&children, "a"), &n[0]);
	cr_assert_eq(find(&children, "b"), &n[1]);
	cr_assert_eq(find(&children, ""), &n[2]);
	cr_assert_null(find(&children, "c"));
	cr_assert_null(find(&children, "ab"));

	topic_level_delete(&children, &n[1].tl);
	check_shape(children, 2);
	cr_assert_null(find(&children, "b"));
	cr_assert_eq(find(&children, "a"), &n[0]);
	cr_assert_eq(find(&children, ""), &n[2]);
	topic_level_delete(&children, &n[0].tl);
	topic_level_delete(&children, &n[2].tl);
	check_shape(children, 0);
	cr_assert_null(find(&children, ""));
	assert_no_leaks_rcu();
}

/* The index trusts the hash it is given: equal hashes must still be told apart by
 * the level bytes, and a probe must go on past them. */
Test(topic_level, equal_hashes_are_told_apart_by_the_level)
{
	struct topic_level_index *children = NULL;
	struct tnode n[6];
	char name[8];
	int i;

	for (i = 0; i < 6; i++) {
		tn_name(&n[i], i, "x%d", i);
		n[i].tl.hash = 42;
		cr_assert_eq(topic_level_insert(&children, &n[i].tl), 0);
	}
	check_shape(children, 6);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		cr_assert_eq(tn_of(topic_level_lookup(children, name, strlen(name), 42)),
			     &n[i]);
		/* The right bytes under another hash are another level. */
		cr_assert_null(find(&children, name));
	}
	cr_assert_null(topic_level_lookup(children, "x6", 2, 42));
	cr_assert_eq(stats(children).probe_max, 6, "six children share one home");
	for (i = 0; i < 6; i++)
		topic_level_delete(&children, &n[i].tl);
	check_shape(children, 0);
	assert_no_leaks_rcu();
}

#define MANY 100000

/* The case that broke the cds_lfht tables: one node, 100000 literal children
 * (bench/offline/<i>). Every one must be found, misses must end, and the probe
 * counts must stay those of a table at most 3/4 full. */
Test(topic_level, hundred_thousand_children_are_found_with_short_probes)
{
	struct topic_level_index *children = NULL;
	struct tnode *n = calloc(MANY, sizeof(*n));
	struct topic_level_stats st;
	char name[24];
	int i;

	cr_assert_not_null(n);
	for (i = 0; i < MANY; i++) {
		tn_name(&n[i], i, "%d", i);
		cr_assert_eq(topic_level_insert(&children, &n[i].tl), 0);
		if (i % 4096 == 4095) {
			st = stats(children);
			check_shape(children, (uint32_t)i + 1);
			cr_assert_leq(st.probe_sum, 3 * st.used,
				      "%u children: %llu probes, a chain is forming", st.used,
				      (unsigned long long)st.probe_sum);
			/* Up to 3/4 full, linear probing averages 2.5 slots per hit; its
			 * longest probes reach about a hundred here. Chains are thousands. */
			cr_assert_leq(st.probe_max, 256, "%u children: a probe of %u slots",
				      st.used, st.probe_max);
			cr_assert_leq(st.run_max, 512, "%u children: a miss of %u slots",
				      st.used, st.run_max);
		}
	}
	st = stats(children);
	check_shape(children, MANY);
	/* Just after a doubling: at most 1/2 full. */
	cr_assert_leq(st.cap, 4 * MANY);
	cr_assert_leq(st.probe_sum, 2 * st.used, "mean probe over 2 slots (%llu / %u)",
		      (unsigned long long)st.probe_sum, st.used);
	cr_assert_leq(st.probe_max, 64, "a present child takes %u probes", st.probe_max);
	cr_assert_leq(st.run_max, 128, "a miss may take %u probes", st.run_max);
	for (i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "%d", i);
		cr_assert_eq(find(&children, name), &n[i], "%s not found", name);
		snprintf(name, sizeof(name), "%dx", i);
		cr_assert_null(find(&children, name));
	}
	for (i = 0; i < MANY; i++)
		topic_level_delete(&children, &n[i].tl);
	check_shape(children, 0);
	rcu_barrier();
	free(n);
	assert_no_leaks_rcu();
}

/* Slot of every child, from the walk: the only view of the layout the API gives. */
static struct tnode *child_at(const struct topic_level_index *idx, uint32_t slot)
{
	struct topic_level_child *c;
	uint32_t pos = 0;

	while ((c = topic_level_next_child(idx, &pos)) != NULL) {
		if (pos - 1 == slot)
			return tn_of(c);
	}
	return NULL;
}

Test(topic_level, a_tombstone_is_reused_by_the_next_insert_on_its_probe)
{
	struct topic_level_index *children = NULL;
	struct tnode n[5], *mid = NULL;
	struct topic_level_stats st;
	uint32_t s;
	int i;

	/* Four children with one home fill four slots in a row in a cap-8 index. */
	for (i = 0; i < 4; i++) {
		tn_name(&n[i], i, "t%d", i);
		n[i].tl.hash = 7;
		cr_assert_eq(topic_level_insert(&children, &n[i].tl), 0);
	}
	st = stats(children);
	cr_assert_eq(st.cap, 8);
	/* A child with a live child after it leaves a tombstone, not a hole. */
	for (s = 0; s < st.cap && mid == NULL; s++) {
		if (child_at(children, s) != NULL && child_at(children, (s + 1) % st.cap))
			mid = child_at(children, s);
	}
	cr_assert_not_null(mid);
	topic_level_delete(&children, &mid->tl);
	st = stats(children);
	cr_assert_eq(st.tombs, 1);
	cr_assert_eq(st.used, 3);
	for (i = 0; i < 4; i++) {
		if (&n[i] != mid)
			cr_assert_eq(tn_of(topic_level_lookup(children, n[i].level,
							      n[i].tl.len, 7)), &n[i]);
	}
	/* The next child on that probe takes the tombstone's slot: no growth. */
	tn_name(&n[4], 4, "t4");
	n[4].tl.hash = 7;
	cr_assert_eq(topic_level_insert(&children, &n[4].tl), 0);
	st = stats(children);
	cr_assert_eq(st.cap, 8);
	cr_assert_eq(st.tombs, 0);
	cr_assert_eq(st.used, 4);
	cr_assert_eq(st.probe_max, 4);
	for (i = 0; i < 5; i++) {
		if (&n[i] == mid)
			continue;
		cr_assert_eq(tn_of(topic_level_lookup(children, n[i].level, n[i].tl.len, 7)),
			     &n[i]);
		topic_level_delete(&children, &n[i].tl);
	}
	check_shape(children, 0);
	assert_no_leaks_rcu();
}

/* A bounded live set under endless churn of new names: tombstones never make the
 * array grow, rebuilds at the same size sweep them, every live child stays found. */
Test(topic_level, churn_keeps_the_index_small_and_sweeps_tombstones)
{
	enum { LIVE = 20, STEPS = 100000 };
	struct topic_level_index *children = NULL;
	struct tnode *n = calloc(STEPS, sizeof(*n));
	struct topic_level_stats before, after;
	int i, j, sweeps = 0;

	cr_assert_not_null(n);
	for (i = 0; i < STEPS; i++) {
		tn_name(&n[i], i, "c%d", i);
		before = stats(children);
		cr_assert_eq(topic_level_insert(&children, &n[i].tl), 0);
		after = stats(children);
		/* A reused tombstone goes one at a time; a rebuild takes them all. */
		if (after.cap == before.cap && before.tombs > 1 && after.tombs == 0)
			sweeps++;
		if (i >= LIVE)
			topic_level_delete(&children, &n[i - LIVE].tl);
		check_shape(children, i >= LIVE ? LIVE : (uint32_t)i + 1);
		cr_assert_leq(stats(children).cap, 64, "cap %u for %d children",
			      stats(children).cap, LIVE);
		if (i % 997 == 0) {
			for (j = i >= LIVE - 1 ? i - LIVE + 1 : 0; j <= i; j++)
				cr_assert_eq(find(&children, n[j].level), &n[j]);
			if (i >= LIVE)
				cr_assert_null(find(&children, n[i - LIVE].level));
		}
	}
	cr_assert_gt(sweeps, 0, "no same-size rebuild swept the tombstones");
	for (i = STEPS - LIVE; i < STEPS; i++)
		topic_level_delete(&children, &n[i].tl);
	check_shape(children, 0);
	rcu_barrier();
	free(n);
	assert_no_leaks_rcu();
}

Test(topic_level, mass_delete_shrinks_the_index)
{
	struct topic_level_index *children = NULL;
	struct tnode *n = calloc(MANY, sizeof(*n));
	int i;

	cr_assert_not_null(n);
	for (i = 0; i < MANY; i++) {
		tn_name(&n[i], i, "m%d", i);
		cr_assert_eq(topic_level_insert(&children, &n[i].tl), 0);
	}
	cr_assert_geq(stats(children).cap, 2 * (MANY * 3 / 4));
	/* Deleted in an order unrelated to the layout; check_shape() holds the array
	 * to at most 8 slots per child all the way down. */
	for (i = 0; i < MANY - 10; i++) {
		topic_level_delete(&children, &n[(i * 7919) % MANY].tl);
		if (i % 1000 == 0 || i > MANY - 100)
			check_shape(children, (uint32_t)(MANY - i - 1));
	}
	cr_assert_leq(stats(children).cap, 64, "cap %u for 10 children", stats(children).cap);
	/* 7919 is prime to MANY, so the 10 left are the last 10 of that sequence. */
	for (i = MANY - 10; i < MANY; i++) {
		struct tnode *c = &n[(i * 7919) % MANY];

		cr_assert_eq(find(&children, c->level), c);
		topic_level_delete(&children, &c->tl);
	}
	check_shape(children, 0);
	rcu_barrier();
	free(n);
	assert_no_leaks_rcu();
}

Test(topic_level, the_walk_visits_each_live_child_once)
{
	enum { N = 1000 };
	struct topic_level_index *children = NULL;
	struct tnode *n = calloc(N, sizeof(*n));
	int seen[N] = { 0 }, i, visits = 0;
	struct topic_level_child *c;
	uint32_t pos = 0;

	cr_assert_not_null(n);
	for (i = 0; i < N; i++) {
		tn_name(&n[i], i, "w%d", i);
		cr_assert_eq(topic_level_insert(&children, &n[i].tl), 0);
	}
	for (i = 0; i < N; i += 3)
		topic_level_delete(&children, &n[i].tl);
	cr_assert_gt(stats(children).tombs, 0, "the walk must step over tombstones");
	rcu_read_lock();
	while ((c = topic_level_next_child(rcu_dereference(children), &pos)) != NULL) {
		seen[tn_of(c)->id]++;
		visits++;
	}
	rcu_read_unlock();
	cr_assert_eq(visits, N - (N + 2) / 3);
	for (i = 0; i < N; i++)
		cr_assert_eq(seen[i], i % 3 == 0 ? 0 : 1, "child %d seen %d times", i,
			     seen[i]);
	for (i = 0; i < N; i++) {
		if (i % 3 != 0)
			topic_level_delete(&children, &n[i].tl);
	}
	check_shape(children, 0);
	rcu_barrier();
	free(n);
	assert_no_leaks_rcu();
}

/* ---- readers against a writer ---- */

#define NSTABLE		64
#define NREADERS	3
#define CHURN_MAX	1500	/* grows the index from 128 to 4096 slots and back */
#define RUN_MS		1500
#define MAX_ROUNDS	400

static struct topic_level_index *shared;	/* the node's children pointer */
/* A node whose one child comes and goes: its index is made and freed over and over. */
static struct topic_level_index *sparse;
static atomic_int sparse_now;
static struct tnode stable_nodes[NSTABLE];
static atomic_bool done;
static atomic_int round_now;
static atomic_long reader_failures;
static atomic_long reader_iters;
static char reader_failure[256];

static void reader_fail(const char *what, int id)
{
	if (atomic_fetch_add(&reader_failures, 1) == 0)
		snprintf(reader_failure, sizeof(reader_failure), "%s (child %d)", what, id);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *reader_main(void *arg)
{
	uint32_t rnd = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
	unsigned long iters = 0;

	rcu_register_thread();
	while (!atomic_load(&done)) {
		const struct topic_level_index *idx;
		int seen[NSTABLE] = { 0 }, i, stable_seen = 0;
		struct topic_level_child *c;
		uint32_t pos = 0;
		char name[24];

		rcu_read_lock();
		idx = rcu_dereference(shared);
		for (i = 0; i < NSTABLE; i++) {
			struct tnode *s = &stable_nodes[i];

			if (tn_of(topic_level_lookup(idx, s->level, s->tl.len, s->tl.hash)) != s)
				reader_fail("stable child not found", i);
		}
		/* Churn names: found or not, what is found must be alive and right. */
		for (i = 0; i < 16; i++) {
			struct tnode *t;

			rnd ^= rnd << 13;
			rnd ^= rnd >> 17;
			rnd ^= rnd << 5;
			snprintf(name, sizeof(name), "r%d.%u", atomic_load(&round_now),
				 rnd % CHURN_MAX);
			t = tn_of(topic_level_lookup(idx, name, strlen(name),
						     topic_level_hash(name, strlen(name))));
			if (t != NULL && (t->stable || strcmp(t->level, name) != 0))
				reader_fail("wrong child for a churn name", t->id);
		}
		while ((c = topic_level_next_child(idx, &pos)) != NULL) {
			struct tnode *t = tn_of(c);

			if (t->stable) {
				seen[t->id]++;
				stable_seen++;
			} else if (t->level[0] != 'r') {	/* reads the child: ASan */
				reader_fail("walk met a bad child", t->id);
			}
		}
		idx = rcu_dereference(sparse);
		snprintf(name, sizeof(name), "f%d", atomic_load(&sparse_now));
		c = topic_level_lookup(idx, name, strlen(name),
				       topic_level_hash(name, strlen(name)));
		if (c != NULL && strcmp(tn_of(c)->level, name) != 0)
			reader_fail("wrong child in the sparse node", tn_of(c)->id);
		pos = 0;
		while ((c = topic_level_next_child(idx, &pos)) != NULL) {
			if (tn_of(c)->level[0] != 'f')
				reader_fail("walk met a bad child in the sparse node",
					    tn_of(c)->id);
		}
		rcu_read_unlock();
		if (stable_seen != NSTABLE)
			reader_fail("walk did not see every stable child", stable_seen);
		for (i = 0; i < NSTABLE; i++) {
			if (seen[i] != 1)
				reader_fail("walk saw a stable child other than once", i);
		}
		rcu_quiescent_state();
		iters++;
	}
	atomic_fetch_add(&reader_iters, (long)iters);
	rcu_unregister_thread();
	return NULL;
}

static void tnode_free_cb(struct rcu_head *head)
{
	free(container_of(head, struct tnode, rcu));
}

/* Writer: a grace period before a deleted child is freed, as the tries do. */
static void churn_delete(struct topic_level_index **children, struct tnode *t)
{
	topic_level_delete(children, &t->tl);
	call_rcu(&t->rcu, tnode_free_cb);
}

/* Writer: gives the sparse node its only child, or takes it away (and its index). */
static void sparse_flip(struct tnode **child, int n)
{
	if (*child != NULL) {
		churn_delete(&sparse, *child);
		*child = NULL;
		return;
	}
	*child = calloc(1, sizeof(**child));
	cr_assert_not_null(*child);
	tn_name(*child, n, "f%d", n);
	cr_assert_eq(topic_level_insert(&sparse, &(*child)->tl), 0);
	atomic_store(&sparse_now, n);
}

Test(topic_level, readers_find_stable_children_and_no_freed_memory_while_the_writer_rebuilds)
{
	pthread_t rd[NREADERS];
	static struct tnode *churn[CHURN_MAX];
	struct tnode *sparse_child = NULL;
	uint64_t deadline;
	int i, r, rounds = 0;

	for (i = 0; i < NSTABLE; i++) {
		tn_name(&stable_nodes[i], i, "s%d", i);
		stable_nodes[i].stable = true;
		cr_assert_eq(topic_level_insert(&shared, &stable_nodes[i].tl), 0);
	}
	for (i = 0; i < NREADERS; i++)
		cr_assert_eq(pthread_create(&rd[i], NULL, reader_main, (void *)(uintptr_t)i), 0);
	deadline = now_ms() + RUN_MS;
	for (r = 0; r < MAX_ROUNDS && (r < 2 || now_ms() < deadline); r++) {
		atomic_store(&round_now, r);
		/* Grow through several rebuilds. */
		for (i = 0; i < CHURN_MAX; i++) {
			churn[i] = calloc(1, sizeof(*churn[i]));
			cr_assert_not_null(churn[i]);
			tn_name(churn[i], i, "r%d.%d", r, i);
			cr_assert_eq(topic_level_insert(&shared, &churn[i]->tl), 0);
			if (i % 16 == 0)
				sparse_flip(&sparse_child, r * CHURN_MAX + i);
			if (i % 64 == 0)
				rcu_quiescent_state();
		}
		/* Every other one first: tombstones, then shrinking rebuilds. */
		for (i = 0; i < CHURN_MAX; i += 2)
			churn_delete(&shared, churn[i]);
		rcu_quiescent_state();
		for (i = 1; i < CHURN_MAX; i += 2) {
			churn_delete(&shared, churn[i]);
			if (i % 64 == 1)
				rcu_quiescent_state();
		}
		check_shape(shared, NSTABLE);
		rcu_quiescent_state();
		rounds++;
	}
	atomic_store(&done, true);
	for (i = 0; i < NREADERS; i++)
		pthread_join(rd[i], NULL);
	cr_assert_eq(atomic_load(&reader_failures), 0, "%ld reader failures, first: %s",
		     atomic_load(&reader_failures), reader_failure);
	cr_log_info("%d writer rounds, %ld reader passes", rounds,
		    atomic_load(&reader_iters));
	cr_assert_gt(atomic_load(&reader_iters), 0);
	cr_assert_geq(rounds, 2);
	for (i = 0; i < NSTABLE; i++)
		topic_level_delete(&shared, &stable_nodes[i].tl);
	check_shape(shared, 0);
	if (sparse_child != NULL)
		churn_delete(&sparse, sparse_child);
	check_shape(sparse, 0);
	assert_no_leaks_rcu();
}
