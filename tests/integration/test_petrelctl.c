/* test_petrelctl.c - every petrelctl command run for real (ctl_client.h) against a
 * running broker that real libmosquitto clients use: the counts it shows are the
 * traffic the test made, kick fires the will, retained delete is seen by a new
 * subscriber, --json parses; and each error petrelctl promises, with its exit code and
 * its one line on stderr (issue 9, docs/operations.md "Control socket and petrelctl"). */
#include <criterion/criterion.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_client.h"
#include "harness.h"

TestSuite(petrelctl, .fini = harness_fini, .timeout = 120);

#define NOBODY_UID 65534

/* What status says the mode is, and where clients come from (harness.h). */
static const char *mode_name(void)
{
	return harness_dataplane() == HARNESS_KERNEL ? "kernel" : "dpdk";
}

static const char *client_addr_re(void)
{
	return harness_dataplane() == HARNESS_KERNEL ? "127\\.0\\.0\\.1" : "198\\.18\\.0\\.2";
}

/* petrelctl exited <status> with nothing on stderr; returns its stdout. */
static void expect_ok(struct ctl_out *o, const char *what)
{
	cr_assert_eq(o->status, 0, "%s: exit %d, stderr: %s", what, o->status, o->err);
	cr_assert_eq(o->err_len, 0, "%s wrote to stderr: %s", what, o->err);
}

/* petrelctl failed with exit <status>, stdout empty and exactly <line> on stderr. */
static void expect_error(struct ctl_out *o, int status, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "%s\n", line);
	cr_assert_eq(o->status, status, "exit %d, expected %d; stderr: %s", o->status, status,
		     o->err);
	cr_assert_str_eq(o->err, want, "stderr");
	cr_assert_eq(o->out_len, 0, "nothing on stdout for an error: %s", o->out);
}

/* True if a line of <text> matches the extended regex <re>. */
static bool has_line(const char *text, const char *re)
{
	regex_t rx;
	bool hit;

	cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0, "%s", re);
	hit = regexec(&rx, text, 0, NULL, 0) == 0;
	regfree(&rx);
	return hit;
}

#define assert_line(text, re) \
	cr_assert(has_line(text, re), "no line matches /%s/ in:\n%s", re, text)

