/* test_ctl_protocol.c - the control socket's wire protocol and limits (ctl.h,
 * docs/configuration.md "Control and observation") against the real petrel binary,
 * spoken raw: JSON lines over the Unix socket, parsed with jansson. Each bad client
 * (bad JSON, a 10 MB line, unknown fields and commands, a silent client, one too
 * many, one that never reads) gets its error or its close while a second control
 * client keeps getting answers and a libmosquitto publisher keeps reaching its
 * subscriber; the broker exits cleanly after. Also the socket file at start-up: a
 * stale one replaced, a live one or a non-socket refused (exit 1, one line), mode
 * 0600, removed at exit; and the shutdown command (exit 0). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(ctl_protocol, .fini = harness_fini, .timeout = 180);

/* ---- a raw control client ------------------------------------------------------- */

struct ctl_cli {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static int ctl_try_open(struct ctl_cli *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(c->fd, 0);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(c->fd);
		c->fd = -1;
		return -e;
	}
	/* Non-blocking: every wait below is a bounded poll. */
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

static void ctl_open(struct ctl_cli *c, struct broker *b)
{
	int rc = ctl_try_open(c, b->ctl_path);

	cr_assert_eq(rc, 0, "connect %s: %s", b->ctl_path, strerror(-rc));
}

static void ctl_close(struct ctl_cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Sends all of <data> within 5 s. Returns 0, or -errno (EPIPE: the broker closed). */
static int ctl_send_bytes(struct ctl_cli *c, const char *data, size_t len)
{
	uint64_t end = now_ms() + 5000;

	while (len > 0) {
		ssize_t r = send(c->fd, data, len, MSG_NOSIGNAL);

		if (r < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };

			if (now_ms() > end)
				return -ETIMEDOUT;
			poll(&p, 1, 100);
			continue;
		}
		if (r < 0)
			return -errno;
		data += r;
		len -= (size_t)r;
	}
	return 0;
}

static void ctl_send(struct ctl_cli *c, const char *line)
{
	int rc = ctl_send_bytes(c, line, strlen(line));

	cr_assert_eq(rc, 0, "send: %s", strerror(-rc));
	rc = ctl_send_bytes(c, "\n", 1);
	cr_assert_eq(rc, 0, "send: %s", strerror(-rc));
}

/* One answer line within <timeout_ms>, parsed; NULL when the connection closed (EOF
 * or reset) or nothing came in time (*closed tells which, if not NULL). */
static json_t *ctl_read(struct ctl_cli *c, int timeout_ms, bool *closed)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	if (closed != NULL)
		*closed = false;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl != NULL) {
			json_error_t e;
			json_t *j = json_loadb(c->buf, (size_t)(nl - c->buf), 0, &e);

			cr_assert_not_null(j, "answer is not JSON (%s): %.*s", e.text,
					   (int)(nl - c->buf), c->buf);
			c->len -= (size_t)(nl - c->buf) + 1;
			memmove(c->buf, nl + 1, c->len);
			return j;
		}
		cr_assert_lt(c->len, sizeof(c->buf), "answer line longer than 64 KiB");

		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		uint64_t now = now_ms();

		if (now >= end)
			return NULL;
		if (poll(&p, 1, (int)(end - now)) <= 0)
			continue;
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

		if (r > 0) {
			c->len += (size_t)r;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			if (closed != NULL)
				*closed = true;
			return NULL;
		}
	}
}

/* Whether the broker closed <c> within <timeout_ms> (answers before it are read and
 * dropped; *answers counts them if not NULL). */
static bool ctl_wait_closed(struct ctl_cli *c, int timeout_ms, int *answers)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	bool closed;

	if (answers != NULL)
		*answers = 0;
	while (now_ms() < end) {
		json_t *j = ctl_read(c, (int)(end - now_ms()) + 1, &closed);

		if (j == NULL)
			return closed;
		json_decref(j);
		if (answers != NULL)
			(*answers)++;
	}
	return false;
}

static json_t *ctl_call(struct ctl_cli *c, const char *line)
{
	json_t *j;

	ctl_send(c, line);
	j = ctl_read(c, 10000, NULL);
	cr_assert_not_null(j, "no answer to %s", line);
	return j;
}

