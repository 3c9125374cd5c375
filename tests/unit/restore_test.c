/* restore_test.c - see restore_test.h. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/engine.h"
#include "petrel/log.h"
#include "petrel/sessdir.h"
#include "petrel/session.h"
#include "petrel/store.h"
#include "mem_transport.h"
#include "restore_test.h"
#include "store_test.h"
#include "unit_util.h"

/* A test store's map: far more than a suite writes, far less than the default. */
#define RT_MAP (1024ul * 1024u * 1024u)

void rt_suite_init(void)
{
	unit_rcu_init();
	log_set_level(LOG_WARN);
	store_test_setup();
}

void rt_suite_fini(void)
{
	store_test_teardown();
	unit_rcu_fini();
}

void rt_broker_up(struct broker *b, uint64_t expire_ms, unsigned max_inflight)
{
	struct config cfg;
	char err[256];

	config_defaults(&cfg);
	cfg.workers = RT_WORKERS;
	cfg.persistence = false;
	cfg.persistent_client_expiration_ms = expire_ms;
	if (max_inflight != 0)
		cfg.max_inflight_messages = max_inflight;
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	cr_assert_eq(mem_broker_init(b, &cfg, RT_T0_MS), 0);
}

void rt_broker_down(struct broker *b)
{
	mem_broker_shutdown(b);
	assert_no_leaks_rcu();
}

struct store *rt_store_open(void)
{
	return open_ok(sdir, RT_MAP);
}

void rt_restore(struct broker *b, struct store_load_stats *stats)
{
	struct store *st = rt_store_open();
	char err[512];

	cr_assert_eq(mqtt_restore(b, st, stats, err, sizeof(err)), 0, "mqtt_restore: %s",
		     err);
	store_close(st);
}

struct session *rt_find(struct broker *b, const char *id)
{
	struct session *s = sessdir_lookup(b->sessdir, id, strlen(id));

	if (s != NULL)
		session_unref(s);
	return s;
}

uint64_t rt_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