/* Runs "petrelctl -s <b's socket> <args...>" asserting success; caller frees <o>. */
#define ctl_ok(o, b, ...)                                                              \
	do {                                                                           \
		ctl_run(o, (b)->ctl_path, __VA_ARGS__, NULL);                          \
		expect_ok(o, #__VA_ARGS__);                                            \
	} while (0)

/* A DISCONNECT is handled by the client's worker after client_close returns: wait
 * until the broker counts <n> offline sessions before asking about them. */
static void wait_offline(struct broker *b, json_int_t n)
{
	cr_assert_eq(ctl_wait_status(b, "sessions.offline", n, 5000), n,
		     "%lld offline sessions never showed", (long long)n);
}

static void publish_n(struct client *c, const char *topic, int n, int qos)
{
	for (int i = 0; i < n; i++) {
		char payload[16];
		int len = snprintf(payload, sizeof(payload), "%d", i);

		cr_assert_eq(client_publish(c, topic, payload, len, qos, false), 0);
	}
}

static void receive_n(struct client *c, int n)
{
	struct rx_msg m;

	for (int i = 0; i < n; i++)
		cr_assert(client_wait_msg(c, &m, 5000), "message %d of %d not received", i, n);
}

/* ---- status ---------------------------------------------------------------------- */

Test(petrelctl, status_counts_what_the_clients_did)
{
	struct broker b;
	struct ctl_out o;
	struct client *sub, *pub, *off;
	char re[128];
	json_t *st;

	broker_start(&b, 2, NULL);
	off = connected_client(&b, "ctl-off", false);
	cr_assert_eq(client_subscribe(off, "t/#", 1), 1);
	client_close(off);
	wait_offline(&b, 1);
	sub = connected_client(&b, "ctl-sub", true);
	cr_assert_eq(client_subscribe(sub, "t/#", 1), 1);
	cr_assert_eq(client_subscribe(sub, "x/y", 0), 0);
	pub = connected_client(&b, "ctl-pub", true);
	publish_n(pub, "t/a", 5, 1);
	cr_assert_eq(client_publish(pub, "r/1", "kept", 4, 1, true), 0);
	receive_n(sub, 5);

	/* Five to the online subscriber; the offline session's five are queued, not
	 * sent. Workers count as they go: give the last delivery a moment. */
	cr_assert_eq(ctl_wait_status(&b, "messages.sent", 5, 3000), 5);
	st = ctl_json(&b, "status", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(st, "version")), "0.1.0");
	cr_assert_str_eq(json_string_value(json_object_get(st, "mode")), mode_name());
	cr_assert_eq(ctl_int(st, "workers"), 2);
	cr_assert_eq(ctl_int(st, "connections"), 2);
	cr_assert_eq(ctl_int(st, "sessions.online"), 2);
	cr_assert_eq(ctl_int(st, "sessions.offline"), 1);
	cr_assert_eq(ctl_int(st, "sessions.total"), 3);
	cr_assert_eq(ctl_int(st, "subscriptions"), 3);
	cr_assert_eq(ctl_int(st, "retained"), 1);
	cr_assert_eq(ctl_int(st, "messages.received"), 6);
	cr_assert_eq(ctl_int(st, "messages.sent"), 5);
	cr_assert_eq(ctl_int(st, "drops.total"), 0);
	cr_assert_eq(json_array_size(json_object_get(st, "per_worker")), 2);
	cr_assert(ctl_int(st, "bytes.received") > 0);
	json_decref(st);

	ctl_ok(&o, &b, "status");
	assert_line(o.out, "^version: +0\\.1\\.0$");
	snprintf(re, sizeof(re), "^mode: +%s, 2 workers$", mode_name());
	assert_line(o.out, re);
	assert_line(o.out, "^connections: +2$");
	assert_line(o.out, "^sessions: +2 online, 1 offline, 3 total$");
	assert_line(o.out, "^subscriptions: +3$");
	assert_line(o.out, "^retained: +1$");
	assert_line(o.out, "^messages in: +6 \\([0-9.]+k?/s\\)$");
	assert_line(o.out, "^messages out: +5 \\([0-9.]+k?/s\\)$");
	assert_line(o.out, "^bytes in: +[0-9.]+ (B|KiB) \\([0-9.]+ (B|KiB)/s\\)$");
	assert_line(o.out, "^drops: +0$");
	/* The offline session; six message bodies: the five queued for it and the
	 * retained one; that retained topic. */
	assert_line(o.out, "^store: +[0-9.]+ (B|KiB|MiB) file \\([0-9.]+ (B|KiB|MiB) used\\); "
			   "sessions 1, messages 6, retained 1$");
	ctl_out_free(&o);

	client_close(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

/* ---- clients, sessions, subscriptions ---------------------------------------------- */

Test(petrelctl, clients_lists_the_sessions_a_pattern_matches)
{
	struct broker b;
	struct ctl_out o;
	struct client *s1, *s2, *p1;
	char re[160];
	json_t *r, *c;

	broker_start(&b, 2, NULL);
	s1 = connected_client(&b, "sensor-1", true);
	s2 = connected_client(&b, "sensor-2", true);
	p1 = connected_client(&b, "pump-1", false);
	cr_assert_eq(client_subscribe(s2, "a/b", 1), 1);

	r = ctl_json(&b, "clients", "sensor-*", NULL);
	cr_assert_eq(ctl_int(r, "total"), 2);
	cr_assert_eq(json_array_size(json_object_get(r, "clients")), 2);
	c = json_array_get(json_object_get(r, "clients"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(c, "client")), "sensor-2");
	cr_assert(json_is_true(json_object_get(c, "connected")));
	cr_assert_eq(ctl_int(c, "keepalive"), 60);
	cr_assert_eq(ctl_int(c, "subscriptions"), 1);
	snprintf(re, sizeof(re), "^%s:[0-9]+$", client_addr_re());
	cr_assert(has_line(json_string_value(json_object_get(c, "address")), re));
	json_decref(r);

	ctl_ok(&o, &b, "clients", "sensor-*");
	assert_line(o.out, "^CLIENT +WORKER +STATE +ADDRESS +KEEPALIVE +SUBS +INFLIGHT +"
			   "QUEUED +SINCE$");
	snprintf(re, sizeof(re), "^sensor-1 +[01] +online +%s:[0-9]+ +60 +0 +0 +0 +"
		 "20[0-9-]+T[0-9:]+Z$", client_addr_re());
	assert_line(o.out, re);
	snprintf(re, sizeof(re), "^sensor-2 +[01] +online +%s:[0-9]+ +60 +1 +0 +0 ",
		 client_addr_re());
	assert_line(o.out, re);
	cr_assert_null(strstr(o.out, "pump-1"), "pattern sensor-* listed pump-1:\n%s", o.out);
	cr_assert_null(strstr(o.out, "shown"), "nothing was cut:\n%s", o.out);
	ctl_out_free(&o);

	/* A limit cuts the list and says so. */
	ctl_ok(&o, &b, "clients", "--limit", "1");
	assert_line(o.out, "^pump-1 ");
	assert_line(o.out, "^1 of 3 shown");
	cr_assert_eq(ctl_count(o.out, "\n"), 3, "header, one row, the shown line:\n%s", o.out);
	ctl_out_free(&o);

	/* pump-1 offline: a persistent session, listed with its state. */
	client_close(p1);
	wait_offline(&b, 1);
	ctl_ok(&o, &b, "clients", "pump-*");
	assert_line(o.out, "^pump-1 +[01] +offline +- ");
	ctl_out_free(&o);

	client_close(s1);
	client_close(s2);
	broker_stop_clean(&b);
}

Test(petrelctl, session_show_counts_what_an_offline_session_has_queued)
{
	struct broker b;
	struct ctl_out o;
	struct client *off, *pub;
	char re[128];
	json_t *r, *s;

	broker_start(&b, 2, NULL);
	off = connected_client(&b, "ctl-queue", false);
	cr_assert_eq(client_subscribe(off, "q/#", 1), 1);
	cr_assert_eq(client_subscribe(off, "z", 0), 0);

	ctl_ok(&o, &b, "session", "show", "ctl-queue");
	assert_line(o.out, "^client: +ctl-queue$");
	assert_line(o.out, "^state: +online on worker [01]$");
	snprintf(re, sizeof(re), "^address: +%s:[0-9]+$", client_addr_re());
	assert_line(o.out, re);
	assert_line(o.out, "^clean session: +no$");
	assert_line(o.out, "^keep-alive: +60 s$");
	assert_line(o.out, "^subscriptions: +2$");
	assert_line(o.out, "^  q/# +1$");
	assert_line(o.out, "^  z +0$");
	ctl_out_free(&o);

	client_close(off);
	wait_offline(&b, 1);
	pub = connected_client(&b, "ctl-qpub", true);
	publish_n(pub, "q/x", 3, 1);
	publish_n(pub, "z", 2, 0);
	cr_assert_eq(client_sync(pub), 0);

	r = ctl_json(&b, "session", "show", "ctl-queue", NULL);
	cr_assert(json_is_false(json_object_get(r, "connected")));
	cr_assert(json_is_null(json_object_get(r, "address")));
	cr_assert_eq(ctl_int(r, "queued"), 3, "three QoS 1 queued, QoS 0 not kept");
	cr_assert(ctl_int(r, "queued_bytes") > 0);
	s = json_object_get(r, "subscriptions_list");
	cr_assert_eq(json_array_size(s), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(s, 0), "filter")),
			 "q/#");
	cr_assert_eq(ctl_int(json_array_get(s, 0), "qos"), 1);
	json_decref(r);

	ctl_ok(&o, &b, "session", "show", "ctl-queue");
	assert_line(o.out, "^state: +offline on worker [01]$");
	assert_line(o.out, "^queued: +3 \\([0-9]+ B\\)$");
	assert_line(o.out, "^offline since: +20[0-9-]+T[0-9:]+Z \\([0-9]+s ago\\)$");
	ctl_out_free(&o);

	client_close(pub);
	broker_stop_clean(&b);
}

