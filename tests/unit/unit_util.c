/* unit_util.c - see unit_util.h. Linked into every unit suite; runs on criterion's
 * test thread, except the function given to unit_run_on_rcu_thread (its own thread)
 * and tsub_hold/tsub_release, which the router calls from whatever thread subscribes
 * or runs the call_rcu callbacks. */
#include <urcu-qsbr.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static void *gp_wait_main(void *p)
{
	struct unit_gp_waiter *g = p;

	atomic_store(&g->started, true);
	synchronize_rcu();
	atomic_store(&g->done, true);
	return NULL;
}

void unit_gp_waiter_start(struct unit_gp_waiter *g)
{
	atomic_init(&g->started, false);
	atomic_init(&g->done, false);
	cr_assert_eq(pthread_create(&g->thread, NULL, gp_wait_main, g), 0);
	while (!atomic_load(&g->started))
		usleep(1000);
}

bool unit_gp_waiter_done(struct unit_gp_waiter *g, int ms)
{
	for (int i = 0; i < ms && !atomic_load(&g->done); i++)
		usleep(1000);
	return atomic_load(&g->done);
}

void unit_gp_waiter_stop(struct unit_gp_waiter *g)
{
	if (!atomic_load(&g->done))
		rcu_quiescent_state();	/* let it finish */
	pthread_join(g->thread, NULL);
}

void tsub_hold(void *p)
{
	atomic_fetch_add(&((struct tsub *)p)->holds, 1);
}

void tsub_release(void *p)
{
	atomic_fetch_add(&((struct tsub *)p)->releases, 1);
}

uint64_t unit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void unit_write_temp(const char *text, char *path, size_t pathlen)
{
	size_t len = strlen(text);
	int fd;

	snprintf(path, pathlen, "%s", "/tmp/petrel-test-config-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	cr_assert_eq(close(fd), 0);
}
