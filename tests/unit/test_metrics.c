/* test_metrics.c - the table of worker_stats fields the figures are made from
 * (control/metrics_stats.c): every field of stats.h has a Prometheus HELP line, and
 * the gauges are exactly the fields stats.h marks "gauge:", so a counter added later
 * cannot come out as an undocumented family or with the wrong TYPE. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

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