Test(petrelctl, subscriptions_lists_what_a_filter_covers)
{
	struct broker b;
	struct ctl_out o;
	struct client *a, *c, *d;
	json_t *r, *s;

	broker_start(&b, 2, NULL);
	a = connected_client(&b, "sub-a", true);
	c = connected_client(&b, "sub-c", true);
	d = connected_client(&b, "sub-d", true);
	cr_assert_eq(client_subscribe(a, "sensors/+/temp", 1), 1);
	cr_assert_eq(client_subscribe(c, "sensors/kitchen/temp", 2), 2);
	cr_assert_eq(client_subscribe(d, "other/x", 0), 0);

	r = ctl_json(&b, "subscriptions", "sensors/#", NULL);
	cr_assert_eq(ctl_int(r, "total"), 2);
	s = json_object_get(r, "subscriptions");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(s, 0), "client")),
			 "sub-a");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(s, 0), "filter")),
			 "sensors/+/temp");
	cr_assert_eq(ctl_int(json_array_get(s, 1), "qos"), 2);
	json_decref(r);

	ctl_ok(&o, &b, "subscriptions", "sensors/#");
	assert_line(o.out, "^CLIENT +FILTER +QOS$");
	assert_line(o.out, "^sub-a +sensors/\\+/temp +1$");
	assert_line(o.out, "^sub-c +sensors/kitchen/temp +2$");
	cr_assert_null(strstr(o.out, "other/x"), "%s", o.out);
	ctl_out_free(&o);

	ctl_ok(&o, &b, "subscriptions");
	assert_line(o.out, "^sub-d +other/x +0$");
	ctl_out_free(&o);
	ctl_ok(&o, &b, "subscriptions", "--limit", "2");
	assert_line(o.out, "^2 of 3 shown");
	ctl_out_free(&o);

	client_close(a);
	client_close(c);
	client_close(d);
	broker_stop_clean(&b);
}

