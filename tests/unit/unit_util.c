/* unit_util.c - see unit_util.h. Linked into every unit suite; runs on criterion's
 * test thread, except the function given to unit_run_on_rcu_thread (its own thread)
 * and tsub_hold/tsub_release, which the router calls from whatever thread subscribes
 * or runs the call_rcu callbacks. */
#include <urcu-qsbr.h>

#include <criterion/criterion.h>
#include <pthread.h>

#include "unit_util.h"

/* GCC announces ASan with __SANITIZE_ADDRESS__, clang only through __has_feature:
 * testing the first alone compiled every leak check out of clang's ASan build. */
#if defined(__SANITIZE_ADDRESS__)
#define UNIT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNIT_ASAN 1
#endif
#endif

#ifdef UNIT_ASAN
#include <sanitizer/lsan_interface.h>
#endif

bool unit_leaks_found(void)
{
#ifdef UNIT_ASAN
	return __lsan_do_recoverable_leak_check() != 0;
#else
	return false;
#endif
}

void assert_no_leaks(void)
{
	cr_assert_not(unit_leaks_found(), "memory leaked: see the LeakSanitizer report above");
}

void assert_no_leaks_rcu(void)
{
#ifdef UNIT_ASAN
	rcu_barrier();
	assert_no_leaks();
#endif
}

void unit_rcu_init(void)
{
	rcu_register_thread();
}

void unit_rcu_fini(void)
{
	rcu_unregister_thread();
}

struct rcu_job {
	void (*fn)(void *arg);
	void *arg;
};

static void *rcu_job_main(void *p)
{
	struct rcu_job *j = p;

	rcu_register_thread();
	j->fn(j->arg);
	rcu_unregister_thread();
	return NULL;
}

void unit_run_on_rcu_thread(void (*fn)(void *arg), void *arg)
{
	struct rcu_job j = { fn, arg };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, rcu_job_main, &j), 0);
	pthread_join(t, NULL);
}

void tsub_hold(void *p)
{
	atomic_fetch_add(&((struct tsub *)p)->holds, 1);
}

void tsub_release(void *p)
{
	atomic_fetch_add(&((struct tsub *)p)->releases, 1);
}
