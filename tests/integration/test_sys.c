/* test_sys.c - $SYS/broker/... (mosquitto(8) "BROKER STATUS"), read with Debian's
 * mosquitto_sub as an existing dashboard would: the values match what the test did,
 * the first set goes out soon after start, sys_interval 0 publishes nothing, and a
 * client cannot publish into $SYS (acknowledged, never delivered or retained). */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "metrics_client.h"

/* The timeout on the suite (see test_metrics.c). */
TestSuite(sys, .fini = harness_fini, .timeout = 90);

#define SUB_OUT_MAX (1u << 20)

/* mosquitto_sub -v on <filter> for <seconds>: "topic payload" lines, malloc'd. */
static char *sys_read(struct broker *b, const char *filter, int seconds, const char *extra)
{
	char cmd[512], *out = malloc(SUB_OUT_MAX);

	cr_assert_not_null(out);
	snprintf(cmd, sizeof(cmd), "mosquitto_sub -h %s -p %u -i sysreader -v -t '%s' -W %d %s",
		 harness_host(), (unsigned)b->port, filter, seconds, extra);
	/* -W ends it with a non-zero status: what it printed is what matters. */
	run_cmd(cmd, seconds + 10, out, SUB_OUT_MAX);
	return out;
}

/* The last payload printed for <topic> (mosquitto_sub -v: "topic payload"), or NULL. */
static const char *last_value(const char *out, const char *topic, char *buf, size_t cap)
{
	size_t tlen = strlen(topic);
	const char *line = out, *found = NULL;

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

		if (len > tlen && strncmp(line, topic, tlen) == 0 && line[tlen] == ' ') {
			snprintf(buf, cap, "%.*s", (int)(len - tlen - 1), line + tlen + 1);
			found = buf;
		}
		line += len + (end != NULL);
	}
	return found;
}

static double last_double(const char *out, const char *topic)
{
	char buf[128], *end;
	const char *v = last_value(out, topic, buf, sizeof(buf));
	double d;

	cr_assert_not_null(v, "no %s in mosquitto_sub's output:\n%.3000s", topic, out);
	d = strtod(v, &end);
	cr_assert(end != v && *end == '\0', "%s = \"%s\" is not a number", topic, v);
	return d;
}

/* What values_match_the_traffic expects of each topic: [min, max]. Counts are exact
 * where the test alone makes them; "sent" figures also count the $SYS messages
 * mosquitto_sub received, and packet and byte counts include what libmosquitto adds. */
#define ANY 1e18
/* A QoS 1 PUBLISH to s/N with "hello": fixed header 2, topic 2 + 3, id 2, payload 5. */
#define PUB_BYTES (2 + 2 + 3 + 2 + 5)
static const struct {
	const char *topic;
	double min, max;
} want[] = {
	/* sub, pub and mosquitto_sub itself; gone is persistent and offline. */
	{ "$SYS/broker/clients/connected", 3, 3 },
	{ "$SYS/broker/clients/disconnected", 1, 1 },
	{ "$SYS/broker/clients/total", 4, 4 },
	{ "$SYS/broker/clients/maximum", 3, ANY },
	{ "$SYS/broker/publish/messages/received", 5, 5 },
	{ "$SYS/broker/publish/messages/sent", 5, ANY },
	{ "$SYS/broker/publish/messages/dropped", 0, 0 },
	/* Every packet: 4 CONNECT, 1 SUBSCRIBE, 5 PUBLISH, 5 PUBACK from sub at least. */
	{ "$SYS/broker/messages/received", 4 + 1 + 5 + 5, ANY },
	{ "$SYS/broker/messages/sent", 5 + 5, ANY },
	{ "$SYS/broker/bytes/received", 5 * PUB_BYTES, ANY },
	{ "$SYS/broker/bytes/sent", 5 * PUB_BYTES, ANY },
	/* s/# and mosquitto_sub's $SYS/broker/#. */
	{ "$SYS/broker/subscriptions/count", 2, 2 },
	/* Ours only: the $SYS topics themselves are not counted. */
	{ "$SYS/broker/retained messages/count", 3, 3 },
	/* The store holds the three retained messages; "gone" has nothing queued. */
	{ "$SYS/broker/store/messages/count", 3, 3 },
	{ "$SYS/broker/load/publish/received/1min", 0.01, ANY },
	{ "$SYS/broker/load/messages/received/5min", 0.01, ANY },
	{ "$SYS/broker/load/bytes/received/15min", 0.01, ANY },
	{ "$SYS/broker/load/connections/1min", 0.01, ANY },
	{ "$SYS/broker/load/bytes/sent/1min", 0.01, ANY },
};

/* Known traffic, then mosquitto_sub reads $SYS/broker/# for 3 s (sys_interval 1: it
 * sees the retained set, then at least two new ones that count it as a client). */