static json_t *ok_result(json_t *a, const char *req)
{
	char *s = json_dumps(a, JSON_COMPACT);

	cr_assert(json_is_true(json_object_get(a, "ok")), "%s -> %s", req, s);
	free(s);
	return json_object_get(a, "result");
}

/* Asserts <a> is an error of <code> whose text contains <needle> (may be NULL). */
static void assert_err(json_t *a, const char *code, const char *needle)
{
	char *s = json_dumps(a, JSON_COMPACT);
	const char *err = json_string_value(json_object_get(a, "error"));

	cr_assert(json_is_false(json_object_get(a, "ok")), "not an error: %s", s);
	cr_assert_str_eq(json_string_value(json_object_get(a, "code")), code, "%s", s);
	cr_assert_not_null(err, "%s", s);
	if (needle != NULL)
		cr_assert_not_null(strstr(err, needle), "'%s' not in %s", needle, s);
	free(s);
}

static void call_ok(struct ctl_cli *c, const char *line)
{
	json_t *a = ctl_call(c, line);

	ok_result(a, line);
	json_decref(a);
}

static void call_err(struct ctl_cli *c, const char *line, const char *code,
		     const char *needle)
{
	json_t *a = ctl_call(c, line);

	assert_err(a, code, needle);
	json_decref(a);
}

/* ---- what must carry on ----------------------------------------------------------- */

struct bystanders {
	struct broker *b;
	struct ctl_cli ctl;              /* the second control client */
	struct client *pub, *sub;
	int seq;
};

static void bystanders_up(struct bystanders *bs, struct broker *b)
{
	memset(bs, 0, sizeof(*bs));
	bs->b = b;
	ctl_open(&bs->ctl, b);
	bs->sub = connected_client(b, "by-sub", true);
	cr_assert_eq(client_subscribe(bs->sub, "carry/on", 1), 1);
	bs->pub = connected_client(b, "by-pub", true);
}

/* The second control client gets a right answer; a QoS 1 message goes through. */
static void bystanders_check(struct bystanders *bs)
{
	char payload[32];
	struct rx_msg m;
	json_t *a = ctl_call(&bs->ctl, "{\"cmd\":\"clients\",\"pattern\":\"by-*\",\"id\":9}");
	json_t *r = ok_result(a, "clients by-*");

	cr_assert_eq(json_integer_value(json_object_get(a, "id")), 9);
	cr_assert_eq(json_integer_value(json_object_get(r, "total")), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(r, "clients"), 0), "client")), "by-pub");
	json_decref(a);
	snprintf(payload, sizeof(payload), "m%d", ++bs->seq);
	cr_assert_eq(client_publish(bs->pub, "carry/on", payload, (int)strlen(payload), 1,
				    false), 0);
	cr_assert(client_wait_msg(bs->sub, &m, 5000), "message %s not delivered", payload);
	cr_assert(msg_payload_is(&m, payload), "got %.*s", m.payload_len, m.payload);
}

static void bystanders_down(struct bystanders *bs)
{
	bystanders_check(bs);
	ctl_close(&bs->ctl);
	client_close(bs->pub);
	client_close(bs->sub);
	cr_assert(broker_alive(bs->b));
}

/* ---- malformed requests ----------------------------------------------------------- */

