/* test_cli_clients.c - the first thing a newcomer tries: Debian's mosquitto_pub and
 * mosquitto_sub against the broker. Every command runs under a hard time limit and
 * mosquitto_sub always gets -C (message count) and -W (seconds) so it ends by itself.
 *
 * mosquitto_sub runs with -d so its stdout says "Subscribed (mid: ...)" once the SUBACK
 * is in: the publisher starts only then, so a QoS 0 message cannot race the
 * subscription. Messages are printed as "MSG|topic|qos|payload" lines (-F) to tell
 * them apart from the debug lines. Its stdout is a file, so it runs under
 * `stdbuf -oL` to have each line written at once instead of at exit. */
#include "harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(cli_clients, .fini = harness_fini, .timeout = 60);

#define SUBSCRIBED "Subscribed (mid:"

/* Starts mosquitto_sub on <topic> in the background and waits until it is subscribed. */
static void start_sub(struct bg_cmd *sub, struct broker *b, const char *topic, int qos,
		      int count, int wait_s)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "stdbuf -oL mosquitto_sub -h %s -p %u -t '%s' -q %d -C %d -W %d -d "
		 "-F 'MSG|%%t|%%q|%%p'",
		 harness_host(), (unsigned)b->port, topic, qos, count, wait_s);
	run_cmd_bg(sub, cmd, wait_s + 5);
	if (!bg_cmd_wait_output(sub, SUBSCRIBED, 5000)) {
		char out[4096];

		bg_cmd_finish(sub, out, sizeof(out));
		broker_dump_log(b);
		cr_assert_fail("mosquitto_sub did not get subscribed; its output:\n%s", out);
	}
}

static void run_pub(struct broker *b, const char *args)
{
	char cmd[512];
	char out[1024];

	snprintf(cmd, sizeof(cmd), "mosquitto_pub -h %s -p %u %s", harness_host(),
		 (unsigned)b->port, args);
	int rc = run_cmd(cmd, 10, out, sizeof(out));

	cr_assert_eq(rc, 0, "`%s` exited with %d", cmd, rc);
}

static void pub_sub_at_qos(int qos)
{
	struct broker b;
	struct bg_cmd sub;
	char topic[32], args[128], expect[128], out[8192];

	snprintf(topic, sizeof(topic), "cli/qos%d", qos);
	broker_start(&b, 1, NULL);
	start_sub(&sub, &b, topic, qos, 1, 5);
	snprintf(args, sizeof(args), "-t '%s' -q %d -m 'hello at qos %d'", topic, qos, qos);
	run_pub(&b, args);

	int rc = bg_cmd_finish(&sub, out, sizeof(out));

	cr_assert_eq(rc, 0, "mosquitto_sub exited with %d; output:\n%s", rc, out);
	snprintf(expect, sizeof(expect), "MSG|%s|%d|hello at qos %d\n", topic, qos, qos);
	cr_assert(strstr(out, expect), "mosquitto_sub did not print \"%s\"; output:\n%s", expect,
		  out);
	broker_stop_clean(&b);
}

Test(cli_clients, mosquitto_sub_receives_what_mosquitto_pub_sends_at_qos_0)
{
	pub_sub_at_qos(0);
}

Test(cli_clients, mosquitto_sub_receives_what_mosquitto_pub_sends_at_qos_1)
{
	pub_sub_at_qos(1);
}

Test(cli_clients, mosquitto_sub_receives_what_mosquitto_pub_sends_at_qos_2)
{
	pub_sub_at_qos(2);
}

