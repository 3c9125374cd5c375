/* PLACEHOLDER for control/metrics.c (ctl-metrics, H3): see README. Only version,
 * uptime and workers, so that the control plane runs end to end before it lands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "petrel/broker.h"
#include "petrel/cplane.h"
#include "petrel/metrics.h"

struct metrics {
	struct cplane *cp;
	struct metrics_info info;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct metrics *metrics_create(struct cplane *cp, const struct metrics_info *info)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->cp = cp;
	m->info = *info;
	return m;
}

void metrics_destroy(struct metrics *m)
{
	free(m);
}

void metrics_tick(struct metrics *m)
{
	(void)m;
}

json_t *metrics_status_json(struct metrics *m)
{
	return json_pack("{s:s, s:I, s:i}", "version", m->info.version, "uptime_s",
			 (json_int_t)((wall_ms() - m->info.start_wall_ms) / 1000u), "workers",
			 (int)cplane_broker(m->cp)->nworkers);
}

char *metrics_prometheus(struct metrics *m, size_t *len)
{
	char *text = NULL;
	int n = asprintf(&text, "# HELP petrel_uptime_seconds Seconds since the broker "
			 "started.\n# TYPE petrel_uptime_seconds gauge\n"
			 "petrel_uptime_seconds %llu\n",
			 (unsigned long long)((wall_ms() - m->info.start_wall_ms) / 1000u));

	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}