/* ---- kick ------------------------------------------------------------------------- */

Test(petrelctl, kick_disconnects_the_client_and_its_will_goes_out)
{
	struct broker b;
	struct ctl_out o;
	struct client *watch, *victim, *off;
	struct rx_msg m;
	json_t *r;

	broker_start(&b, 2, NULL);
	watch = connected_client(&b, "watcher", true);
	cr_assert_eq(client_subscribe(watch, "will/#", 1), 1);
	victim = client_new_will(&b, "victim", true, 60, "will/victim", "gone", 1, false);
	cr_assert_eq(client_connack_rc(victim), 0);

	ctl_ok(&o, &b, "kick", "victim");
	cr_assert_str_eq(o.out, "kicked victim\n");
	ctl_out_free(&o);
	cr_assert(client_wait_disconnect(victim, 5000), "the kicked client is still connected");
	cr_assert(client_wait_msg(watch, &m, 5000), "the will of the kicked client never came");
	cr_assert_str_eq(m.topic, "will/victim");
	cr_assert(msg_payload_is(&m, "gone"));
	client_free(victim);

	/* --json: the result object. */
	victim = connected_client(&b, "victim2", true);
	r = ctl_json(&b, "kick", "victim2", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(r, "kicked")), "victim2");
	json_decref(r);
	cr_assert(client_wait_disconnect(victim, 5000));
	client_free(victim);

	/* An offline session has no connection to close: the broker's error. */
	off = connected_client(&b, "sleeper", false);
	client_close(off);
	wait_offline(&b, 1);
	ctl_run(&o, b.ctl_path, "kick", "sleeper", NULL);
	cr_assert_eq(o.status, 1, "stderr: %s", o.err);
	assert_line(o.err, "^petrelctl: .*sleeper.*$");
	cr_assert_eq(ctl_count(o.err, "\n"), 1, "one line: %s", o.err);
	ctl_out_free(&o);

	client_close(watch);
	broker_stop_clean(&b);
}

/* ---- retained --------------------------------------------------------------------- */

Test(petrelctl, retained_delete_removes_it_for_new_subscribers)
{
	struct broker b;
	struct ctl_out o;
	struct client *pub, *late;
	struct rx_msg m;
	json_t *r;

	broker_start(&b, 2, NULL);
	pub = connected_client(&b, "ret-pub", true);
	cr_assert_eq(client_publish(pub, "r/a", "one", 3, 1, true), 0);
	cr_assert_eq(client_publish(pub, "r/b", "two\tlines\n", 10, 0, true), 0);
	cr_assert_eq(client_publish(pub, "s/c", "three", 5, 1, true), 0);
	cr_assert_eq(client_sync(pub), 0);

	ctl_ok(&o, &b, "retained", "list");
	assert_line(o.out, "^TOPIC +QOS +SIZE +PAYLOAD$");
	assert_line(o.out, "^r/a +1 +3 B +one$");
	assert_line(o.out, "^r/b +0 +10 B +two\\\\x09lines\\\\x0a$");
	assert_line(o.out, "^s/c +1 +5 B +three$");
	ctl_out_free(&o);

	r = ctl_json(&b, "retained", "list", "r/#", NULL);
	cr_assert_eq(ctl_int(r, "total"), 2);
	cr_assert_str_eq(json_string_value(json_object_get(
		json_array_get(json_object_get(r, "retained"), 0), "payload")), "one");
	json_decref(r);

	ctl_ok(&o, &b, "retained", "delete", "r/a");
	cr_assert_str_eq(o.out, "deleted the retained message of r/a\n");
	ctl_out_free(&o);
	r = ctl_json(&b, "retained", "list", "r/#", NULL);
	cr_assert_eq(ctl_int(r, "total"), 1);
	json_decref(r);

	/* A new subscriber gets r/b only. */
	late = connected_client(&b, "ret-late", true);
	cr_assert_eq(client_subscribe(late, "r/#", 1), 1);
	cr_assert(client_wait_msg(late, &m, 5000));
	cr_assert_str_eq(m.topic, "r/b");
	cr_assert_not(client_wait_msg(late, &m, 500), "got %s after its deletion", m.topic);

	/* Twice: nothing left to delete. */
	ctl_run(&o, b.ctl_path, "retained", "delete", "r/a", NULL);
	cr_assert_eq(o.status, 1, "stderr: %s", o.err);
	assert_line(o.err, "^petrelctl: .*r/a.*$");
	ctl_out_free(&o);

	r = ctl_json(&b, "retained", "delete", "s/c", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(r, "deleted")), "s/c");
	json_decref(r);

	client_close(late);
	client_close(pub);
	broker_stop_clean(&b);
}

