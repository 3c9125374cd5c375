/* test_metrics.c - the figures a running broker gives (metrics.h): `metrics` over the
 * control socket and GET /metrics on metrics_listener, both parsed by the official
 * Prometheus parser (python3-prometheus-client); the counts equal the traffic the test
 * made with libmosquitto clients; `status` agrees; the HTTP endpoint's limits (404,
 * 405, metrics_max_clients, metrics_timeout) and its bind failure; the Grafana
 * dashboard in docs/ queries only metrics a live broker serves. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_client.h"
#include "harness.h"
#include "metrics_client.h"

/* The timeout on the suite, not each Test(): criterion 2.4 leaks in its runner under
 * ASan when tests override it while running in parallel. */
TestSuite(metrics, .fini = harness_fini, .timeout = 90);

#define NMSG 25

/* What `status` and petrel_info call the data plane the harness runs. */
static const char *broker_mode(void)
{
	return harness_dataplane() == HARNESS_KERNEL ? "kernel" : "dpdk";
}
#define PAYLOAD_LEN 100

/* Starts <b> with metrics_listener on port 0 (the kernel picks; no race with another
 * test for a "free" port) and <extra> lines. Returns the port, read from the log. */
static uint16_t start_with_listener(struct broker *b, unsigned workers, const char *extra)
{
	static const char needle[] = "metrics on http://127.0.0.1:";
	char conf[512], line[512];
	unsigned port = 0;
	FILE *f;

	snprintf(conf, sizeof(conf), "metrics_listener 127.0.0.1:0\n%s",
		 extra != NULL ? extra : "");
	broker_start(b, workers, conf);
	cr_assert(broker_wait_log(b, needle, 5000), "no \"%s\" in the log", needle);
	f = fopen(b->log_path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *at = strstr(line, needle);

		if (at != NULL)
			port = (unsigned)strtoul(at + sizeof(needle) - 1, NULL, 10);
	}
	fclose(f);
	cr_assert(port > 0 && port < 65536);
	return (uint16_t)port;
}

/* The known traffic: "sub" (clean) subscribes to m/# at QoS 1; "pub" publishes NMSG
 * messages of PAYLOAD_LEN bytes at QoS 1 to m/0 .. m/NMSG-1, the first retained; a
 * persistent "gone" connects and disconnects. Returns once sub has every message. */
static void make_traffic(struct broker *b, struct client **sub, struct client **pub)
{
	char payload[PAYLOAD_LEN], topic[32];
	struct rx_msg m;

	memset(payload, 'x', sizeof(payload));
	client_close(connected_client(b, "gone", false));
	*sub = connected_client(b, "sub", true);
	cr_assert_eq(client_subscribe(*sub, "m/#", 1), 1);
	*pub = connected_client(b, "pub", true);
	for (int i = 0; i < NMSG; i++) {
		snprintf(topic, sizeof(topic), "m/%d", i);
		cr_assert_eq(client_publish(*pub, topic, payload, PAYLOAD_LEN, 1, i == 0), 0);
	}
	for (int i = 0; i < NMSG; i++)
		cr_assert(client_wait_msg(*sub, &m, 5000), "message %d of %d delivered", i, NMSG);
	/* libmosquitto's PUBACKs for those: handled before this round trip ends. */
	cr_assert_eq(client_sync(*sub), 0);
}

/* Every family is typed (HELP/TYPE lines were there) and named petrel_*. */
static void assert_families_typed(const json_t *parsed)
{
	json_t *fams = json_object_get(parsed, "families"), *type;
	const char *name;

	cr_assert_gt(json_object_size(fams), 50, "expected every stat as a family");
	json_object_foreach(fams, name, type) {
		cr_assert_eq(strncmp(name, "petrel_", 7), 0, "family %s", name);
		cr_assert_str_neq(json_string_value(type), "unknown",
				  "family %s has no TYPE line", name);
	}
}

