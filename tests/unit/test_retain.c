/* test_retain.c - retained messages (retain.c) with real liburcu-qsbr and real msg
 * refcounts: set/replace/delete (MQTT-3.3.1-5, -10, -11), wildcard lookup checked
 * against the reference matcher of topic.c (MQTT 3.1.1 section 4.7, '$' rule
 * MQTT-4.7.2-1), reclamation after a grace period, pruning. Leaks are checked by
 * running this binary under ASan or valgrind. */
#include <urcu-qsbr.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "petrel/msg.h"
#include "petrel/retain.h"
#include "petrel/topic.h"
#include "unit_util.h"

static struct msg *mk(const char *topic, const char *payload)
{
	struct msg *m = msg_create(topic, strlen(topic), payload, strlen(payload), 1, true);

	cr_assert_not_null(m);
	return m;
}

/* Stores a new message on <topic> and drops the caller's reference. */
static void put(struct retain_store *rs, const char *topic, const char *payload)
{
	struct msg *m = mk(topic, payload);

	cr_assert_eq(retain_set(rs, m), 0);
	msg_unref(m);
}

static unsigned refs(struct msg *m)
{
	return atomic_load(&m->refcnt);
}

#define MAXRES 64

struct results {
	size_t n;
	struct msg *m[MAXRES];
};

static void collect(void *arg, struct msg *m)
{
	struct results *res = arg;

	cr_assert_lt(res->n, MAXRES);
	res->m[res->n++] = m;
}

static struct results lookup(struct retain_store *rs, const char *filter)
{
	struct results res = { 0 };
	size_t n;

	cr_assert(topic_filter_valid(filter, strlen(filter)));
	rcu_read_lock();
	n = retain_match(rs, filter, strlen(filter), collect, &res);
	rcu_read_unlock();
	cr_assert_eq(n, res.n);
	return res;
}

static bool has_topic(const struct results *res, const char *topic)
{
	size_t i;

	for (i = 0; i < res->n; i++) {
		if (strcmp(res->m[i]->topic, topic) == 0)
			return true;
	}
	return false;
}

TestSuite(retain, .init = unit_rcu_init, .fini = unit_rcu_fini);

Test(retain, stored_message_is_found_by_its_exact_topic)
{
	struct retain_store *rs = retain_create();
	struct msg *m = mk("sport/tennis/player1", "15-0");
	struct results res;

	cr_assert_not_null(rs);
	cr_assert_eq(retain_set(rs, m), 0);
	cr_assert_eq(refs(m), 2, "the store takes its own reference");
	cr_assert_eq(retain_count(rs), 1);
	res = lookup(rs, "sport/tennis/player1");
	cr_assert_eq(res.n, 1);
	cr_assert_eq(res.m[0], m);
	cr_assert_eq(lookup(rs, "sport/tennis").n, 0);
	cr_assert_eq(lookup(rs, "sport/tennis/player1/ranking").n, 0);
	retain_destroy(rs);
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
}

Test(retain, a_new_message_replaces_the_old_one_which_is_freed_after_a_grace_period)
{
	/* MQTT-3.3.1-5: one retained message per topic. */
	struct retain_store *rs = retain_create();
	struct msg *m1 = mk("a/b", "one"), *m2 = mk("a/b", "two");
	struct results res;

	cr_assert_eq(retain_set(rs, m1), 0);
	cr_assert_eq(retain_set(rs, m2), 0);
	cr_assert_eq(retain_count(rs), 1);
	res = lookup(rs, "a/b");
	cr_assert_eq(res.n, 1);
	cr_assert_eq(res.m[0], m2);
	/* We are an online QSBR reader that has not passed a quiescent state: the
	 * store's reference on m1 must still be there. */
	cr_assert_eq(refs(m1), 2);
	rcu_quiescent_state();
	rcu_barrier();
	cr_assert_eq(refs(m1), 1);
	cr_assert_eq(refs(m2), 2);
	msg_unref(m1);
	retain_destroy(rs);
	cr_assert_eq(refs(m2), 1);
	msg_unref(m2);
}

