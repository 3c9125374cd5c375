/* test_sessdir.c - the session directory (dataplane/sessdir.c): a cds_lfht from client
 * id to session, with the real sessions and their reference counts. The walk is the
 * one broker_shutdown() makes: it visits every listed session once, removing each as
 * it goes, and an empty directory is walked without touching a session. Run under
 * clang's UBSan, the walk past the last node must not form a pointer from NULL
 * (cds_lfht_for_each_entry did: container_of(NULL), a pointer overflow). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "unit_util.h"

TestSuite(sessdir, .init = unit_rcu_init, .fini = unit_rcu_fini);

#define NSESS 40

struct walk {
	struct sessdir *d;
	struct session *seen[NSESS + 1];
	unsigned n;
	bool remove;
};

static void visit(void *arg, struct session *s)
{
	struct walk *wk = arg;

	cr_assert_lt(wk->n, NSESS + 1, "more visits than sessions");
	wk->seen[wk->n++] = s;
	if (wk->remove)
		sessdir_remove(wk->d, s);
}

static struct session *add(struct sessdir *d, unsigned i)
{
	char id[32];
	int len = snprintf(id, sizeof(id), "client-%u", i);
	struct session *s = session_create(id, (size_t)len, 0);

	cr_assert_not_null(s);
	cr_assert_eq(sessdir_insert(d, s), 0, "%s", id);
	return s;
}

/* Every session is visited exactly once, whatever the hash order. */
static void assert_each_once(const struct walk *wk, struct session *const *all)
{
	cr_assert_eq(wk->n, NSESS);
	for (unsigned i = 0; i < NSESS; i++) {
		unsigned hits = 0;

		for (unsigned j = 0; j < wk->n; j++)
			hits += wk->seen[j] == all[i];
		cr_assert_eq(hits, 1, "%s visited %u times", all[i]->client_id, hits);
	}
}

Test(sessdir, walking_an_empty_directory_visits_nothing)
{
	struct sessdir *d = sessdir_create();
	struct walk wk = { .d = d };

	cr_assert_not_null(d);
	rcu_read_lock();
	sessdir_for_each(d, visit, &wk);
	rcu_read_unlock();
	cr_assert_eq(wk.n, 0);
	sessdir_destroy(d);
	assert_no_leaks_rcu();
}

Test(sessdir, walk_visits_every_session_once)
{
	struct sessdir *d = sessdir_create();
	struct session *all[NSESS];
	struct walk wk = { .d = d };

	for (unsigned i = 0; i < NSESS; i++)
		all[i] = add(d, i);
	rcu_read_lock();
	sessdir_for_each(d, visit, &wk);
	rcu_read_unlock();
	assert_each_once(&wk, all);
	for (unsigned i = 0; i < NSESS; i++) {
		sessdir_remove(d, all[i]);
		session_unref(all[i]);
	}
	rcu_barrier();
	sessdir_destroy(d);
	assert_no_leaks_rcu();
}

/* What broker_shutdown does: remove each session from inside the walk. */
Test(sessdir, walk_that_removes_each_session_empties_the_directory)
{
	struct sessdir *d = sessdir_create();
	struct session *all[NSESS];
	struct walk wk = { .d = d, .remove = true };

	for (unsigned i = 0; i < NSESS; i++)
		all[i] = add(d, i);
	cr_assert_eq(sessdir_count(d), NSESS);
	rcu_read_lock();
	sessdir_for_each(d, visit, &wk);
	rcu_read_unlock();
	assert_each_once(&wk, all);
	cr_assert_eq(sessdir_count(d), 0);
	for (unsigned i = 0; i < NSESS; i++) {
		cr_assert_null(all[i]->dir_entry);
		session_unref(all[i]);
	}
	rcu_barrier();   /* the directory's references go after a grace period */
	sessdir_destroy(d);
	assert_no_leaks_rcu();
}

Test(sessdir, insert_refuses_a_second_session_with_the_same_id)
{
	struct sessdir *d = sessdir_create();
	struct session *a = add(d, 7);
	struct session *b = session_create("client-7", 8, 1);
	struct session *got;

	cr_assert_not_null(b);
	cr_assert_eq(sessdir_insert(d, b), -EEXIST);
	cr_assert_eq(atomic_load(&b->refcnt), 1, "a refused insert keeps no reference");
	got = sessdir_lookup(d, "client-7", 8);
	cr_assert_eq(got, a);
	session_unref(got);
	cr_assert_null(sessdir_lookup(d, "client-8", 8));
	sessdir_remove(d, a);
	session_unref(a);
	session_unref(b);
	rcu_barrier();
	sessdir_destroy(d);
	assert_no_leaks_rcu();
}