Test(sys, values_match_the_traffic)
{
	struct client *sub, *pub;
	struct rx_msg m;
	struct broker b;
	char buf[128], topic[16], *out;

	broker_start(&b, 2, "sys_interval 1\n");
	client_close(connected_client(&b, "gone", false));
	sub = connected_client(&b, "sub", true);
	cr_assert_eq(client_subscribe(sub, "s/#", 1), 1);
	pub = connected_client(&b, "pub", true);
	for (int i = 0; i < 5; i++) {
		snprintf(topic, sizeof(topic), "s/%d", i);
		/* Three retained, two not. */
		cr_assert_eq(client_publish(pub, topic, "hello", 5, 1, i < 3), 0);
	}
	for (int i = 0; i < 5; i++)
		cr_assert(client_wait_msg(sub, &m, 5000));

	out = sys_read(&b, "$SYS/broker/#", 3, "");
	cr_assert_not_null(last_value(out, "$SYS/broker/version", buf, sizeof(buf)),
			   "no version:\n%.3000s", out);
	cr_expect_str_eq(buf, "petrel version 0.1.0");
	cr_assert_not_null(last_value(out, "$SYS/broker/uptime", buf, sizeof(buf)));
	{
		regex_t re;

		cr_assert_eq(regcomp(&re, "^[0-9]+ seconds$", REG_EXTENDED | REG_NOSUB), 0);
		cr_expect_eq(regexec(&re, buf, 0, NULL, 0), 0, "uptime \"%s\"", buf);
		regfree(&re);
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		double v = last_double(out, want[i].topic);

		cr_expect(v >= want[i].min && v <= want[i].max, "%s = %g, want %g..%g",
			  want[i].topic, v, want[i].min, want[i].max);
	}

	free(out);
	client_close(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

/* As mosquitto, the first set goes out at start, not one interval later. */
Test(sys, first_publication_comes_soon_after_start)
{
	struct broker b;
	char buf[128], *out;

	broker_start(&b, 1, "sys_interval 600\n");
	out = sys_read(&b, "$SYS/broker/version", 4, "-C 1");
	cr_expect_not_null(last_value(out, "$SYS/broker/version", buf, sizeof(buf)),
			   "no $SYS/broker/version within 4 s of start: \"%s\"", out);
	free(out);
	broker_stop_clean(&b);
}

Test(sys, interval_zero_publishes_nothing)
{
	struct broker b;
	char *out;

	struct client *pub;

	broker_start(&b, 1, "sys_interval 0\n");
	/* A retained probe on a second filter proves mosquitto_sub was there to see. */
	pub = connected_client(&b, "pub", true);
	cr_assert_eq(client_publish(pub, "probe", "here", 4, 1, true), 0);
	client_close(pub);
	out = sys_read(&b, "$SYS/#", 3, "-t probe");
	cr_expect_str_eq(out, "probe here\n", "sys_interval 0 published:\n%.2000s", out);
	free(out);
	broker_stop_clean(&b);
}

/* MQTT-4.7.2-1: $SYS is the broker's. A client's PUBLISH there is acknowledged per its
 * QoS, but neither delivered nor retained, and counted. */
Test(sys, client_publish_into_sys_is_not_delivered)
{
	struct client *watcher, *pub, *late;
	struct rx_msg m;
	struct broker b;
	json_t *p;
	char *text;

	broker_start(&b, 2, "sys_interval 0\n");
	watcher = connected_client(&b, "watcher", true);
	cr_assert_eq(client_subscribe(watcher, "$SYS/#", 1), 1);
	pub = connected_client(&b, "pub", true);
	cr_expect_eq(client_publish(pub, "$SYS/broker/x", "fake", 4, 1, true), 0,
		     "a QoS 1 PUBLISH to $SYS is still acknowledged");
	cr_expect_eq(client_publish(pub, "$SYS/broker/clients/connected", "999", 3, 0, false),
		     0);
	cr_assert_eq(client_sync(pub), 0);
	cr_expect_not(client_wait_msg(watcher, &m, 1500), "delivered %s", m.topic);
	cr_expect(client_is_connected(pub), "the publisher keeps its connection");

	late = connected_client(&b, "late", true);
	cr_assert_eq(client_subscribe(late, "$SYS/broker/x", 1), 1);
	cr_expect_not(client_wait_msg(late, &m, 1000), "retained %s", m.topic);

	/* An ordinary topic still flows. */
	cr_assert_eq(client_subscribe(watcher, "ok", 1), 1);
	cr_assert_eq(client_publish(pub, "ok", "1", 1, 1, false), 0);
	cr_expect(client_wait_msg(watcher, &m, 3000) && strcmp(m.topic, "ok") == 0);

	text = ctl_metrics_text(&b);
	p = prom_parse_ok(text);
	cr_expect_eq(prom_sum(p, "petrel_publish_sys_denied_total"), 2);
	json_decref(p);
	free(text);

	client_close(late);
	client_close(pub);
	client_close(watcher);
	broker_stop_clean(&b);
}
