/* test_bench_scenarios.c - petrel-bench's fleet, storm and persist scenarios and its
 * progress output, run for real (the petrel-bench built beside this test against the
 * real petrel, kernel sockets) at small sizes, with the no-loss checks read from the
 * JSON line: every QoS 1 message stamped arrives at its one subscriber, every stored
 * session comes back with its queue (CONNACK session present, MQTT-3.2.2-2), nothing
 * is counted twice where nothing was resent. One test points persist's verify at a
 * broker that never saw the sessions, to show the checks do see loss. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_conn.h"
#include "harness.h"

TestSuite(bench_scenarios, .fini = harness_fini);

/* Each run ends by itself within its phases' --timeout; this bounds the wait. */
#define GEN_TIMEOUT_S 90
#define OUT_CAP (1 << 20)

struct gen_run {
	int status;                  /* exit status, -1 on timeout */
	json_t *json;                /* the JSON line, NULL if none */
	char err[64 << 10];          /* stderr: summary and progress */
};

static void read_small(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/* Runs "petrel-bench ARGS --host H --port P" against <b>. */
static void gen(struct broker *b, const char *args, struct gen_run *r)
{
	char bin[PATH_MAX], cmd[PATH_MAX + 2048], err_path[] = "/tmp/petrel-tbs-XXXXXX";
	char *out = malloc(OUT_CAP), *line;
	json_error_t jerr;
	int fd;

	cr_assert(out != NULL);
	harness_bench_bin(bin, sizeof(bin));
	cr_assert_eq(access(bin, X_OK), 0, "no petrel-bench at %s", bin);
	fd = mkstemp(err_path);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_lt((size_t)snprintf(cmd, sizeof(cmd), "%s %s --host %s --port %u 2>%s",
				      bin, args, harness_host(), b->port, err_path),
		     sizeof(cmd));
	r->status = run_cmd(cmd, GEN_TIMEOUT_S, out, OUT_CAP);
	read_small(err_path, r->err, sizeof(r->err));
	unlink(err_path);
	fprintf(stderr, "%s\n%s", cmd, r->err);
	r->json = NULL;
	line = strstr(out, "{\"scenario\"");
	if (line != NULL)
		r->json = json_loads(line, JSON_DISABLE_EOF_CHECK, &jerr);
	free(out);
}

static json_int_t jint(const struct gen_run *r, const char *key)
{
	json_t *v = json_object_get(r->json, key);

	cr_assert(json_is_integer(v), "JSON key %s missing or not an integer", key);
	return json_integer_value(v);
}

static double jnum(const struct gen_run *r, const char *key)
{
	json_t *v = json_object_get(r->json, key);

	cr_assert(json_is_number(v), "JSON key %s missing or not a number", key);
	return json_number_value(v);
}

static void gen_ok(struct broker *b, const char *args, struct gen_run *r)
{
	gen(b, args, r);
	cr_assert_eq(r->status, 0, "petrel-bench %s: exit %d", args, r->status);
	cr_assert_not_null(r->json, "no JSON line");
}

static void gen_done(struct gen_run *r)
{
	json_decref(r->json);
	r->json = NULL;
}

/* Every message stamped reached its subscriber once; nothing failed. */
static void expect_no_loss(const struct gen_run *r, json_int_t expected)
{
	cr_expect_eq(jint(r, "expected"), expected, "expected");
	cr_expect_eq(jint(r, "lost"), 0, "lost");
	cr_expect_eq(jint(r, "duplicates"), 0, "duplicates (nothing was resent)");
	cr_expect_eq(jint(r, "connect_errors"), 0, "connect errors");
	cr_expect_eq(jint(r, "sessions_lost"), 0, "sessions lost");
}

Test(bench_scenarios, fleet_delivers_every_device_message_to_its_group_subscriber,
     .timeout = 120)
{
	struct broker b;
	struct gen_run r;
	json_int_t published;

	broker_start(&b, 1, NULL);
	gen_ok(&b, "fleet --connections 300 --subscribers 3 --interval 0.5 --warmup 0.2 "
	       "--duration 1.5 --drain 5 --timeout 30 --client-prefix tbsf-", &r);
	cr_expect_eq(jint(&r, "publishers"), 300);
	cr_expect_eq(jint(&r, "subscribers"), 3);
	cr_expect_eq(jint(&r, "connects"), 303);
	cr_expect_eq(jint(&r, "qos"), 1, "fleet defaults to QoS 1");
	/* 300 devices, one message each per 0.5 s, evenly spread: about 600 per second
	 * in a 1.5 s window, whatever the phase of the window against the schedule. */
	published = jint(&r, "published");
	cr_expect(published >= 800 && published <= 1000, "published %lld in the window",
		  (long long)published);
	expect_no_loss(&r, jint(&r, "received_total"));
	cr_expect_gt(jint(&r, "expected"), published, "the warm-up's messages count too");
	cr_expect_geq(jnum(&r, "lat_p99_us"), jnum(&r, "lat_p50_us"));
	cr_expect_gt(jnum(&r, "lat_p50_us"), 0);
	cr_expect_gt(jnum(&r, "connect_s"), 0, "the connect phase is timed");
	cr_expect_gt(jnum(&r, "connect_rate"), 0);
	cr_expect_eq(jnum(&r, "interval_s"), 0.5);
	gen_done(&r);
	broker_stop_clean(&b);
}

Test(bench_scenarios, storm_clients_come_back_with_their_sessions_and_queued_messages,
     .timeout = 120)
{
	struct broker b;
	struct gen_run r;

	broker_start(&b, 1, NULL);
	gen_ok(&b, "storm --connections 400 --messages 3 --conn-inflight 400 --timeout 30 "
	       "--client-prefix tbss-", &r);
	expect_no_loss(&r, 400 * 3);
	cr_expect_eq(jint(&r, "published"), 400 * 3);
	cr_expect_eq(jint(&r, "delivered"), 400 * 3);
	/* The first connect, the publisher, and every client once more. */
	cr_expect_eq(jint(&r, "connects"), 400 + 1 + 400);
	cr_expect_geq(jnum(&r, "reconnect_s"), 0, "time until all were back");
	cr_expect_geq(jnum(&r, "deliver_s"), 0, "time until every message was in");
	cr_expect_eq(jint(&r, "clean"), 0);
	gen_done(&r);
	broker_stop_clean(&b);
}

Test(bench_scenarios, persist_fills_offline_sessions_and_drains_every_message,
     .timeout = 120)
{
	struct broker b;
	struct gen_run r;

	broker_start(&b, 1, NULL);
	/* A window below the session count: they come and go through it. */
	gen_ok(&b, "persist --connections 500 --messages 4 --conn-inflight 50 --timeout 30 "
	       "--client-prefix tbsp-", &r);
	expect_no_loss(&r, 500 * 4);
	cr_expect_eq(jint(&r, "published"), 500 * 4);
	cr_expect_gt(jnum(&r, "connect_rate"), 0, "the set-up rate");
	cr_expect_geq(jnum(&r, "deliver_s"), 0, "the drain time");
	cr_expect_str_eq(json_string_value(json_object_get(r.json, "phase")), "all");
	gen_done(&r);
	broker_stop_clean(&b);
}

/* The bench.sh way to time a start-up with stored sessions: fill, restart the broker
 * on its store, verify. */
Test(bench_scenarios, persist_sessions_survive_a_broker_restart_between_the_phases,
     .timeout = 150)
{
	struct broker b;
	struct gen_run r;

	broker_start(&b, 1, "persistence true\n");
	gen_ok(&b, "persist --phase fill --connections 300 --messages 3 --timeout 30 "
	       "--client-prefix tbsr-", &r);
	cr_expect_eq(jint(&r, "published"), 300 * 3);
	cr_expect_eq(jint(&r, "lost"), -1, "a fill checks nothing");
	gen_done(&r);
	broker_stop_keep_clean(&b);
	broker_restart(&b);
	gen_ok(&b, "persist --phase verify --connections 300 --messages 3 --timeout 30 "
	       "--client-prefix tbsr-", &r);
	expect_no_loss(&r, 300 * 3);
	cr_expect_eq(jint(&r, "connects"), 300);
	gen_done(&r);
	broker_stop_clean(&b);
}

/* The checks can fail: a verify against a broker that never held the sessions sees
 * every CONNACK without session present and every message missing, and says so
 * (the run itself completes: loss is a result, not a usage error). */
Test(bench_scenarios, persist_verify_reports_sessions_the_broker_does_not_have,
     .timeout = 120)
{
	struct broker b;
	struct gen_run r;

	broker_start(&b, 1, NULL);
	gen(&b, "persist --phase verify --connections 50 --messages 2 --timeout 10 "
	    "--client-prefix tbsn-", &r);
	cr_assert_not_null(r.json, "no JSON line (exit %d)", r.status);
	cr_expect_eq(jint(&r, "sessions_lost"), 50);
	cr_expect_eq(jint(&r, "expected"), 100);
	cr_expect_eq(jint(&r, "lost"), 100);
	cr_expect_eq(jnum(&r, "deliver_s"), -1, "not every message arrived");
	gen_done(&r);
	broker_stop_clean(&b);
}

/* Whether the generator stamped fleet messages at an even pace: each whole second of
 * the series inside the publishing (both ends in phase publish, publishing not done)
 * saw <per_s> messages, give or take half. All devices at once every interval would
 * show full and empty seconds in turn. Returns how many seconds were checked. */
static int expect_even_pace(json_t *series, json_int_t total, double per_s)
{
	json_t *a, *b;
	double dt, rate;
	int checked = 0;
	size_t i;

	for (i = 1; i < json_array_size(series); i++) {
		a = json_array_get(series, i - 1);
		b = json_array_get(series, i);
		if (strcmp(json_string_value(json_object_get(a, "phase")), "publish") != 0 ||
		    strcmp(json_string_value(json_object_get(b, "phase")), "publish") != 0 ||
		    json_integer_value(json_object_get(b, "pub")) >= total)
			continue;
		dt = json_number_value(json_object_get(b, "t")) -
		     json_number_value(json_object_get(a, "t"));
		rate = (double)(json_integer_value(json_object_get(b, "pub")) -
				json_integer_value(json_object_get(a, "pub"))) / dt;
		cr_expect(rate > per_s / 2 && rate < per_s * 1.5,
			  "%.0f messages/s stamped around t=%.1f s, want about %.0f", rate,
			  json_number_value(json_object_get(b, "t")), per_s);
		checked++;
	}
	return checked;
}

/* A run over 3 s prints the progress line once a second with the broker's RSS, and
 * the JSON holds the same samples; fleet's devices publish spread over the interval,
 * not all at once. */
Test(bench_scenarios, a_long_run_prints_progress_and_reports_the_series, .timeout = 120)
{
	struct broker b;
	struct gen_run r;
	char args[512];
	json_t *series, *s;
	const char *line;
	double t;
	size_t n;

	broker_start(&b, 1, NULL);
	snprintf(args, sizeof(args), "fleet --connections 200 --subscribers 2 --interval 2 "
		 "--warmup 0 --duration 4.2 --drain 3 --broker-pid %ld --client-prefix tbsg-",
		 (long)b.pid);
	gen_ok(&b, args, &r);
	line = strstr(r.err, "progress t=");
	cr_assert_not_null(line, "no progress line");
	cr_assert_eq(sscanf(line, "progress t=%lfs conns", &t), 1);
	cr_expect(t >= 3.0 && t < 4.5, "the first progress line at %.1f s, not at 3 s", t);
	cr_expect(strstr(line, " rss ") != NULL, "no broker RSS in the progress line");
	cr_expect(strstr(line, " phase publish") != NULL, "no phase in the progress line");
	series = json_object_get(r.json, "series");
	cr_assert(json_is_array(series));
	n = json_array_size(series);
	cr_expect(n >= 4 && n <= 8, "%zu samples in a ~5 s run", n);
	s = json_array_get(series, n - 1);
	cr_expect_gt(json_integer_value(json_object_get(s, "rss_kb")), 0);
	cr_expect_gt(json_integer_value(json_object_get(s, "msgs")), 100);
	cr_expect_gt(json_number_value(json_object_get(s, "t")), 3.5);
	/* 200 devices every 2 s: 100 a second. */
	cr_expect_geq(expect_even_pace(series, jint(&r, "expected"), 100), 2,
		      "too few whole seconds of publishing in the series");
	expect_no_loss(&r, jint(&r, "received_total"));
	gen_done(&r);
	broker_stop_clean(&b);
}

Test(bench_scenarios, progress_0_keeps_quiet_and_the_series_empty, .timeout = 60)
{
	struct broker b;
	struct gen_run r;

	broker_start(&b, 1, NULL);
	gen_ok(&b, "storm --connections 20 --progress 0 --client-prefix tbsq-", &r);
	cr_expect_eq(json_array_size(json_object_get(r.json, "series")), 0);
	cr_expect(strstr(r.err, "progress t=") == NULL);
	expect_no_loss(&r, 20);
	gen_done(&r);
	broker_stop_clean(&b);
}

Test(bench_scenarios, options_that_do_not_apply_are_refused, .timeout = 60)
{
	struct broker b;
	struct gen_run r;

	broker_start(&b, 1, NULL);
	gen(&b, "storm --qos 0", &r);
	cr_expect_eq(r.status, 2, "storm --qos 0");
	gen(&b, "persist --phase fill", &r);
	cr_expect_eq(r.status, 2, "--phase without --client-prefix");
	gen(&b, "persist --clean 1", &r);
	cr_expect_eq(r.status, 2, "persist --clean 1");
	gen(&b, "fleet --connections 2 --subscribers 3", &r);
	cr_expect_eq(r.status, 2, "more subscribers than devices");
	broker_stop_clean(&b);
}

/* storm's outage: bench_conn_abort() resets the TCP connection (the peer's read fails
 * with ECONNRESET) instead of closing it in order (the peer would read end of
 * stream, as after a DISCONNECT and close). */
Test(bench_scenarios, abort_resets_the_connection_instead_of_closing_it, .timeout = 30)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct bench_conn c;
	int lfd, sfd;
	char byte;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	memset(&c, 0, sizeof(c));
	c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(c.fd, 0);
	cr_assert_eq(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	c.state = BCS_READY;
	sfd = accept(lfd, NULL, NULL);
	cr_assert_geq(sfd, 0);
	bench_conn_abort(&c);
	cr_expect_eq(c.fd, -1);
	cr_expect_eq(c.state, BCS_DONE, "an aborted connection can be opened again");
	cr_expect_eq(recv(sfd, &byte, 1, 0), -1, "the peer read an orderly close");
	cr_expect_eq(errno, ECONNRESET);
	close(sfd);
	close(lfd);
}