Test(ctl_protocol, bad_requests_get_errors_and_the_connection_carries_on)
{
	struct broker b;
	struct bystanders bs;
	struct ctl_cli c;
	json_t *a;

	broker_start(&b, 2, NULL);
	bystanders_up(&bs, &b);
	ctl_open(&c, &b);
	call_err(&c, "{\"cmd\": \"clients\"", "bad_request", "bad JSON");
	call_err(&c, "not json at all", "bad_request", "bad JSON");
	call_err(&c, "[1, 2, 3]", "bad_request", "JSON object");
	call_err(&c, "\"clients\"", "bad_request", "JSON object");
	call_err(&c, "42", "bad_request", "JSON object");
	call_err(&c, "{\"id\": 1}", "bad_request", "\"cmd\"");
	call_err(&c, "{\"cmd\": 7}", "bad_request", "\"cmd\"");
	call_err(&c, "{\"cmd\":\"clients\",\"cmd\":\"kick\"}", "bad_request", "bad JSON");
	call_err(&c, "{\"cmd\":\"clients\",\"colour\":\"red\"}", "bad_request",
		 "unknown field 'colour' for 'clients'");
	call_err(&c, "{\"cmd\":\"kick\"}", "bad_request", "\"client\"");
	call_err(&c, "{\"cmd\":\"clients\",\"limit\":-3}", "bad_request", "\"limit\"");
	call_err(&c, "{\"cmd\":\"subscriptions\",\"filter\":\"a/#/b\"}", "bad_request",
		 "'a/#/b' is not a valid topic filter");
	call_err(&c, "{\"cmd\":\"retained.delete\",\"topic\":\"a/+\"}", "bad_request",
		 "'a/+' is not a valid topic name");
	call_err(&c, "{\"cmd\":\"log.level\",\"level\":\"loud\"}", "bad_request",
		 "unknown level 'loud'");
	call_err(&c, "{\"cmd\":\"frobnicate\"}", "unknown_command",
		 "unknown command 'frobnicate'");
	/* The id is echoed as given, on errors too. */
	a = ctl_call(&c, "{\"cmd\":\"frobnicate\",\"id\":\"abc\"}");
	cr_assert_str_eq(json_string_value(json_object_get(a, "id")), "abc");
	json_decref(a);
	bystanders_check(&bs);
	/* The same connection still answers, in order, pipelined requests included. */
	static const char pipelined[] = "{\"cmd\":\"log.level\",\"id\":1}\n"
		"{\"cmd\":\"nope\",\"id\":2}\r\n\n{\"cmd\":\"clients\",\"id\":3}\n";

	cr_assert_eq(ctl_send_bytes(&c, pipelined, sizeof(pipelined) - 1), 0);
	for (int i = 1; i <= 3; i++) {
		a = ctl_read(&c, 10000, NULL);
		cr_assert_not_null(a, "answer %d missing", i);
		cr_assert_eq(json_integer_value(json_object_get(a, "id")), i);
		cr_assert(json_is_boolean(json_object_get(a, "ok")));
		json_decref(a);
	}
	ctl_close(&c);
	/* A last request without its newline, then a half-close: answered, then EOF. */
	ctl_open(&c, &b);
	static const char last[] = "{\"cmd\":\"log.level\",\"id\":4}";

	cr_assert_eq(ctl_send_bytes(&c, last, strlen(last)), 0);
	cr_assert_eq(shutdown(c.fd, SHUT_WR), 0);
	a = ctl_read(&c, 10000, NULL);
	cr_assert_not_null(a, "no answer after the half-close");
	cr_assert_eq(json_integer_value(json_object_get(a, "id")), 4);
	json_decref(a);
	cr_assert(ctl_wait_closed(&c, 5000, NULL), "not closed after the last answer");
	ctl_close(&c);
	/* Clients that ask and hang up before the workers answered (fewer than
	 * control_max_clients: each holds its place until its answer is dropped). */
	for (int i = 0; i < 10; i++) {
		ctl_open(&c, &b);
		ctl_send(&c, "{\"cmd\":\"clients\",\"limit\":0}");
		ctl_close(&c);
	}
	bystanders_down(&bs);
	broker_stop_clean(&b);
}

