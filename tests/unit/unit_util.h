/* unit_util.h - helpers every unit suite may link (tests/unit/meson.build builds them
 * into the 'unit_util' library): the leak check that fails a test under ASan, the
 * suite init/fini that make criterion's test thread an urcu-qsbr reader, a writer on
 * a second registered thread, and the counting subscriber whose hold()/release() calls the router suites check. */
#ifndef PETREL_TEST_UNIT_UTIL_H
#define PETREL_TEST_UNIT_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Under ASan, fails the test if anything allocated so far is unreachable: LSan's own
 * report when the test process exits does not fail a criterion test. Each test runs
 * in its own process, so this sees only the current test's memory. Does nothing in
 * a build without ASan. */
void assert_no_leaks(void);
/* The check itself: true if LeakSanitizer finds unreachable memory now (reported on
 * stderr); always false without ASan. */
bool unit_leaks_found(void);
/* The same for suites that use RCU: waits for every queued call_rcu() first
 * (rcu_barrier), so memory a grace period away from being freed is not reported. */
void assert_no_leaks_rcu(void);

/* A suite's .init and .fini when its tests use urcu-qsbr on criterion's thread:
 * TestSuite(router, .init = unit_rcu_init, .fini = unit_rcu_fini). */
void unit_rcu_init(void);
void unit_rcu_fini(void);

/* Runs fn(arg) on a new thread registered with urcu-qsbr, as every writer must be, and
 * waits for it to end: the test's own thread can stay inside rcu_read_lock() while
 * "another thread" writes, which is the case the grace-period tests are about. */
void unit_run_on_rcu_thread(void (*fn)(void *arg), void *arg);

/* A thread that waits for one grace period (synchronize_rcu), for tests that check
 * the test thread, an online urcu-qsbr reader like a worker, passes quiescent states
 * inside some long piece of work. Start it, do the work without passing any other
 * quiescent state, then check done (bounded wait), then stop it. */
struct unit_gp_waiter {
	pthread_t thread;
	atomic_bool started;
	atomic_bool done;
};
/* Starts the waiter and returns once it is about to wait. */
void unit_gp_waiter_start(struct unit_gp_waiter *g);
/* Waits <= ms for the grace period to have completed, without passing a quiescent
 * state. Returns whether it completed. */
bool unit_gp_waiter_done(struct unit_gp_waiter *g, int ms);
/* Joins the waiter (after done, or after the test thread passed a quiescent state). */
void unit_gp_waiter_stop(struct unit_gp_waiter *g);

/* CLOCK_MONOTONIC in milliseconds, for the deadlines of bounded waits. */
uint64_t unit_now_ms(void);

/* Writes <text> to a new temporary file (/tmp/petrel-test-config-XXXXXX); its path goes to
 * <path> (>= 64 bytes). The test unlinks it. */
void unit_write_temp(const char *text, char *path, size_t pathlen);

/* A subscriber for the router suites: counts the router's hold() and release() calls
 * on it, atomically, since readers and call_rcu run on other threads. */
struct tsub {
	int id;
	atomic_long holds;
	atomic_long releases;
};

/* router_params.hold and .release for a struct tsub. */
void tsub_hold(void *p);
void tsub_release(void *p);

#endif
