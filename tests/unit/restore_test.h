/* restore_test.h - what test_restore.c and test_expiry.c share: a suite's init and fini
 * (urcu-qsbr reader, quiet log, a temporary store directory from store_test.h), a
 * broker of RT_WORKERS unstarted workers over the memory transport (mem_transport.h),
 * the store written with tbatch.h and loaded into it by mqtt_restore, and session
 * look-ups. Criterion asserts inside: test threads only. */
#ifndef PETREL_TEST_RESTORE_TEST_H
#define PETREL_TEST_RESTORE_TEST_H

#include <stdint.h>

struct broker;
struct session;
struct store;
struct store_load_stats;

#define RT_WORKERS 2
#define RT_T0_MS 1000000u        /* the workers' clock at start */

void rt_suite_init(void);
void rt_suite_fini(void);

/* persistence off (b->persist stays NULL unless the test attaches one),
 * persistent_client_expiration <expire_ms> (0: none), max_inflight_messages
 * <max_inflight> (0: the default). */
void rt_broker_up(struct broker *b, uint64_t expire_ms, unsigned max_inflight);
/* Shuts <b> down and checks for leaks (under ASan). */
void rt_broker_down(struct broker *b);

/* The test's store, opened (again). */
struct store *rt_store_open(void);
/* Opens the store as a restarted petrel does, loads it into <b> (must succeed) and
 * closes it. <stats> may be NULL. */
void rt_restore(struct broker *b, struct store_load_stats *stats);

/* The session of <id>, or NULL; the directory keeps it alive for the test. */
struct session *rt_find(struct broker *b, const char *id);
uint64_t rt_wall_ms(void);

#endif