Test(ctl_protocol, a_ten_megabyte_line_is_refused_without_being_buffered)
{
	struct broker b;
	struct bystanders bs;
	struct ctl_cli c;
	size_t big = 10u << 20;
	char *line = malloc(big);
	long hwm0, hwm1;
	bool closed;
	json_t *a;
	int rc;

	cr_assert_not_null(line);
	memset(line, 'x', big);
	memcpy(line, "{\"cmd\":\"clients\",\"pattern\":\"", 28);
	broker_start(&b, 2, NULL);
	bystanders_up(&bs, &b);
	bystanders_check(&bs);
	hwm0 = broker_status_kb(&b, "VmHWM");
	ctl_open(&c, &b);
	/* The broker answers and closes after control_max_line (64 KiB): the rest of
	 * the send fails (EPIPE / ECONNRESET), or ends in the socket's buffer. */
	rc = ctl_send_bytes(&c, line, big);
	cr_assert(rc == 0 || rc == -EPIPE || rc == -ECONNRESET || rc == -ETIMEDOUT,
		  "send: %s", strerror(-rc));
	free(line);
	a = ctl_read(&c, 10000, &closed);
	cr_assert_not_null(a, "no too_long answer (closed %d)", closed);
	assert_err(a, "too_long", "longer than 65536 bytes");
	json_decref(a);
	cr_assert(ctl_wait_closed(&c, 5000, NULL), "connection not closed after too_long");
	ctl_close(&c);
	hwm1 = broker_status_kb(&b, "VmHWM");
	/* Bounded input: the peak did not grow by anything like the 10 MB line. */
	cr_assert_lt(hwm1 - hwm0, 4096, "VmHWM grew from %ld to %ld KiB", hwm0, hwm1);
	cr_assert(broker_wait_log(&b, "longer than control_max_line", 2000));
	bystanders_down(&bs);
	broker_stop_clean(&b);
}

Test(ctl_protocol, a_silent_client_is_closed_at_control_idle_timeout)
{
	struct broker b;
	struct bystanders bs;
	struct ctl_cli silent, half;
	uint64_t t0, end;
	bool closed = false;

	broker_start(&b, 2, "control_idle_timeout 1\n");
	bystanders_up(&bs, &b);
	ctl_open(&silent, &b);
	/* One that sent half a line and went quiet is silent too. */
	ctl_open(&half, &b);
	ctl_send_bytes(&half, "{\"cmd\":", 7);
	t0 = now_ms();
	end = t0 + 6000;
	/* The second client keeps talking (every 200 ms, under the timeout) and stays. */
	while (now_ms() < end && !closed) {
		bystanders_check(&bs);
		json_decref(ctl_read(&silent, 200, &closed));
	}
	cr_assert(closed, "silent client still open after %llu ms",
		  (unsigned long long)(now_ms() - t0));
	cr_assert_geq(now_ms() - t0, 900, "closed before control_idle_timeout");
	cr_assert(ctl_wait_closed(&half, 3000, NULL), "half-line client still open");
	cr_assert(broker_wait_log(&b, "silent for control_idle_timeout (1 s)", 2000));
	ctl_close(&silent);
	ctl_close(&half);
	bystanders_down(&bs);
	broker_stop_clean(&b);
}

Test(ctl_protocol, one_client_too_many_gets_busy_and_is_closed)
{
	struct broker b;
	struct bystanders bs;
	struct ctl_cli extra, again;
	bool closed;
	json_t *a;

	/* The bystanders' control client is one of the two. */
	broker_start(&b, 2, "control_max_clients 2\n");
	bystanders_up(&bs, &b);
	struct ctl_cli second;

	ctl_open(&second, &b);
	call_ok(&second, "{\"cmd\":\"log.level\"}");
	ctl_open(&extra, &b);
	a = ctl_read(&extra, 5000, &closed);
	cr_assert_not_null(a, "no busy line (closed %d)", closed);
	assert_err(a, "busy", "control_max_clients");
	json_decref(a);
	cr_assert(ctl_wait_closed(&extra, 5000, NULL));
	ctl_close(&extra);
	bystanders_check(&bs);
	cr_assert(broker_wait_log(&b, "control_max_clients (2) are open", 2000));
	/* A place freed is a place taken (once the broker has seen the close). */
	ctl_close(&second);
	bool taken = false;

	for (int i = 0; i < 50 && !taken; i++) {
		ctl_open(&again, &b);
		a = ctl_call(&again, "{\"cmd\":\"log.level\"}");
		taken = json_is_true(json_object_get(a, "ok"));
		json_decref(a);
		ctl_close(&again);
		if (!taken)
			usleep(100000);
	}
	cr_assert(taken, "no place after one client left");
	bystanders_down(&bs);
	broker_stop_clean(&b);
}