/* ---- log level, reload, metrics, store ------------------------------------------- */

Test(petrelctl, log_level_shows_and_sets_the_level)
{
	struct broker b;
	struct ctl_out o;
	json_t *r;

	broker_start(&b, 1, NULL);
	/* The harness runs brokers at debug (-v); a config's level would show alike. */
	ctl_ok(&o, &b, "log", "level");
	assert_line(o.out, "^log level: (debug|notice)$");
	ctl_out_free(&o);
	ctl_ok(&o, &b, "log", "level", "warning");
	cr_assert_str_eq(o.out, "log level: warning\n");
	ctl_out_free(&o);
	ctl_ok(&o, &b, "log", "level");
	cr_assert_str_eq(o.out, "log level: warning\n");
	ctl_out_free(&o);
	r = ctl_json(&b, "log", "level", "info", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(r, "level")), "info");
	json_decref(r);
	r = ctl_json(&b, "log", "level", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(r, "level")), "info");
	json_decref(r);

	ctl_run(&o, b.ctl_path, "log", "level", "loud", NULL);
	cr_assert_eq(o.status, 1, "stderr: %s", o.err);
	assert_line(o.err, "^petrelctl: .*loud.*$");
	ctl_out_free(&o);
	broker_stop_clean(&b);
}

Test(petrelctl, reload_says_what_applied_and_what_needs_a_restart)
{
	struct broker b;
	struct ctl_out o;
	FILE *conf;
	json_t *r;

	broker_start(&b, 1, NULL);
	ctl_ok(&o, &b, "reload");
	cr_assert_str_eq(o.out, "reloaded: nothing changed\n");
	ctl_out_free(&o);

	conf = fopen(b.conf_path, "a");
	cr_assert(conf);
	fprintf(conf, "max_connections 77\nmax_packet_size 4096\npersistence_sync never\n");
	fclose(conf);
	ctl_ok(&o, &b, "reload");
	assert_line(o.out, "^applied:$");
	assert_line(o.out, "^  KEY +FROM +TO$");
	assert_line(o.out, "^  max_connections +[-0-9]+ +77$");
	assert_line(o.out, "^  max_packet_size +[0-9]+ +4096$");
	assert_line(o.out, "^need a restart \\(not applied\\):$");
	assert_line(o.out, "^  persistence_sync +always +never$");
	ctl_out_free(&o);
	r = ctl_json(&b, "reload", NULL);
	cr_assert_eq(json_array_size(json_object_get(r, "applied")), 0, "applied once only");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(r, "restart_needed"), 0), "key")), "persistence_sync",
		"still different from what runs");
	json_decref(r);
	broker_stop_clean(&b);
}