Test(retain, setting_the_same_message_twice_keeps_one_reference)
{
	struct retain_store *rs = retain_create();
	struct msg *m = mk("a", "x");

	cr_assert_eq(retain_set(rs, m), 0);
	cr_assert_eq(retain_set(rs, m), 0);
	rcu_barrier();
	cr_assert_eq(refs(m), 2);
	cr_assert_eq(retain_count(rs), 1);
	retain_destroy(rs);
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
}

Test(retain, zero_length_payload_deletes_and_is_not_stored)
{
	/* MQTT-3.3.1-10, MQTT-3.3.1-11 */
	struct retain_store *rs = retain_create();
	struct msg *m = mk("a/b", "x"), *del = mk("a/b", "");

	cr_assert_eq(retain_set(rs, m), 0);
	cr_assert_eq(retain_set(rs, del), 0);
	cr_assert_eq(refs(del), 1, "a delete must not be retained");
	cr_assert_eq(retain_count(rs), 0);
	cr_assert_eq(lookup(rs, "a/b").n, 0);
	cr_assert_eq(lookup(rs, "#").n, 0);
	rcu_barrier();
	cr_assert_eq(refs(m), 1);
	msg_unref(m);
	msg_unref(del);
	retain_destroy(rs);
}

Test(retain, deleting_a_topic_with_nothing_retained_is_harmless)
{
	struct retain_store *rs = retain_create();
	struct msg *del = mk("a/b", "");

	put(rs, "a", "keep");
	put(rs, "a/b/c", "keep");
	cr_assert_eq(retain_set(rs, del), 0);	/* node exists, no message */
	cr_assert_eq(retain_set(rs, del), 0);
	msg_unref(del);
	del = mk("x/y", "");
	cr_assert_eq(retain_set(rs, del), 0);	/* no node at all */
	msg_unref(del);
	cr_assert_eq(retain_count(rs), 2);
	cr_assert_eq(lookup(rs, "a/#").n, 2);
	retain_destroy(rs);
}

Test(retain, delete_keeps_the_messages_above_and_below)
{
	struct retain_store *rs = retain_create();
	struct msg *del = mk("a/b", "");

	put(rs, "a", "1");
	put(rs, "a/b", "2");
	put(rs, "a/b/c", "3");
	cr_assert_eq(retain_set(rs, del), 0);
	msg_unref(del);
	cr_assert(has_topic((struct results[]){ lookup(rs, "a") }, "a"));
	cr_assert(has_topic((struct results[]){ lookup(rs, "a/b/c") }, "a/b/c"));
	cr_assert_eq(lookup(rs, "a/b").n, 0);
	cr_assert_eq(lookup(rs, "#").n, 2);
	retain_destroy(rs);
}

static const char *const stored[] = {
	"sport", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
	"sport/tennis/player1/score/wimbledon", "sport/tennis/player2", "sport/golf",
	"sport/", "/finance", "finance", "/", "a//b", "$SYS", "$SYS/monitor/Clients",
	"$SYS/broker/load", "x/$y", "Accounts payable",
};

static const char *const filters[] = {
	"#", "+", "+/+", "/+", "+/#", "sport/#", "sport/+", "sport/tennis/+",
	"sport/tennis/player1/#", "+/tennis/#", "sport/+/player1", "sport/tennis/#",
	"$SYS/#", "$SYS/monitor/+", "+/monitor/Clients", "$SYS", "a/+/b", "+/+/+",
	"x/+", "x/#", "finance", "/finance", "sport/tennis/player1", "nothing/#",
	"Accounts payable", "+/$y",
};