Test(ctl_protocol, control_max_output_closes_a_client_that_never_reads_and_refuses_a_huge_answer)
{
	struct broker b;
	struct bystanders bs;
	struct client *many[20];
	struct ctl_cli lazy, greedy;
	char id[32];
	static char reqs[400 * 64];
	size_t len = 0;
	int answers;
	json_t *a, *r;

	broker_start(&b, 2, "control_max_output 4096\n");
	bystanders_up(&bs, &b);
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "listed-%02d", i);
		many[i] = connected_client(&b, id, false);
	}
	/* Each answer (12 clients, ~3 KB) fits; 400 of them unread do not. */
	ctl_open(&lazy, &b);
	for (int i = 0; i < 400; i++)
		len += (size_t)snprintf(reqs + len, sizeof(reqs) - len,
					"{\"cmd\":\"clients\",\"limit\":12,\"id\":%d}\n", i);
	cr_assert_eq(ctl_send_bytes(&lazy, reqs, len), 0);
	cr_assert(broker_wait_log(&b, "would pass control_max_output (4096)", 10000),
		  "the lazy client was not closed");
	/* All it gets are the answers the socket held, then the close. */
	cr_assert(ctl_wait_closed(&lazy, 10000, &answers));
	cr_assert_lt(answers, 400, "%d answers", answers);
	ctl_close(&lazy);
	bystanders_check(&bs);
	/* A client that reads gets its answers; one larger than the limit is refused with
	 * too_large, and the connection carries on. */
	ctl_open(&greedy, &b);
	a = ctl_call(&greedy, "{\"cmd\":\"clients\",\"pattern\":\"listed-*\",\"limit\":5}");
	r = ok_result(a, "clients listed-* limit 5");
	cr_assert_eq(json_integer_value(json_object_get(r, "total")), 20);
	cr_assert_eq(json_array_size(json_object_get(r, "clients")), 5);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(r, "clients"), 4), "client")), "listed-04");
	json_decref(a);
	a = ctl_call(&greedy, "{\"cmd\":\"clients\",\"limit\":0,\"id\":\"all\"}");
	assert_err(a, "too_large", "over control_max_output (4096)");
	cr_assert_str_eq(json_string_value(json_object_get(a, "id")), "all");
	json_decref(a);
	a = ctl_call(&greedy, "{\"cmd\":\"clients\",\"pattern\":\"listed-1*\",\"limit\":0}");
	r = ok_result(a, "clients listed-1* after a too_large answer");
	cr_assert_eq(json_array_size(json_object_get(r, "clients")), 10);
	json_decref(a);
	ctl_close(&greedy);
	cr_assert(broker_wait_log(&b, "an answer of", 5000), "too_large not logged");
	for (int i = 0; i < 20; i++)
		client_close(many[i]);
	bystanders_down(&bs);
	broker_stop_clean(&b);
}

/* ---- the socket file -------------------------------------------------------------- */

Test(ctl_protocol, the_socket_is_mode_0600_and_removed_at_exit)
{
	struct broker b;
	struct stat st;

	broker_start(&b, 1, NULL);
	cr_assert_eq(lstat(b.ctl_path, &st), 0, "%s: %s", b.ctl_path, strerror(errno));
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
	broker_stop_keep_clean(&b);
	cr_assert_eq(lstat(b.ctl_path, &st), -1, "socket file left behind");
	cr_assert_eq(errno, ENOENT);
}

/* Runs a second petrel (no store, any port) with control_socket <path>: it must exit
 * 1 within seconds with one line "petrel: control_socket <path>: ..<needle>..". */
static void second_petrel_refused(const struct broker *b, const char *path,
				  const char *needle)
{
	char conf[512], cmd[1200], out[4096];
	FILE *f;
	int st;

	snprintf(conf, sizeof(conf), "%s.second.conf", b->conf_path);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "persistence false\ncontrol_socket %s\n", path);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' -c %s -p 0 -w 1 2>&1", getenv("PETREL_BIN"), conf);
	st = run_cmd(cmd, 20, out, sizeof(out));
	unlink(conf);
	cr_assert_eq(st, 1, "exit %d:\n%s", st, out);
	cr_assert(strchr(out, '\n') == out + strlen(out) - 1, "one line expected:\n%s", out);
	cr_assert_not_null(strstr(out, "petrel: control_socket "), "%s", out);
	cr_assert_not_null(strstr(out, needle), "'%s' not in: %s", needle, out);
}

