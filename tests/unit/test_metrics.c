/* test_metrics.c - the figures (control/metrics*.c). The table of worker_stats fields
 * they are made from: every field of stats.h has a Prometheus HELP line, and the gauges
 * are exactly the fields stats.h marks "gauge:", so a counter added later cannot come
 * out as an undocumented family or with the wrong TYPE. Then, over a real broker and
 * control plane: per-worker samples, label escaping, drops, busy share, load averages.
 * (Counts against real traffic, the parser and HTTP: tests/integration/test_metrics.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/log.h"
#include "petrel/worker.h"

#include "mem_transport.h"
#include "metrics_int.h"
#include "unit_util.h"

Test(metrics_stats, every_field_has_help_text)
{
	cr_assert_gt(metrics_nstats, 60);
	for (size_t i = 0; i < metrics_nstats; i++) {
		const char *help = metrics_stat_help(&metrics_stats[i]);

		cr_expect_not_null(help, "stats.h field %s has no HELP line in metrics_stats.c",
				   metrics_stats[i].name);
		if (help != NULL)
			cr_expect(strchr(help, '\n') == NULL && help[0] != '\0');
	}
}

Test(metrics_stats, table_follows_the_struct)
{
	struct worker_stats ws;

	memset(&ws, 0, sizeof(ws));
	ws.publish_in = 7;
	ws.sessions_online = 3;
	cr_expect_eq(metrics_stat_get(&ws, metrics_stat_find("publish_in")), 7);
	cr_expect_eq(metrics_stat_get(&ws, metrics_stat_find("sessions_online")), 3);
	cr_expect_null(metrics_stat_find("no_such_stat"));
	cr_expect_eq(metrics_stats[0].offset, 0);
	cr_expect_eq(metrics_stats[metrics_nstats - 1].offset + sizeof(uint64_t),
		     offsetof(struct worker_stats, loop_busy_turns) + sizeof(uint64_t));
}

/* The gauges are the fields whose comment in stats.h starts with "gauge:". */
Test(metrics_stats, gauges_are_those_stats_h_marks)
{
	char path[512], line[512];
	FILE *f;
	unsigned marked = 0, gauges = 0;

	snprintf(path, sizeof(path), "%s/include/petrel/stats.h", PETREL_SRC_ROOT);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[64];
		const struct metrics_stat *st;

		if (sscanf(line, " X(%63[a-z0-9_])", name) != 1)
			continue;
		st = metrics_stat_find(name);
		cr_assert_not_null(st, "%s", name);
		if (strstr(line, "/* gauge:") != NULL) {
			marked++;
			cr_expect(metrics_stat_is_gauge(st), "%s is marked gauge in stats.h", name);
		}
	}
	fclose(f);
	for (size_t i = 0; i < metrics_nstats; i++)
		gauges += metrics_stat_is_gauge(&metrics_stats[i]);
	cr_expect_eq(gauges, marked, "gauges in the table but not marked in stats.h");
	cr_expect_geq(marked, 3);
}

/* ---- the figures of a real broker (unstarted workers over the memory transport)
 * and a real control plane; the test thread plays the control plane's part and owns
 * its own struct metrics (the control plane was started without one). */

static struct broker B;
static struct cplane *CP;

TestSuite(metrics, .init = unit_rcu_init, .fini = unit_rcu_fini, .timeout = 60);

static struct metrics *up(const char *version)
{
	struct cplane_params prm = { .b = &B, .st = NULL, .ctl_fd = -1 };
	struct metrics_info info = { .version = version, .start_wall_ms = 0 };
	struct config cfg;
	struct metrics *m;
	char err[256];

	config_defaults(&cfg);
	cfg.workers = 2;
	cfg.sys_interval = 0;     /* no admin call from this thread */
	cr_assert_eq(config_finalize(&cfg, err, sizeof(err)), 0, "config: %s", err);
	log_set_level(LOG_ERR);
	cr_assert_eq(mem_broker_init(&B, &cfg, 1000000), 0);
	cr_assert_eq(cplane_start(&CP, &prm, err, sizeof(err)), 0, "cplane: %s", err);
	m = metrics_create(CP, &info);
	cr_assert_not_null(m);
	return m;
}

static void down(struct metrics *m)
{
	metrics_destroy(m);
	cplane_quiesce(CP);
	cr_assert_eq(cplane_stop(CP), 0);
	mem_broker_shutdown(&B);
}