Test(cli_clients, retained_message_from_mosquitto_pub_r_reaches_a_later_mosquitto_sub)
{
	struct broker b;
	char cmd[256], out[1024];

	broker_start(&b, 1, NULL);
	run_pub(&b, "-r -t cli/retained -m 'kept for later'");

	/* Subscribes after the publisher is gone: only the retained store has it. %r
	 * prints the retain flag, which must be 1 for a retained message. */
	snprintf(cmd, sizeof(cmd),
		 "mosquitto_sub -h %s -p %u -t cli/retained -C 1 -W 5 -F '%%t|%%r|%%p'",
		 harness_host(), (unsigned)b.port);
	int rc = run_cmd(cmd, 10, out, sizeof(out));

	cr_assert_eq(rc, 0, "mosquitto_sub exited with %d; output:\n%s", rc, out);
	cr_assert_str_eq(out, "cli/retained|1|kept for later\n");
	broker_stop_clean(&b);
}

Test(cli_clients, mosquitto_pub_l_lines_are_delivered_in_order)
{
	enum { LINES = 200 };
	struct broker b;
	struct bg_cmd sub;
	char cmd[256];
	size_t cap = 1 << 20;
	char *out = malloc(cap);

	cr_assert(out);
	broker_start(&b, 1, NULL);
	start_sub(&sub, &b, "cli/lines", 0, LINES, 10);
	/* One message per line of stdin, QoS 0: the way a newcomer pipes a file in. */
	snprintf(cmd, sizeof(cmd),
		 "seq -f 'line-%%03g' 1 %d | mosquitto_pub -h %s -p %u -t cli/lines -l",
		 LINES, harness_host(), (unsigned)b.port);
	int rc = run_cmd(cmd, 10, NULL, 0);

	cr_assert_eq(rc, 0, "`%s` exited with %d", cmd, rc);
	rc = bg_cmd_finish(&sub, out, cap);
	cr_assert_eq(rc, 0, "mosquitto_sub exited with %d (not all %d lines arrived?)", rc, LINES);

	/* Walk the MSG lines in order. */
	int next = 1;
	char *save = NULL;

	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char expect[64];

		if (strncmp(line, "MSG|", 4) != 0)
			continue;
		snprintf(expect, sizeof(expect), "MSG|cli/lines|0|line-%03d", next);
		cr_assert_str_eq(line, expect, "message %d out of order", next);
		next++;
	}
	cr_assert_eq(next - 1, LINES, "got %d of %d lines", next - 1, LINES);
	free(out);
	broker_stop_clean(&b);
}

/* MQTT-4.7.2-1: $SYS belongs to the broker. mosquitto_pub's QoS 1 retained PUBLISH to
 * $SYS/x is acknowledged (it exits 0) but reaches no subscriber and is not retained:
 * a message published after it on another topic comes first and alone. The broker's
 * own $SYS publications are off (sys_interval 0) so that nothing else arrives there. */
Test(cli_clients, mosquitto_pub_to_sys_is_acknowledged_but_not_delivered)
{
	struct broker b;
	struct bg_cmd sub;
	char cmd[256], out[4096];
	int rc;

	broker_start(&b, 2, "sys_interval 0\n");
	start_sub(&sub, &b, "$SYS/#' -t 'cli/after", 1, 1, 5);
	run_pub(&b, "-r -q 1 -t '$SYS/x' -m 'forged'");
	run_pub(&b, "-q 1 -t cli/after -m 'marker'");
	rc = bg_cmd_finish(&sub, out, sizeof(out));
	cr_assert_eq(rc, 0, "mosquitto_sub exited with %d; output:\n%s", rc, out);
	cr_assert(strstr(out, "MSG|cli/after|1|marker\n"), "no marker; output:\n%s", out);
	cr_assert_null(strstr(out, "forged"), "the $SYS message was delivered:\n%s", out);

	/* Nor retained: a later subscriber gets nothing within 2 s (-W: exit 27). */
	snprintf(cmd, sizeof(cmd), "mosquitto_sub -h %s -p %u -t '$SYS/x' -C 1 -W 2",
		 harness_host(), (unsigned)b.port);
	rc = run_cmd(cmd, 10, out, sizeof(out));
	cr_assert_str_eq(out, "", "a retained $SYS message was kept: %s", out);
	cr_assert_neq(rc, 0);
	cr_assert(broker_log_contains(&b, "clients may not publish to $SYS"));
	broker_stop_clean(&b);
}