Test(petrelctl, metrics_prints_the_prometheus_text)
{
	struct broker b;
	struct ctl_out o;
	struct client *c;
	json_t *r;
	char *line, *save;

	broker_start(&b, 2, NULL);
	c = connected_client(&b, "metric-pub", true);
	publish_n(c, "m/x", 4, 1);

	ctl_ok(&o, &b, "metrics");
	assert_line(o.out, "^# TYPE petrel_publish_in_total counter$");
	assert_line(o.out, "^petrel_connections 1$");
	assert_line(o.out, "^petrel_info\\{.*version=\"0\\.1\\.0\".*\\} 1$");
	/* Every line is a comment or "name{labels} value": the text as served. */
	for (line = strtok_r(o.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		cr_assert(line[0] == '#' ||
			  has_line(line, "^[a-z_:][a-z0-9_:]*(\\{[^}]*\\})? [-+0-9.eE]+$") ||
			  has_line(line, "^[a-z_:][a-z0-9_:]*(\\{[^}]*\\})? (NaN|[-+]Inf)$"),
			  "not an exposition line: %s", line);
	ctl_out_free(&o);

	/* --json carries the same families in "text". */
	r = ctl_json(&b, "metrics", NULL);
	cr_assert(strstr(json_string_value(json_object_get(r, "text")),
			 "# TYPE petrel_publish_in_total counter"));
	json_decref(r);
	client_close(c);
	broker_stop_clean(&b);
}

Test(petrelctl, store_stats_and_compact)
{
	struct broker b;
	struct ctl_out o;
	struct client *c;
	json_t *r;

	broker_start(&b, 2, NULL);
	c = connected_client(&b, "stored-1", false);
	cr_assert_eq(client_subscribe(c, "s/#", 1), 1);
	client_close(c);
	c = connected_client(&b, "stored-2", false);
	client_close(c);

	/* The store commits in groups: wait for both sessions to be there. */
	for (uint64_t end = now_ms() + 5000;;) {
		r = ctl_json(&b, "store", "stats", NULL);
		if (ctl_int(r, "sessions") == 2 || now_ms() > end)
			break;
		json_decref(r);
		usleep(50 * 1000);
	}
	cr_assert_eq(ctl_int(r, "sessions"), 2);
	cr_assert_eq(ctl_int(r, "subs"), 1);
	cr_assert(ctl_int(r, "file_bytes") > 0);
	json_decref(r);

	ctl_ok(&o, &b, "store", "stats");
	assert_line(o.out, "^sessions: +2$");
	assert_line(o.out, "^file_bytes: +[0-9.]+ (B|KiB|MiB)$");
	ctl_out_free(&o);

	ctl_ok(&o, &b, "store", "compact");
	assert_line(o.out, "^compacted: [0-9.]+ (B|KiB|MiB) -> [0-9.]+ (B|KiB|MiB) in [0-9]+ ms$");
	ctl_out_free(&o);
	r = ctl_json(&b, "store", "compact", NULL);
	cr_assert(ctl_int(r, "after_bytes") > 0);
	cr_assert(ctl_int(r, "after_bytes") <= ctl_int(r, "before_bytes"));
	json_decref(r);
	r = ctl_json(&b, "store", "stats", NULL);
	cr_assert_eq(ctl_int(r, "sessions"), 2, "compact keeps every session");
	json_decref(r);
	broker_stop_clean(&b);
}

Test(petrelctl, store_commands_without_persistence_say_so)
{
	struct broker b;
	struct ctl_out o;

	broker_start(&b, 1, "persistence false\n");
	ctl_run(&o, b.ctl_path, "store", "stats", NULL);
	cr_assert_eq(o.status, 1, "stderr: %s", o.err);
	assert_line(o.err, "^petrelctl: .*persistence.*$");
	cr_assert_eq(o.out_len, 0);
	ctl_out_free(&o);
	broker_stop_clean(&b);
}

/* ---- top, shutdown, help ---------------------------------------------------------- */

Test(petrelctl, top_prints_the_frames_asked_for)
{
	struct broker b;
	struct ctl_out o;
	struct client *c;
	uint64_t t0;
	char *line, *save;
	unsigned frames = 0;

	broker_start(&b, 2, NULL);
	c = connected_client(&b, "top-1", true);
	t0 = now_ms();
	ctl_ok(&o, &b, "top", "-n", "2", "-d", "1");
	cr_assert(now_ms() - t0 >= 1000, "two frames one second apart took %llu ms",
		  (unsigned long long)(now_ms() - t0));
	/* Not a terminal: no escape sequences, frames one after the other. */
	cr_assert_null(strchr(o.out, '\033'), "ANSI codes into a pipe:\n%s", o.out);
	cr_assert_eq(ctl_count(o.out, "petrel 0.1.0 - "), 2, "%s", o.out);
	cr_assert_eq(ctl_count(o.out, "WORKER"), 2, "%s", o.out);
	assert_line(o.out, "^connections 1, sessions 1 online 0 offline, subscriptions 0, "
			   "retained 0$");
	assert_line(o.out, "^WORKER +CPU% +BUSY% +CONNS +SESSIONS +MSG IN/S +MSG OUT/S$");
	assert_line(o.out, "^ +1 +[0-9.]+ +[0-9.]+ +[01] +[01] +[0-9.]+k? +[0-9.]+k?$");
	ctl_out_free(&o);

	/* --json: one status object a line. */
	ctl_ok(&o, &b, "top", "-n", "2", "-d", "1", "--json");
	for (line = strtok_r(o.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);

		cr_assert(j, "not JSON: %s", line);
		cr_assert_eq(ctl_int(j, "connections"), 1);
		json_decref(j);
		frames++;
	}
	cr_assert_eq(frames, 2);
	ctl_out_free(&o);
	client_close(c);
	broker_stop_clean(&b);
}

/* On a terminal each frame starts by homing the cursor and clearing the screen.
 * script(1) gives petrelctl a pseudo-terminal as stdout. */
Test(petrelctl, top_on_a_terminal_redraws_the_screen)
{
	struct broker b;
	char cmd[512], *out = malloc(65536);
	int rc;

	if (access("/usr/bin/script", X_OK) != 0)
		cr_skip_test("no /usr/bin/script (util-linux) to run petrelctl on a pty");
	broker_start(&b, 1, NULL);
	snprintf(cmd, sizeof(cmd), "/usr/bin/script -qec '%s -s %s top -n 2 -d 0.2' /dev/null",
		 getenv("PETRELCTL_BIN"), b.ctl_path);
	rc = run_cmd(cmd, 30, out, 65536);
	cr_assert_eq(rc, 0, "%s: exit %d: %s", cmd, rc, out);
	cr_assert_eq(ctl_count(out, "\033[H\033[2Jpetrel 0.1.0 - "), 2, "%s", out);
	free(out);
	broker_stop_clean(&b);
}

Test(petrelctl, shutdown_stops_the_broker)
{
	struct broker b;
	struct ctl_out o;
	uint64_t end;

	broker_start(&b, 2, NULL);
	ctl_ok(&o, &b, "shutdown");
	cr_assert_str_eq(o.out, "petrel is shutting down\n");
	ctl_out_free(&o);
	end = now_ms() + 10000;
	while (broker_alive(&b) && now_ms() < end)
		usleep(20 * 1000);
	cr_assert_not(broker_alive(&b), "the broker still runs 10 s after shutdown");
	broker_stop_clean(&b);   /* exit 0, as on SIGTERM */
	cr_assert_eq(access(b.ctl_path, F_OK), -1, "the socket file stays behind");

	/* And --json's result. */
	broker_start(&b, 1, NULL);
	{
		json_t *r = ctl_json(&b, "shutdown", NULL);

		cr_assert(json_is_true(json_object_get(r, "stopping")));
		json_decref(r);
	}
	end = now_ms() + 10000;
	while (broker_alive(&b) && now_ms() < end)
		usleep(20 * 1000);
	broker_stop_clean(&b);
}

Test(petrelctl, help_lists_every_command)
{
	static const char *const cmds[] = { "status", "clients", "session show",
		"subscriptions", "kick", "retained list", "retained delete", "log level",
		"reload", "metrics", "shutdown", "store stats", "store compact", "top",
		"help" };
	struct ctl_out o;

	ctl_run(&o, NULL, "help", NULL);
	expect_ok(&o, "help");
	assert_line(o.out, "^usage: petrelctl \\[-s PATH\\] \\[--json\\] \\[-t SECONDS\\] "
			   "COMMAND \\[ARGS\\]$");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char re[64];

		snprintf(re, sizeof(re), "^  %s ", cmds[i]);
		assert_line(o.out, re);
	}
	ctl_out_free(&o);
}

/* ---- errors ----------------------------------------------------------------------- */

Test(petrelctl, a_missing_socket_asks_whether_petrel_runs)
{
	char dir[] = "/tmp/petrelctl-XXXXXX", path[100], line[256];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_out o;
	int fd;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	ctl_run(&o, path, "status", NULL);
	snprintf(line, sizeof(line), "petrelctl: cannot connect to %s: No such file or "
		 "directory (is petrel running?)", path);
	expect_error(&o, 1, line);
	ctl_out_free(&o);

	/* A socket file left by a broker that died: nobody listens. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ctl_run(&o, path, "status", NULL);
	snprintf(line, sizeof(line), "petrelctl: cannot connect to %s: Connection refused "
		 "(is petrel running?)", path);
	expect_error(&o, 1, line);
	ctl_out_free(&o);

	/* The default path, from a directory without one. */
	{
		const char *argv[] = { "status", NULL };
		char cwd[512];

		cr_assert(getcwd(cwd, sizeof(cwd)));
		cr_assert_eq(chdir(dir), 0);
		ctl_exec(&o, argv, 30, -1);
		cr_assert_eq(chdir(cwd), 0);
	}
	expect_error(&o, 1, "petrelctl: cannot connect to ./petrel.sock: No such file or "
		     "directory (is petrel running?)");
	ctl_out_free(&o);
	unlink(path);
	rmdir(dir);
}

Test(petrelctl, permission_denied_is_reported)
{
	struct broker b;
	struct ctl_out o;
	char line[256];
	struct stat sb;

	broker_start(&b, 1, NULL);
	cr_assert_eq(stat(b.ctl_path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "the control socket is mode %o", sb.st_mode & 0777);
	if (geteuid() == 0) {
		/* Root passes every permission check: ask as nobody, as an operator
		 * without the broker's user would. */
		const char *help[] = { "help", NULL };
		const char *argv[] = { "-s", b.ctl_path, "status", NULL };

		if (ctl_exec(&o, help, 30, NOBODY_UID) != 0) {
			ctl_out_free(&o);
			broker_stop_clean(&b);
			cr_skip_test("petrelctl cannot run as uid %d here (exit %d: %s)",
				     NOBODY_UID, o.status, o.err);
		}
		ctl_out_free(&o);
		ctl_exec(&o, argv, 30, NOBODY_UID);
	} else {
		/* The owner loses write permission on the socket: connect needs it. */
		cr_assert_eq(chmod(b.ctl_path, 0), 0);
		ctl_run(&o, b.ctl_path, "status", NULL);
		cr_assert_eq(chmod(b.ctl_path, 0600), 0);
	}
	snprintf(line, sizeof(line), "petrelctl: cannot connect to %s: Permission denied",
		 b.ctl_path);
	expect_error(&o, 1, line);
	ctl_out_free(&o);
	broker_stop_clean(&b);
}

Test(petrelctl, a_broker_that_never_answers_times_out)
{
	char dir[] = "/tmp/petrelctl-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_out o;
	uint64_t t0, took;
	int fd, filler[2];

	/* Listening, never accepting: connect and send succeed, no answer comes. */
	cr_assert(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/mute.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	{
		const char *argv[] = { "-s", sa.sun_path, "-t", "1", "status", NULL };

		t0 = now_ms();
		ctl_exec(&o, argv, 30, -1);
		took = now_ms() - t0;
	}
	expect_error(&o, 1, "petrelctl: broker did not answer within 1 s");
	cr_assert(took >= 900 && took < 5000, "gave up after %llu ms", (unsigned long long)took);
	ctl_out_free(&o);

	/* A backlog that is full: connect() itself waits, for -t and no longer. The
	 * listener above already holds petrelctl's connection and ours. */
	cr_assert_eq(listen(fd, 0), 0);
	for (int i = 0; i < 2; i++) {
		filler[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(filler[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	{
		const char *argv[] = { "-s", sa.sun_path, "-t", "1", "status", NULL };

		t0 = now_ms();
		ctl_exec(&o, argv, 30, -1);
		took = now_ms() - t0;
	}
	expect_error(&o, 1, "petrelctl: broker did not answer within 1 s");
	cr_assert(took >= 900 && took < 5000, "gave up after %llu ms", (unsigned long long)took);
	ctl_out_free(&o);
	close(filler[0]);
	close(filler[1]);
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
}

Test(petrelctl, usage_errors_exit_2)
{
	struct broker b;
	struct ctl_out o;

	broker_start(&b, 1, NULL);
	ctl_run(&o, b.ctl_path, "frobnicate", NULL);
	expect_error(&o, 2, "petrelctl: unknown command 'frobnicate' (petrelctl help lists "
		     "them)");
	ctl_out_free(&o);
	ctl_run(&o, b.ctl_path, "session", NULL);
	expect_error(&o, 2, "petrelctl: 'session' needs one of: show");
	ctl_out_free(&o);
	ctl_run(&o, b.ctl_path, "session", "show", NULL);
	expect_error(&o, 2, "petrelctl: session show: missing CLIENTID (usage: petrelctl "
		     "session show CLIENTID)");
	ctl_out_free(&o);
	ctl_run(&o, b.ctl_path, "clients", "--limit", "many", NULL);
	expect_error(&o, 2, "petrelctl: clients: --limit needs a count (0 = all)");
	ctl_out_free(&o);
	ctl_run(&o, b.ctl_path, "kick", "a", "b", NULL);
	expect_error(&o, 2, "petrelctl: kick: unexpected argument 'b' (usage: petrelctl kick "
		     "CLIENTID)");
	ctl_out_free(&o);
	{
		const char *none[] = { NULL };

		ctl_exec(&o, none, 30, -1);
	}
	expect_error(&o, 2, "petrelctl: no command given (petrelctl help lists them)");
	ctl_out_free(&o);
	/* The broker is untouched by all that. */
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

Test(petrelctl, an_unknown_client_is_the_brokers_error)
{
	struct broker b;
	struct ctl_out o;

	broker_start(&b, 2, NULL);
	ctl_run(&o, b.ctl_path, "session", "show", "nobody", NULL);
	expect_error(&o, 1, "petrelctl: unknown client 'nobody'");
	ctl_out_free(&o);
	ctl_run(&o, b.ctl_path, "kick", "nobody", NULL);
	expect_error(&o, 1, "petrelctl: unknown client 'nobody'");
	ctl_out_free(&o);
	broker_stop_clean(&b);
}