/* <o>.<a>.<b> as an integer (0 if missing: the expectation then fails). */
static json_int_t jint(const json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

static char *prom(struct metrics *m)
{
	size_t len;
	char *text = metrics_prometheus(m, &len);

	cr_assert_not_null(text);
	cr_assert_eq(strlen(text), len);
	return text;
}

#define assert_has(text, line)                                                        \
	cr_expect(strstr((text), (line)) != NULL, "no \"%s\" in the text", (line))

Test(metrics, label_values_are_escaped)
{
	struct metrics *m = up("1.0\"x\\y\nz");
	char *text = prom(m);

	assert_has(text, "petrel_info{version=\"1.0\\\"x\\\\y\\nz\",mode=\"kernel\"} 1\n");
	free(text);
	down(m);
}

Test(metrics, per_worker_samples_and_types)
{
	struct metrics *m = up("0.1.0");
	json_t *st;
	char *text;

	B.workers[0]->stats.publish_in = 5;
	B.workers[1]->stats.publish_in = 7;
	B.workers[0]->stats.sessions = 2;
	B.workers[1]->stats.sessions = 3;
	B.workers[1]->stats.sessions_online = 1;
	text = prom(m);
	assert_has(text, "# TYPE petrel_publish_in_total counter\n");
	assert_has(text, "petrel_publish_in_total{worker=\"0\"} 5\n");
	assert_has(text, "petrel_publish_in_total{worker=\"1\"} 7\n");
	assert_has(text, "# TYPE petrel_sessions gauge\n");
	assert_has(text, "petrel_sessions{worker=\"1\"} 3\n");
	assert_has(text, "petrel_clients_connected 1\n");
	assert_has(text, "# HELP petrel_publish_in_total PUBLISH packets received from clients\n");
	free(text);

	st = metrics_status_json(m);
	cr_assert_not_null(st);
	cr_expect_eq(jint(st, "counters", "publish_in"), 12);
	cr_expect_eq(jint(st, "messages", "received"), 12);
	cr_expect_eq(jint(st, "sessions", "total"), 5);
	cr_expect_eq(jint(st, "sessions", "offline"), 4);
	cr_expect_null(json_object_get(st, "store"), "persistence is off");
	json_decref(st);
	down(m);
}

Test(metrics, drops_by_reason_and_total)
{
	struct metrics *m = up("0.1.0");
	json_t *st;

	B.workers[0]->stats.drop_queue_full = 3;
	B.workers[1]->stats.drop_slow = 4;
	st = metrics_status_json(m);
	cr_expect_eq(jint(st, "drops", "queue_full"), 3);
	cr_expect_eq(jint(st, "drops", "slow"), 4);
	cr_expect_eq(jint(st, "drops", "total"), 7);
	cr_expect_null(json_object_get(json_object_get(st, "drops"), "drop_slow"),
		       "names lose their drop_ prefix");
	json_decref(st);
	down(m);
}

/* busy_percent: the share of loop turns that found work, between two ticks. The
 * workers never ran: no CPU clock, so cpu_percent is null rather than a made-up 0. */
Test(metrics, busy_share_and_unknown_cpu)
{
	struct metrics *m = up("0.1.0");
	json_t *st, *w0;

	B.workers[0]->stats.loop_turns = 100;
	metrics_tick(m);
	B.workers[0]->stats.loop_turns = 200;
	B.workers[0]->stats.loop_busy_turns = 25;
	metrics_tick(m);
	cr_expect_float_eq(metrics_busy_percent(m, 0), 25.0, 1e-9);
	cr_expect_float_eq(metrics_busy_percent(m, 1), 0.0, 1e-9, "no turns: 0");
	st = metrics_status_json(m);
	w0 = json_array_get(json_object_get(st, "per_worker"), 0);
	cr_expect_float_eq(json_number_value(json_object_get(w0, "busy_percent")), 25.0, 1e-9);
	cr_expect(json_is_null(json_object_get(w0, "cpu_percent")));
	json_decref(st);
	down(m);
}

/* mosquitto's load: an average per minute that jumps toward a burst's rate by
 * 1 - e^(-dt/window) and decays when nothing more comes; the longer the window, the
 * smaller the step. */
Test(metrics, load_averages_move_toward_the_rate_and_decay)
{
	struct metrics *m = up("0.1.0");
	const struct metrics_sample *a, *b;
	double dt, per_min, l1, l5, l15;

	metrics_tick(m);
	B.workers[1]->stats.publish_in += 600;
	usleep(200 * 1000);
	metrics_tick(m);
	a = metrics_prev(m);
	b = metrics_now(m);
	dt = (double)(b->mono_us - a->mono_us) / 1e6;
	per_min = 600.0 * 60.0 / dt;
	l1 = m->load[LOAD_PUBLISH_RECEIVED][0];
	l5 = m->load[LOAD_PUBLISH_RECEIVED][1];
	l15 = m->load[LOAD_PUBLISH_RECEIVED][2];
	cr_expect_float_eq(l1, per_min * (1 - exp(-dt / 60.0)), per_min * 1e-9);
	cr_expect(l1 > l5 && l5 > l15 && l15 > 0, "%f %f %f", l1, l5, l15);
	cr_expect_float_eq(m->load[LOAD_PUBLISH_SENT][0], 0.0, 1e-12);
	usleep(200 * 1000);
	metrics_tick(m);
	cr_expect(m->load[LOAD_PUBLISH_RECEIVED][0] < l1 &&
		  m->load[LOAD_PUBLISH_RECEIVED][0] > 0, "decays without new messages");
	down(m);
}