Test(ctl_protocol, a_live_socket_is_refused_and_the_first_broker_keeps_it)
{
	struct broker b;
	struct ctl_cli c;

	broker_start(&b, 1, NULL);
	second_petrel_refused(&b, b.ctl_path, ": another broker answers on it");
	/* The first one still answers on it. */
	ctl_open(&c, &b);
	call_ok(&c, "{\"cmd\":\"status\"}");
	ctl_close(&c);
	broker_stop_clean(&b);
}

Test(ctl_protocol, a_path_that_is_not_a_socket_is_refused)
{
	struct broker b;
	char file[300];
	struct stat st;

	broker_start(&b, 1, NULL);
	snprintf(file, sizeof(file), "%s.not-a-socket", b.conf_path);
	cr_assert_eq(close(open(file, O_CREAT | O_WRONLY, 0600)), 0);
	second_petrel_refused(&b, file, "exists and is not a socket");
	cr_assert_eq(lstat(file, &st), 0, "the file was removed");
	cr_assert(S_ISREG(st.st_mode));
	unlink(file);
	broker_stop_clean(&b);
}

Test(ctl_protocol, a_stale_socket_is_replaced)
{
	struct broker b, b2;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_cli c;
	char extra[300];
	int s;

	/* A socket file nobody listens on: what a broker killed with -9 leaves. */
	broker_start(&b, 1, NULL);
	char stale[300];

	snprintf(stale, sizeof(stale), "%s.stale", b.conf_path);
	cr_assert_lt(strlen(stale), sizeof(sa.sun_path));
	memcpy(sa.sun_path, stale, strlen(stale) + 1);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	cr_assert_eq(ctl_try_open(&c, sa.sun_path), -ECONNREFUSED);
	snprintf(extra, sizeof(extra), "persistence false\ncontrol_socket %s\n", sa.sun_path);
	broker_start(&b2, 1, extra);
	cr_assert(broker_wait_log(&b2, "replaced the socket of a broker that is gone", 2000));
	cr_assert_eq(ctl_try_open(&c, sa.sun_path), 0, "the new socket does not answer");
	call_ok(&c, "{\"cmd\":\"log.level\"}");
	ctl_close(&c);
	broker_stop_keep_clean(&b2);
	cr_assert_neq(access(sa.sun_path, F_OK), 0, "socket not removed at exit");
	broker_stop_clean(&b);
}

Test(ctl_protocol, control_socket_none_serves_no_socket)
{
	struct broker b;
	struct stat st;

	broker_start(&b, 1, "control_socket none\n");
	cr_assert_eq(lstat(b.ctl_path, &st), -1, "%s exists", b.ctl_path);
	cr_assert_eq(access("none", F_OK), -1, "a socket named 'none' was made");
	broker_stop_clean(&b);
}

Test(ctl_protocol, shutdown_stops_the_broker_with_exit_0)
{
	struct broker b;
	struct ctl_cli c;
	json_t *a;
	int st;

	broker_start(&b, 2, NULL);
	ctl_open(&c, &b);
	a = ctl_call(&c, "{\"cmd\":\"shutdown\",\"id\":5}");
	cr_assert(json_is_true(json_object_get(ok_result(a, "shutdown"), "stopping")));
	cr_assert_eq(json_integer_value(json_object_get(a, "id")), 5);
	json_decref(a);
	for (int i = 0; i < 100 && broker_alive(&b); i++)
		usleep(100000);
	cr_assert(!broker_alive(&b), "still running 10 s after shutdown");
	ctl_close(&c);
	st = broker_stop_keep(&b);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x", (unsigned)st);
	cr_assert(broker_log_contains(&b, "shutdown requested on the control socket"));
	cr_assert_neq(access(b.ctl_path, F_OK), 0, "socket not removed at exit");
}

Test(ctl_protocol, sighup_asks_for_a_reload_and_the_broker_carries_on)
{
	struct broker b;
	struct bystanders bs;

	broker_start(&b, 2, NULL);
	bystanders_up(&bs, &b);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	cr_assert(broker_wait_log(&b, "SIGHUP: reloading the configuration", 5000));
	/* Whatever the reload did, the control plane and the workers carry on. */
	bystanders_down(&bs);
	broker_stop_clean(&b);
}
