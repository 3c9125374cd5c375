/* test_budget.c - the memory budget (dataplane/budget.c) and what charges it: messages
 * (msg.c) and session queue slots (session.c). */
#include <criterion/criterion.h>
#include <pthread.h>

#include "petrel/budget.h"
#include "petrel/msg.h"
#include "petrel/session.h"


Test(budget, limit_and_release)
{
	budget_configure(1000);
	cr_assert(budget_allows(1000));
	budget_add(600);
	cr_assert_eq(budget_used(), 600);
	cr_assert(budget_allows(400));
	cr_assert_not(budget_allows(401));
	budget_add(-600);
	cr_assert_eq(budget_used(), 0);
	budget_configure(0);
	budget_add(1 << 30);
	cr_assert(budget_allows((size_t)1 << 40), "0 means no limit");
	budget_add(-(1 << 30));
}

static void *charge_then_exit(void *arg)
{
	budget_thread_enter();
	for (int i = 0; i < 100000; i++)
		budget_add(3);
	budget_thread_exit();
	return arg;
}

Test(budget, per_thread_slots_sum_up)
{
	pthread_t t[4];

	budget_configure(0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, charge_then_exit, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* What the threads charged stays charged after they leave: others may free it. */
	cr_assert_eq(budget_used(), 4u * 100000u * 3u);
	budget_add(-(ssize_t)(4 * 100000 * 3));
	cr_assert_eq(budget_used(), 0);
}

static void *release_msg(void *arg)
{
	msg_unref(arg);
	return NULL;
}

Test(budget, messages_charge_their_allocation)
{
	struct msg *m;
	pthread_t t;
	size_t used;

	budget_configure(0);
	m = msg_create("a/b", 3, "payload", 7, 1, false);
	cr_assert_not_null(m);
	used = budget_used();
	cr_assert_geq(used, 3 + 1 + 7 + sizeof(struct msg));
	/* Freed on another thread: the sum comes back to zero. */
	cr_assert_eq(pthread_create(&t, NULL, release_msg, m), 0);
	pthread_join(t, NULL);
	cr_assert_eq(budget_used(), 0);
}

Test(budget, queue_slots_are_charged_and_returned)
{
	struct msg_queue q = { 0 };
	struct msg *m;
	size_t with_msg;

	budget_configure(0);
	m = msg_create("t", 1, "x", 1, 1, false);
	cr_assert_not_null(m);
	with_msg = budget_used();
	for (int i = 0; i < 100; i++)
		cr_assert_eq(msg_queue_push(&q, m, 1, false), 0);
	cr_assert_geq(budget_used(), with_msg + 100 * sizeof(struct queued));
	msg_queue_clear(&q);
	cr_assert_eq(budget_used(), with_msg, "a drained queue gives its slots back");
	msg_unref(m);
	cr_assert_eq(budget_used(), 0);
}