Test(retain, wildcard_lookups_agree_with_the_reference_matcher)
{
	struct retain_store *rs = retain_create();
	size_t i, j;

	for (i = 0; i < sizeof(stored) / sizeof(stored[0]); i++)
		put(rs, stored[i], stored[i]);
	cr_assert_eq(retain_count(rs), sizeof(stored) / sizeof(stored[0]));
	for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		const char *f = filters[i];
		struct results res = lookup(rs, f);
		size_t want = 0;

		for (j = 0; j < sizeof(stored) / sizeof(stored[0]); j++) {
			bool m = topic_matches(f, strlen(f), stored[j], strlen(stored[j]));

			want += m;
			cr_assert_eq(has_topic(&res, stored[j]), m, "filter %s, topic %s: %s", f,
				     stored[j], m ? "missing" : "reported but must not match");
		}
		cr_assert_eq(res.n, want, "filter %s: %zu reported, want %zu", f, res.n, want);
	}
	retain_destroy(rs);
	assert_no_leaks_rcu();
}

Test(retain, hash_filter_includes_the_parent_topic)
{
	struct retain_store *rs = retain_create();

	put(rs, "a", "parent");
	put(rs, "a/b", "child");
	put(rs, "ab", "other");
	cr_assert_eq(lookup(rs, "a/#").n, 2);
	cr_assert(has_topic((struct results[]){ lookup(rs, "a/#") }, "a"));
	cr_assert_eq(lookup(rs, "+/#").n, 3);
	retain_destroy(rs);
}

Test(retain, leading_wildcards_never_return_dollar_topics)
{
	/* MQTT-4.7.2-1 */
	struct retain_store *rs = retain_create();

	put(rs, "$SYS/monitor/Clients", "3");
	put(rs, "$SYS", "root");
	cr_assert_eq(lookup(rs, "#").n, 0);
	cr_assert_eq(lookup(rs, "+").n, 0);
	cr_assert_eq(lookup(rs, "+/monitor/Clients").n, 0);
	cr_assert_eq(lookup(rs, "+/#").n, 0);
	cr_assert_eq(lookup(rs, "$SYS/#").n, 2);
	cr_assert_eq(lookup(rs, "$SYS/monitor/+").n, 1);
	retain_destroy(rs);
}

Test(retain, destroy_drops_every_stored_and_pending_message)
{
	struct retain_store *rs = retain_create();
	struct msg *a = mk("a", "1"), *b = mk("a/b/c", "2"), *c = mk("a/b/c", "3");

	cr_assert_eq(retain_set(rs, a), 0);
	cr_assert_eq(retain_set(rs, b), 0);
	cr_assert_eq(retain_set(rs, c), 0);	/* b now waits for a grace period */
	retain_destroy(rs);
	cr_assert_eq(refs(a), 1);
	cr_assert_eq(refs(b), 1);
	cr_assert_eq(refs(c), 1);
	msg_unref(a);
	msg_unref(b);
	msg_unref(c);
	assert_no_leaks_rcu();
}

struct replace_job {
	struct retain_store *rs;
	struct msg *m;
	int rc;
};

static void replace(void *arg)
{
	struct replace_job *j = arg;

	j->rc = retain_set(j->rs, j->m);
}

Test(retain, replaced_message_stays_valid_until_readers_pass_a_quiescent_state)
{
	struct retain_store *rs = retain_create();
	struct msg *m2 = mk("t", "new");
	struct replace_job job = { .rs = rs, .m = m2, .rc = 1 };
	struct results res;

	put(rs, "t", "old");	/* only the store holds it now */
	rcu_read_lock();
	res = lookup(rs, "t");
	cr_assert_eq(res.n, 1);
	unit_run_on_rcu_thread(replace, &job);
	cr_assert_eq(job.rc, 0);
	usleep(50 * 1000);
	/* Freed now would be a use after free (ASan reports it). */
	cr_assert_eq(refs(res.m[0]), 1);
	cr_assert_str_eq(res.m[0]->topic, "t");
	cr_assert_eq(memcmp(res.m[0]->payload, "old", 3), 0);
	rcu_read_unlock();
	rcu_quiescent_state();
	rcu_barrier();
	res = lookup(rs, "t");
	cr_assert_eq(res.n, 1);
	cr_assert_eq(res.m[0], m2);
	msg_unref(m2);
	retain_destroy(rs);
	assert_no_leaks_rcu();
}

