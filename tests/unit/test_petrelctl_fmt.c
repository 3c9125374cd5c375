/* test_petrelctl_fmt.c - petrelctl's printers (control/petrelctl_fmt.c): the
 * humanised sizes, rates and durations at their unit boundaries, table alignment, the
 * "N of TOTAL shown" line, and a result missing fields printing "-" instead of
 * failing. The end-to-end output against a real broker is tests/integration/
 * test_petrelctl.c; these pin the edges the broker's numbers rarely hit. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>

#include "petrelctl.h"

static char buf[64];

Test(petrelctl_fmt, bytes_switch_units_at_1024)
{
	cr_assert_str_eq(fmt_bytes(0, buf, sizeof(buf)), "0 B");
	cr_assert_str_eq(fmt_bytes(1023, buf, sizeof(buf)), "1023 B");
	cr_assert_str_eq(fmt_bytes(1024, buf, sizeof(buf)), "1.0 KiB");
	cr_assert_str_eq(fmt_bytes(1536, buf, sizeof(buf)), "1.5 KiB");
	cr_assert_str_eq(fmt_bytes(1048576, buf, sizeof(buf)), "1.0 MiB");
	cr_assert_str_eq(fmt_bytes(68719476736.0, buf, sizeof(buf)), "64.0 GiB");
	cr_assert_str_eq(fmt_bytes(1024.0 * 1024 * 1024 * 1024 * 2048, buf, sizeof(buf)),
			 "2048.0 TiB", "TiB is the last unit");
}

Test(petrelctl_fmt, rates_and_durations)
{
	cr_assert_str_eq(fmt_rate(0, buf, sizeof(buf)), "0.0");
	cr_assert_str_eq(fmt_rate(999.94, buf, sizeof(buf)), "999.9");
	cr_assert_str_eq(fmt_rate(1000, buf, sizeof(buf)), "1.0k");
	cr_assert_str_eq(fmt_rate(2.5e6, buf, sizeof(buf)), "2.5M");
	cr_assert_str_eq(fmt_duration(-3, buf, sizeof(buf)), "0s");
	cr_assert_str_eq(fmt_duration(59, buf, sizeof(buf)), "59s");
	cr_assert_str_eq(fmt_duration(60, buf, sizeof(buf)), "1m 00s");
	cr_assert_str_eq(fmt_duration(3599, buf, sizeof(buf)), "59m 59s");
	cr_assert_str_eq(fmt_duration(3725, buf, sizeof(buf)), "1h 02m");
	cr_assert_str_eq(fmt_duration(90061, buf, sizeof(buf)), "1d 01h");
}

Test(petrelctl_fmt, dotted_paths_reach_nested_members)
{
	json_t *o = json_pack("{s{si}s[]}", "sessions", "online", 3, "list");

	cr_assert_eq(fmt_num(o, "sessions.online"), 3);
	cr_assert_eq(fmt_num(o, "sessions.offline"), 0, "absent: 0");
	cr_assert_null(fmt_get(o, "list.x"), "not an object: NULL");
	cr_assert_null(fmt_get(o, "a.very.long.path.that.is.longer.than.sixty.four.bytes."
			       "in.one.level"));
	json_decref(o);
}

Test(petrelctl_fmt, tables_align_and_right_align_numbers, .init = cr_redirect_stdout)
{
	struct fmt_table t;

	fmt_table_init(&t, 3, "lrl", (const char *const[]){ "NAME", "N", "NOTE" });
	fmt_table_row(&t, (const char *const[]){ "a", "1234", "x" });
	fmt_table_row(&t, (const char *const[]){ "longer", "5", NULL });
	fmt_table_print(&t, "> ");
	fflush(stdout);
	cr_assert_stdout_eq_str("> NAME       N  NOTE\n"
				"> a       1234  x\n"
				"> longer     5  -\n");
}

Test(petrelctl_fmt, clients_say_how_many_were_cut, .init = cr_redirect_stdout)
{
	json_t *r = json_pack("{si s[{ss si sb ss si si si si si}]}", "total", 7, "clients",
			      "client", "c1", "worker", 1, "connected", 1, "address",
			      "127.0.0.1:5", "keepalive", 60, "subscriptions", 2,
			      "inflight", 0, "queued", 0, "connected_since", 0);

	fmt_clients(r);
	fflush(stdout);
	cr_assert_stdout_eq_str(
		"CLIENT  WORKER  STATE   ADDRESS      KEEPALIVE  SUBS  INFLIGHT  QUEUED  SINCE\n"
		"c1           1  online  127.0.0.1:5         60     2         0       0  "
		"1970-01-01T00:00:00Z\n"
		"1 of 7 shown (--limit N, 0 = all)\n");
	json_decref(r);
}

Test(petrelctl_fmt, a_status_without_fields_prints_dashes, .init = cr_redirect_stdout)
{
	json_t *r = json_object();

	fmt_status(r);
	fflush(stdout);
	cr_assert_stdout_eq_str("version:         -\n"
				"uptime:          0s\n"
				"mode:            -, 0 workers\n"
				"connections:     0\n"
				"sessions:        0 online, 0 offline, 0 total\n"
				"subscriptions:   0\n"
				"retained:        0\n"
				"messages in:     0 (0.0/s)\n"
				"messages out:    0 (0.0/s)\n"
				"bytes in:        0 B (0 B/s)\n"
				"bytes out:       0 B (0 B/s)\n"
				"drops:           0\n");
	json_decref(r);
}