Test(metrics, control_socket_text_parses_and_counts_the_traffic)
{
	struct client *sub, *pub;
	struct broker b;
	json_t *p;
	char *text;
	/* A QoS 1 PUBLISH to m/N: fixed header 2, topic 2 + 3 or 4, packet id 2, payload. */
	double min_bytes = NMSG * (2 + 2 + 3 + 2 + PAYLOAD_LEN);

	broker_start(&b, 2, NULL);
	make_traffic(&b, &sub, &pub);
	text = ctl_metrics_text(&b);
	p = prom_parse_ok(text);
	assert_families_typed(p);

	cr_expect_eq(prom_sum(p, "petrel_publish_in_total"), NMSG);
	cr_expect_eq(prom_sum(p, "petrel_messages_received_total"), NMSG);
	cr_expect_eq(prom_sum(p, "petrel_publish_out_total"), NMSG);
	cr_expect_eq(prom_sum(p, "petrel_connect_accepted_total"), 3);
	cr_expect_eq(prom_sum(p, "petrel_connect_refused_total"), 0);
	cr_expect_eq(prom_sum(p, "petrel_drop_queue_full_total"), 0);
	cr_expect_geq(prom_sum(p, "petrel_bytes_in_total"), min_bytes);
	cr_expect_geq(prom_sum(p, "petrel_bytes_out_total"), min_bytes);
	cr_expect_eq(prom_sum(p, "petrel_connections"), 2, "sub and pub are connected");
	cr_expect_eq(prom_sum(p, "petrel_clients_connected"), 2);
	cr_expect_eq(prom_sum(p, "petrel_sessions"), 3, "sub, pub and the offline gone");
	cr_expect_eq(prom_sum(p, "petrel_sessions_online"), 2);
	cr_expect_eq(prom_sum(p, "petrel_subscriptions"), 1);
	cr_expect_eq(prom_sum(p, "petrel_retained_messages"), 1);
	cr_expect_eq(prom_sum(p, "petrel_workers"), 2);
	cr_expect_eq(prom_value(p, "petrel_info", "version", "0.1.0"), 1);
	cr_expect_eq(prom_value(p, "petrel_info", "mode", broker_mode()), 1);
	/* One sample per worker, labelled. */
	cr_expect_geq(prom_value(p, "petrel_publish_in_total", "worker", "0"), 0);
	cr_expect_geq(prom_value(p, "petrel_publish_in_total", "worker", "1"), 0);
	cr_expect_gt(prom_value(p, "petrel_worker_cpu_seconds_total", "worker", "0"), 0);
	cr_expect_gt(prom_value(p, "petrel_worker_cpu_seconds_total", "worker", "1"), 0);
	cr_expect_geq(prom_sum(p, "petrel_uptime_seconds"), 0);
	/* Persistence is on in the harness: the store's families are there. */
	cr_expect_geq(prom_sum(p, "petrel_store_commits_total"), 1);
	cr_expect_eq(prom_sum(p, "petrel_store_sessions"), 1, "only gone is persistent");

	json_decref(p);
	free(text);
	client_close(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

/* The DPDK stack's counters per worker (petrel_dpdk_*_total): the workers publish
 * them every 100 ms of their clock, so the text is read again until the test's three
 * connections show (bounded). On kernel sockets there are none. */
Test(metrics, dpdk_stack_counters_per_worker)
{
	struct client *sub, *pub;
	struct broker b;
	json_t *p = NULL;
	char *text = NULL;

	broker_start(&b, 2, NULL);
	make_traffic(&b, &sub, &pub);
	for (int tries = 0; tries < 50; tries++) {
		json_decref(p);
		free(text);
		text = ctl_metrics_text(&b);
		p = prom_parse_ok(text);
		if (harness_dataplane() == HARNESS_KERNEL ||
		    prom_sum(p, "petrel_dpdk_tcp_conns_passive_total") >= 3)
			break;
		usleep(100 * 1000);
	}
	if (harness_dataplane() == HARNESS_KERNEL) {
		cr_expect_eq(prom_sum(p, "petrel_dpdk_tcp_in_segs_total"), -1,
			     "no DPDK counters on kernel sockets");
	} else {
		/* gone, sub and pub; the harness's readiness probes may add some. */
		cr_expect_geq(prom_sum(p, "petrel_dpdk_tcp_conns_passive_total"), 3);
		cr_expect_gt(prom_sum(p, "petrel_dpdk_tcp_in_segs_total"), 3 * 3,
			     "at least each handshake's segments");
		cr_expect_geq(prom_sum(p, "petrel_dpdk_net_rx_frames_total"),
			      prom_sum(p, "petrel_dpdk_net_rx_tcp_total"));
		cr_expect_eq(prom_sum(p, "petrel_dpdk_tcp_in_bad_total"), 0);
		/* One sample per worker, each worker's own. */
		cr_expect_geq(prom_value(p, "petrel_dpdk_port_rx_frames_total", "worker", "0"), 0);
		cr_expect_geq(prom_value(p, "petrel_dpdk_port_rx_frames_total", "worker", "1"), 0);
		cr_expect_eq(prom_value(p, "petrel_dpdk_port_rx_frames_total", "worker", "2"), -1);
	}
	json_decref(p);
	free(text);
	client_close(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

/* What `status` says after make_traffic (dotted paths into its result). */
static const struct {
	const char *path;
	json_int_t want;
} status_want[] = {
	{ "workers", 2 }, { "connections", 2 },
	{ "sessions.online", 2 }, { "sessions.offline", 1 }, { "sessions.total", 3 },
	{ "subscriptions", 1 }, { "retained", 1 },
	{ "messages.received", NMSG }, { "messages.sent", NMSG },
	{ "drops.total", 0 }, { "counters.publish_in", NMSG },
	{ "counters.connect_accepted", 3 },
};

Test(metrics, status_agrees_with_the_traffic)
{
	struct client *sub, *pub;
	struct broker b;
	json_t *st, *pw;

	broker_start(&b, 2, NULL);
	make_traffic(&b, &sub, &pub);
	/* Two ticks, so the per-worker CPU share has two samples to compare. */
	usleep(2200 * 1000);
	st = ctl_result(&b, "{\"cmd\":\"status\"}");

	cr_expect_str_eq(json_string_value(json_object_get(st, "version")), "0.1.0");
	cr_expect_str_eq(json_string_value(json_object_get(st, "mode")), broker_mode());
	for (size_t i = 0; i < sizeof(status_want) / sizeof(status_want[0]); i++)
		cr_expect_eq(ctl_int(st, status_want[i].path), status_want[i].want, "%s",
			     status_want[i].path);
	cr_expect(json_is_number(json_object_get(json_object_get(st, "messages"),
						 "received_per_s")));
	cr_expect(json_is_integer(json_object_get(json_object_get(st, "drops"),
						  "queue_full")));
	cr_expect(json_is_object(json_object_get(st, "store")), "persistence is on");
	pw = json_object_get(st, "per_worker");
	cr_assert_eq(json_array_size(pw), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *w = json_array_get(pw, i);
		double cpu = json_number_value(json_object_get(w, "cpu_percent"));

		cr_expect_eq(json_integer_value(json_object_get(w, "id")), (json_int_t)i);
		cr_expect(json_is_number(json_object_get(w, "cpu_percent")),
			  "worker %zu's CPU clock was read", i);
		cr_expect(cpu >= 0 && cpu <= 100.5, "cpu_percent %f", cpu);
		cr_expect(json_is_number(json_object_get(w, "busy_percent")));
	}

	json_decref(st);
	client_close(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

Test(metrics, http_serves_the_same_families_as_the_control_socket)
{
	struct client *sub, *pub;
	struct broker b;
	char *head, *body, *text, *fams_http, *fams_ctl;
	json_t *ph, *pc;
	uint16_t port = start_with_listener(&b, 2, NULL);

	make_traffic(&b, &sub, &pub);
	cr_assert_eq(http_request(port, "GET", "/metrics", &head, &body), 200, "%s", head);
	cr_expect(strstr(head, "Content-Type: text/plain; version=0.0.4") != NULL, "%s", head);
	text = ctl_metrics_text(&b);
	ph = prom_parse_ok(body);
	pc = prom_parse_ok(text);
	assert_families_typed(ph);
	fams_http = prom_family_list(ph);
	fams_ctl = prom_family_list(pc);
	cr_expect_str_eq(fams_http, fams_ctl);
	cr_expect_eq(prom_sum(ph, "petrel_publish_in_total"), NMSG);
	cr_expect_eq(prom_sum(ph, "petrel_publish_in_total"),
		     prom_sum(pc, "petrel_publish_in_total"));
	free(head);
	free(body);

	/* HEAD: the headers of GET. */
	cr_expect_eq(http_request(port, "HEAD", "/metrics", NULL, NULL), 200);
	/* Anything else: 404 for another path, 405 for another method. */
	cr_expect_eq(http_request(port, "GET", "/", NULL, NULL), 404);
	cr_expect_eq(http_request(port, "GET", "/metrics/x", NULL, NULL), 404);
	cr_expect_eq(http_request(port, "GET", "/metricsx", NULL, NULL), 404);
	cr_expect_eq(http_request(port, "POST", "/metrics", &head, NULL), 405);
	cr_expect(strstr(head, "Allow: GET, HEAD") != NULL, "%s", head);
	free(head);
	cr_expect_eq(http_request(port, "DELETE", "/metrics", NULL, NULL), 405);
	/* Still serving. */
	cr_expect_eq(http_request(port, "GET", "/metrics", NULL, NULL), 200);

	json_decref(ph);
	json_decref(pc);
	free(fams_http);
	free(fams_ctl);
	free(text);
	client_close(pub);
	client_close(sub);
	broker_stop_clean(&b);
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* metrics_max_clients: the connection beyond it is closed unanswered; once one
 * leaves, a scrape is served again. The MQTT side carries on meanwhile. */
Test(metrics, http_connection_limit)
{
	struct broker b;
	uint16_t port = start_with_listener(&b, 1, "metrics_max_clients 2\n");
	int idle[2], status = -1;

	for (int i = 0; i < 2; i++)
		idle[i] = tcp_connect(port);
	usleep(200 * 1000);
	cr_expect_eq(http_request(port, "GET", "/metrics", NULL, NULL), -1,
		     "a third connection must be refused while two are open");
	client_close(connected_client(&b, "mqtt", true));
	close(idle[0]);
	for (int i = 0; i < 30 && status != 200; i++) {
		usleep(100 * 1000);
		status = http_request(port, "GET", "/metrics", NULL, NULL);
	}
	cr_expect_eq(status, 200, "served again once a connection left");
	/* The refusal is counted and logged once for the episode, its end too. */
	char *text = ctl_metrics_text(&b);
	json_t *p = prom_parse_ok(text);

	cr_expect_geq(prom_sum(p, "petrel_metrics_http_refused_total"), 1);
	cr_expect_eq(broker_log_count(&b, "metrics_max_clients (2) reached"), 1);
	cr_expect_eq(broker_log_count(&b, "below metrics_max_clients again"), 1);
	json_decref(p);
	free(text);
	close(idle[1]);
	broker_stop_clean(&b);
}

/* Junk instead of HTTP, and a 100 KB header: an error status or a closed
 * connection, and the endpoint and the MQTT side carry on. */
Test(metrics, http_junk_and_huge_headers_are_refused)
{
	static const char junk[] = "\x16\x03\x01 not http at all\r\n\r\n";
	struct broker b;
	uint16_t port = start_with_listener(&b, 1, NULL);
	size_t big_len = 100 * 1024;
	char *big = malloc(big_len + 64), reply[256];
	int fd;

	cr_assert_not_null(big);
	fd = tcp_connect(port);
	cr_assert_eq(raw_send(fd, junk, sizeof(junk) - 1), 0);
	cr_expect(raw_wait_closed(fd, 5000), "junk: connection left open");
	close(fd);

	fd = tcp_connect(port);
	strcpy(big, "GET /metrics HTTP/1.1\r\nX-Big: ");
	memset(big + strlen(big), 'a', big_len);
	big[big_len] = '\0';
	raw_send(fd, big, strlen(big));   /* the broker may close before it all went */
	raw_send(fd, "\r\n\r\n", 4);
	memset(reply, 0, sizeof(reply));
	raw_recv(fd, reply, 12, 5000);
	cr_expect(reply[0] == '\0' || strncmp(reply, "HTTP/1.1 4", 10) == 0,
		  "a 100 KB header got \"%.12s\"", reply);
	close(fd);
	free(big);

	cr_expect_eq(http_request(port, "GET", "/metrics", NULL, NULL), 200);
	client_close(connected_client(&b, "still", true));
	broker_stop_clean(&b);
}

/* metrics_timeout: a connection that sends nothing is closed. */
Test(metrics, http_idle_connection_times_out)
{
	struct broker b;
	uint16_t port = start_with_listener(&b, 1, "metrics_timeout 1\n");
	int fd = tcp_connect(port);
	uint64_t t0 = now_ms();

	cr_expect(raw_wait_closed(fd, 5000), "idle HTTP connection still open after 5 s");
	cr_expect_geq(now_ms() - t0, 800, "closed before its timeout");
	close(fd);
	cr_expect_eq(http_request(port, "GET", "/metrics", NULL, NULL), 200);
	broker_stop_clean(&b);
}

/* Runs petrel on a config of its own (no harness broker: it must not start). Returns
 * the exit status; <out> gets its stdout and stderr. */
static int run_petrel(const char *config_lines, char *out, size_t cap)
{
	const char *bin = getenv("PETREL_BIN");
	char dir[] = "/tmp/petrel-metrics-XXXXXX", path[256], cmd[1024];
	FILE *f;
	int rc;

	cr_assert_not_null(bin);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/petrel.conf", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "listener %u 127.0.0.1\npersistence false\ncontrol_socket %s/ctl.sock\n%s",
		(unsigned)free_tcp_port(), dir, config_lines);
	cr_assert_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "%s -w 1 -c %s 2>&1", bin, path);
	rc = run_cmd(cmd, 20, out, cap);
	harness_remove_tree(dir);
	return rc;
}

Test(metrics, listener_that_cannot_bind_stops_the_broker)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char conf[128], want[128], out[8192];

	/* It runs petrel itself, outside the harness's DPDK set-up. */
	harness_kernel_only("starts petrel without the harness");
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(conf, sizeof(conf), "metrics_listener 127.0.0.1:%u\n", ntohs(a.sin_port));
	snprintf(want, sizeof(want), "metrics_listener 127.0.0.1:%u: Address already in use",
		 ntohs(a.sin_port));
	cr_expect_eq(run_petrel(conf, out, sizeof(out)), 1, "exit status; output:\n%s", out);
	cr_expect(strstr(out, want) != NULL, "want \"%s\" in:\n%s", want, out);
	close(fd);

	cr_expect_eq(run_petrel("metrics_listener localhost\n", out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "metrics_listener localhost: not ADDR:PORT") != NULL, "%s", out);
}

Test(metrics, ipv6_listener)
{
	struct broker b;

	broker_start(&b, 1, "metrics_listener [::1]:0\n");
	cr_expect(broker_wait_log(&b, "metrics on http://[::1]:", 5000));
	broker_stop_clean(&b);
}

/* docs/grafana-petrel.json: valid JSON, a Prometheus datasource variable, and every
 * petrel_* metric its queries use is served by a live broker (with persistence). */
Test(metrics, grafana_dashboard_queries_served_metrics)
{
	const char *src = getenv("PETREL_TEST_SRC");
	char path[512], *body;
	struct broker b;
	json_error_t err;
	json_t *dash, *vars, *v, *parsed;
	bool has_ds = false;
	size_t i;
	int rc;

	cr_assert_not_null(src);
	snprintf(path, sizeof(path), "%s/../../docs/grafana-petrel.json", src);
	dash = json_load_file(path, 0, &err);
	cr_assert_not_null(dash, "%s:%d: %s", path, err.line, err.text);
	cr_expect(json_is_integer(json_object_get(dash, "schemaVersion")));
	cr_expect_gt(json_array_size(json_object_get(dash, "panels")), 5);
	vars = json_object_get(json_object_get(dash, "templating"), "list");
	json_array_foreach(vars, i, v) {
		if (strcmp(json_string_value(json_object_get(v, "type")), "datasource") == 0 &&
		    strcmp(json_string_value(json_object_get(v, "query")), "prometheus") == 0)
			has_ds = true;
	}
	cr_expect(has_ds, "no Prometheus datasource variable");
	json_decref(dash);

	uint16_t port = start_with_listener(&b, 2, NULL);

	cr_assert_eq(http_request(port, "GET", "/metrics", NULL, &body), 200);
	parsed = prom_parse(body, path, &rc);
	cr_expect_eq(rc, 0, "the dashboard queries metrics /metrics does not serve (exit %d)",
		     rc);
	json_decref(parsed);
	free(body);
	broker_stop_clean(&b);
}

/* docs/operations.md lists every family a broker with persistence serves. */
Test(metrics, operations_md_lists_every_family)
{
	const char *src = getenv("PETREL_TEST_SRC");
	char path[512], want[160];
	struct broker b;
	json_t *parsed, *samples, *s;
	char *doc, *text;
	size_t i, len;
	FILE *f;

	cr_assert_not_null(src);
	snprintf(path, sizeof(path), "%s/../../docs/operations.md", src);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	doc = malloc(1u << 20);
	cr_assert_not_null(doc);
	len = fread(doc, 1, (1u << 20) - 1, f);
	doc[len] = '\0';
	fclose(f);

	broker_start(&b, 1, NULL);
	text = ctl_metrics_text(&b);
	parsed = prom_parse_ok(text);
	samples = json_object_get(parsed, "samples");
	json_array_foreach(samples, i, s) {
		snprintf(want, sizeof(want), "| `%s` |",
			 json_string_value(json_object_get(s, "name")));
		cr_expect(strstr(doc, want) != NULL, "docs/operations.md does not list %s", want);
	}
	json_decref(parsed);
	free(text);
	free(doc);
	broker_stop_clean(&b);
}