/* Topic names differ per round: without pruning, every round would leave its nodes. */
static void churn_round(struct retain_store *rs, int round)
{
	char t[64];
	struct msg *m;
	int i;

	for (i = 0; i < 300; i++) {
		snprintf(t, sizeof(t), "dev/%d/%d/sensor/%d", round, i % 13, i);
		put(rs, t, "v1");
		put(rs, t, "v2");
	}
	cr_assert_eq(retain_count(rs), 300);
	for (i = 0; i < 300; i++) {
		snprintf(t, sizeof(t), "dev/%d/%d/sensor/%d", round, i % 13, i);
		m = mk(t, "");
		cr_assert_eq(retain_set(rs, m), 0);
		msg_unref(m);
	}
	cr_assert_eq(retain_count(rs), 0);
	cr_assert_eq(lookup(rs, "#").n, 0);
}

Test(retain, churn_prunes_empty_nodes_and_gives_memory_back)
{
	struct retain_store *rs = retain_create();
	struct mallinfo2 before, after;
	int i;

	for (i = 0; i < 3; i++)
		churn_round(rs, -i);
	rcu_barrier();
	before = mallinfo2();
	for (i = 1; i <= 10; i++)
		churn_round(rs, i);
	rcu_barrier();
	after = mallinfo2();
	/* Without pruning this grows by megabytes; the slack absorbs allocator noise.
	 * Sanitizers replace malloc and report zeros here; they check leaks themselves. */
	if (before.uordblks != 0)
		cr_assert_leq(after.uordblks, before.uordblks + 64 * 1024,
			      "heap grew from %zu to %zu bytes over churn",
			      before.uordblks, after.uordblks);
	retain_destroy(rs);
	assert_no_leaks_rcu();
}

/* retain_set_logged: persistence records each change in the trie's order (its log
 * runs under the writer lock, before the change), and a refused record leaves the
 * slot as it was. */
struct logged {
	unsigned calls;
	int rc;
	size_t count_seen;      /* retain_count when the log ran: before the change */
	struct retain_store *rs;
};

static int log_change(void *arg, struct msg *m)
{
	struct logged *l = arg;

	(void)m;
	l->calls++;
	l->count_seen = retain_count(l->rs);
	return l->rc;
}

Test(retain, the_log_runs_before_each_change_and_its_refusal_changes_nothing)
{
	struct retain_store *rs = retain_create();
	struct logged l = { .rs = rs };
	struct msg *m = mk("a/b", "x"), *del = mk("a/b", ""), *other = mk("a/c", "y");

	cr_assert_eq(retain_set_logged(rs, m, log_change, &l), 0);
	cr_assert_eq(l.calls, 1);
	cr_assert_eq(l.count_seen, 0, "before the change");
	cr_assert_eq(retain_count(rs), 1);

	l.rc = -ENOMEM;
	cr_assert_eq(retain_set_logged(rs, other, log_change, &l), -ENOMEM);
	cr_assert_eq(retain_count(rs), 1, "refused: not stored");
	cr_assert_eq(lookup(rs, "a/c").n, 0);
	cr_assert_eq(retain_set_logged(rs, del, log_change, &l), -ENOMEM);
	cr_assert_eq(lookup(rs, "a/b").n, 1, "refused: not deleted");

	l.rc = 0;
	l.calls = 0;
	cr_assert_eq(retain_set_logged(rs, del, log_change, &l), 0);
	cr_assert_eq(l.calls, 1);
	cr_assert_eq(retain_count(rs), 0);
	cr_assert_eq(retain_set_logged(rs, del, log_change, &l), 0);
	cr_assert_eq(l.calls, 1, "a delete that finds nothing records nothing");
	msg_unref(m);
	msg_unref(del);
	msg_unref(other);
	retain_destroy(rs);
}
