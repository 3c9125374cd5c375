/* ctl.c - the control socket's server (ctl.h), on the control plane's epoll set.
 * Everything is non-blocking: a client that sends slowly, never sends, never reads or
 * sends a line without end costs a bounded buffer and is closed by its limit, while
 * every other client and the store's commits carry on.
 *
 * A connection handles one request at a time: the next line is taken when the answer
 * to the last one was queued, so answers come in request order without a reorder
 * queue, and a client that pipelines waits on itself only. Its input buffer grows to
 * control_max_line + 1 bytes at most; a line that does not fit is answered too_long
 * and the connection closed. Answers wait in an output buffer, bounded by
 * control_max_output. The limits are read from the configuration in force at each
 * use, so a reload changes them for the connections already open. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "petrel/compiler.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/ctl.h"
#include "petrel/log.h"

#include "cplane_int.h"

/* A limit's log episode ends after this long without an occurrence. */
#define CTL_EPISODE_MS 60000u
/* Connections accepted per readiness of the listening socket (fairness). */
#define CTL_ACCEPT_BURST 64
#define CTL_FIRST_IN 4096u

struct ctl_episode {
	const char *what;
	enum log_level level;          /* of its first line */
	uint64_t last_ms, count;
	bool active;
};

struct ctl_conn {
	struct ctl *ctl;
	struct ctl_conn *prev, *next;
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_off, out_len, out_cap;
	struct ctl_req *pending;       /* the request being answered */
	uint64_t last_rx_ms;
	unsigned events;               /* epoll interest now */
	bool peer_closed;              /* read EOF: answer what came, then close */
	bool hung_up;                  /* EPOLLHUP: nothing more to read or write */
	bool closing;                  /* too_long: close once the answer is out */
	bool doomed;                   /* close at the next safe point */
	bool serving;                  /* inside ctl_conn_serve */
};

struct ctl_req {
	struct ctl_conn *conn;         /* NULL once the connection has gone */
	json_t *id;
};

struct ctl {
	struct cplane *cp;
	int listen_fd;
	bool accept_paused;            /* out of fds: the tick tries again */
	struct ctl_conn *conns;
	unsigned nconns;
	struct ctl_episode busy, too_long, output, too_large, idle, timeout, no_fds;
	atomic_uint_fast64_t connections, accepted, requests, bad_requests, refused_busy,
		closed_too_long, closed_output, closed_idle, request_timeouts,
		answers_too_large;
};

static void count(atomic_uint_fast64_t *c, int64_t n)
{
	atomic_fetch_add_explicit(c, (uint64_t)n, memory_order_relaxed);
}

/* The first occurrence of an episode is logged; the rest are counted. */
static void episode_hit(struct ctl_episode *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void episode_hit(struct ctl_episode *e, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	e->count++;
	e->last_ms = cplane_now_ms();
	if (e->active)
		return;
	e->active = true;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(e->level, "control socket: %s (further ones are counted, not logged, "
		"until a minute passes without one)", line);
}

static void episode_tick(struct ctl_episode *e, uint64_t now_ms)
{
	if (!e->active || now_ms - e->last_ms < CTL_EPISODE_MS)
		return;
	if (e->count > 1)
		log_notice("control socket: %" PRIu64 " connections %s in that episode",
			   e->count, e->what);
	e->active = false;
	e->count = 0;
}

static const struct config *ctl_cfg(const struct ctl *c)
{
	return cplane_config(c->cp);
}

/* ---- connections ------------------------------------------------------------------- */

static void ctl_conn_close(struct ctl_conn *conn)
{
	struct ctl *c = conn->ctl;

	cplane_unwatch(c->cp, conn->fd);
	close(conn->fd);
	if (conn->pending != NULL)
		conn->pending->conn = NULL;   /* its answer is dropped when it comes */
	if (conn->prev != NULL)
		conn->prev->next = conn->next;
	else
		c->conns = conn->next;
	if (conn->next != NULL)
		conn->next->prev = conn->prev;
	c->nconns--;
	count(&c->connections, -1);
	free(conn->in);
	free(conn->out);
	free(conn);
}

/* Writes what it can now. */
static void ctl_conn_flush(struct ctl_conn *conn)
{
	while (conn->out_off < conn->out_len) {
		ssize_t r = send(conn->fd, conn->out + conn->out_off,
				 conn->out_len - conn->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn->doomed = true;   /* the client has gone */
			return;
		}
		conn->out_off += (size_t)r;
	}
	conn->out_off = conn->out_len = 0;
}

/* Queues one answer line (and its '\n'). */
static void ctl_conn_queue(struct ctl_conn *conn, const char *line, size_t len)
{
	struct ctl *c = conn->ctl;
	size_t limit = ctl_cfg(c)->control_max_output;
	size_t unsent = conn->out_len - conn->out_off;

	if (conn->doomed)
		return;
	if (unsent + len + 1 > limit) {
		count(&c->closed_output, 1);
		episode_hit(&c->output, "a connection closed: %zu unsent answer bytes would "
			    "pass control_max_output (%zu)", unsent + len + 1, limit);
		conn->doomed = true;
		return;
	}
	if (conn->out_off > 0 && conn->out_len + len + 1 > conn->out_cap) {
		memmove(conn->out, conn->out + conn->out_off, unsent);
		conn->out_off = 0;
		conn->out_len = unsent;
	}
	if (conn->out_len + len + 1 > conn->out_cap) {
		size_t cap = PETREL_MAX(conn->out_cap * 2, conn->out_len + len + 1);
		char *p = realloc(conn->out, cap);

		if (p == NULL) {
			log_err("control socket: out of memory for an answer of %zu bytes; "
				"connection closed", len);
			conn->doomed = true;
			return;
		}
		conn->out = p;
		conn->out_cap = cap;
	}
	memcpy(conn->out + conn->out_len, line, len);
	conn->out[conn->out_len + len] = '\n';
	conn->out_len += len + 1;
}

/* One answer alone over control_max_output: the client could never take it, so it
 * gets a too_large error instead (the connection carries on) and can ask for less. */
static char *ctl_too_large(struct ctl_conn *conn, json_t *id, size_t len, size_t limit)
{
	char msg[256];
	json_t *e;
	char *line;

	count(&conn->ctl->answers_too_large, 1);
	episode_hit(&conn->ctl->too_large, "an answer of %zu bytes refused: over "
		    "control_max_output (%zu)", len, limit);
	snprintf(msg, sizeof(msg), "the answer is %zu bytes, over control_max_output (%zu): "
		 "ask for less (\"limit\", a pattern or a filter)", len, limit);
	e = json_pack("{s:b,s:s,s:s}", "ok", 0, "code", "too_large", "error", msg);
	if (e == NULL)
		return NULL;
	if (id != NULL)
		json_object_set(e, "id", id);
	line = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	return line;
}

static void ctl_conn_answer(struct ctl_conn *conn, json_t *answer, json_t *id)
{
	static const char oom[] = "{\"ok\":false,\"code\":\"failed\","
				  "\"error\":\"out of memory\"}";
	size_t limit = ctl_cfg(conn->ctl)->control_max_output;
	char *line = json_dumps(answer, JSON_COMPACT);
	size_t len = line != NULL ? strlen(line) : 0;

	if (line != NULL && len + 1 > limit) {
		char *small = ctl_too_large(conn, id, len + 1, limit);

		free(line);
		line = small;
	}
	if (line == NULL) {
		ctl_conn_queue(conn, oom, sizeof(oom) - 1);
		return;
	}
	ctl_conn_queue(conn, line, strlen(line));
	free(line);
}

static void ctl_conn_serve(struct ctl_conn *conn);

/* Ends <r>: the answer goes out on its connection, if it is still there. */
static void ctl_req_end(struct ctl_req *r, json_t *answer)
{
	struct ctl_conn *conn = r->conn;

	if (conn != NULL) {
		ctl_conn_answer(conn, answer, r->id);
		conn->pending = NULL;
	}
	json_decref(answer);
	json_decref(r->id);
	free(r);
	/* Answered later (a worker's reply): take the connection's next line. */
	if (conn != NULL && !conn->serving)
		ctl_conn_serve(conn);
}

void ctl_reply_ok(struct ctl_req *r, json_t *result)
{
	json_t *a = json_object();

	if (result == NULL)
		result = json_object();
	json_object_set_new(a, "ok", json_true());
	if (r->id != NULL)
		json_object_set(a, "id", r->id);
	json_object_set_new(a, "result", result);
	ctl_req_end(r, a);
}

static void ctl_err(struct ctl_req *r, const char *code, char *msg)
{
	json_t *a = json_object();
	json_t *text = json_string(msg);

	if (text == NULL) {
		/* A JSON string is UTF-8: a client's bad bytes quoted back are replaced. */
		for (char *p = msg; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		text = json_string(msg);
	}
	json_object_set_new(a, "ok", json_false());
	if (r->id != NULL)
		json_object_set(a, "id", r->id);
	json_object_set_new(a, "error", text);
	json_object_set_new(a, "code", json_string(code));
	ctl_req_end(r, a);
}

void ctl_reply_err(struct ctl_req *r, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->conn != NULL) {
		struct ctl *c = r->conn->ctl;

		if (strcmp(code, "bad_request") == 0 || strcmp(code, "unknown_command") == 0)
			count(&c->bad_requests, 1);
		if (strcmp(code, "timeout") == 0) {
			count(&c->request_timeouts, 1);
			episode_hit(&c->timeout, "a request timed out: %s", msg);
		}
	}
	ctl_err(r, code, msg);
}

static const struct ctl_cmd *ctl_cmd_find(const char *name)
{
	for (const struct ctl_cmd *k = ctl_cmds; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static bool ctl_field_known(const struct ctl_cmd *k, const char *field)
{
	if (strcmp(field, "cmd") == 0 || strcmp(field, "id") == 0)
		return true;
	for (const char *const *f = k->fields; f != NULL && *f != NULL; f++)
		if (strcmp(*f, field) == 0)
			return true;
	return false;
}

/* One request line. */
static void ctl_conn_request(struct ctl_conn *conn, const char *line, size_t len)
{
	struct ctl *c = conn->ctl;
	struct ctl_req *r = calloc(1, sizeof(*r));
	const struct ctl_cmd *k;
	json_error_t jerr;
	json_t *req, *cmd;
	const char *field;
	json_t *v;

	count(&c->requests, 1);
	if (r == NULL) {
		conn->doomed = true;
		return;
	}
	r->conn = conn;
	conn->pending = r;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (req == NULL) {
		ctl_reply_err(r, "bad_request", "bad JSON at column %d: %s", jerr.column,
			      jerr.text);
		return;
	}
	if (!json_is_object(req)) {
		json_decref(req);
		ctl_reply_err(r, "bad_request", "a request is a JSON object");
		return;
	}
	r->id = json_incref(json_object_get(req, "id"));
	cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd)) {
		json_decref(req);
		ctl_reply_err(r, "bad_request", "a request needs \"cmd\", a string");
		return;
	}
	k = ctl_cmd_find(json_string_value(cmd));
	if (k == NULL) {
		ctl_reply_err(r, "unknown_command", "unknown command '%.200s'",
			      json_string_value(cmd));
		json_decref(req);
		return;
	}
	json_object_foreach(req, field, v) {
		if (!ctl_field_known(k, field)) {
			ctl_reply_err(r, "bad_request", "unknown field '%.200s' for '%s'",
				      field, k->name);
			json_decref(req);
			return;
		}
	}
	k->fn(c->cp, r, req);
	json_decref(req);
}

static void ctl_conn_consume(struct ctl_conn *conn, size_t n)
{
	memmove(conn->in, conn->in + n, conn->in_len - n);
	conn->in_len -= n;
}

static size_t ctl_in_limit(const struct ctl_conn *conn)
{
	return ctl_cfg(conn->ctl)->control_max_line + 1;   /* the line and its '\n' */
}

/* Takes the lines it can (one request at a time), writes, then closes or sets the
 * interest for what it waits on. */
static void ctl_conn_serve(struct ctl_conn *conn)
{
	struct ctl *c = conn->ctl;
	unsigned events = 0;

	conn->serving = true;
	while (!conn->doomed && !conn->closing && conn->pending == NULL) {
		char *nl = memchr(conn->in, '\n', conn->in_len);
		size_t len, used;

		if (nl != NULL) {
			len = (size_t)(nl - conn->in);
		} else if (conn->in_len >= ctl_in_limit(conn)) {
			struct ctl_req *r = calloc(1, sizeof(*r));

			count(&c->closed_too_long, 1);
			episode_hit(&c->too_long, "a connection closed: a request line longer "
				    "than control_max_line (%zu bytes)",
				    ctl_cfg(c)->control_max_line);
			conn->closing = true;
			conn->in_len = 0;
			if (r == NULL)
				break;
			r->conn = conn;
			conn->pending = r;
			ctl_reply_err(r, "too_long", "request line longer than %zu bytes",
				      ctl_cfg(c)->control_max_line);
			break;
		} else if (conn->peer_closed && conn->in_len > 0) {
			len = conn->in_len;   /* the last line, without its '\n' */
		} else {
			break;
		}
		used = nl != NULL ? len + 1 : len;
		if (len > 0 && conn->in[len - 1] == '\r')
			len--;
		if (len > 0)
			ctl_conn_request(conn, conn->in, len);
		ctl_conn_consume(conn, used);
	}
	conn->serving = false;
	if (!conn->doomed)
		ctl_conn_flush(conn);
	if (conn->doomed ||
	    (conn->out_len == 0 && conn->pending == NULL &&
	     (conn->closing || (conn->peer_closed && conn->in_len == 0)))) {
		ctl_conn_close(conn);
		return;
	}
	if (conn->hung_up) {
		/* Level-triggered EPOLLHUP would fire until the answer came. */
		cplane_unwatch(c->cp, conn->fd);
		return;
	}
	if (conn->pending == NULL && !conn->closing && !conn->peer_closed &&
	    conn->in_len < ctl_in_limit(conn))
		events |= EPOLLIN;
	if (conn->out_len > 0)
		events |= EPOLLOUT;
	if (events != conn->events && cplane_rewatch(c->cp, conn->fd, events) == 0)
		conn->events = events;
}

/* Reads once: at most what fits below control_max_line + 1. */
static void ctl_conn_read(struct ctl_conn *conn)
{
	size_t limit = ctl_in_limit(conn);
	ssize_t r;

	if (conn->in_len >= limit)
		return;
	if (conn->in_len == conn->in_cap) {
		size_t cap = PETREL_MIN(PETREL_MAX(conn->in_cap * 2, CTL_FIRST_IN), limit);
		char *p = realloc(conn->in, cap);

		if (p == NULL) {
			conn->doomed = true;
			return;
		}
		conn->in = p;
		conn->in_cap = cap;
	}
	r = recv(conn->fd, conn->in + conn->in_len,
		 PETREL_MIN(conn->in_cap, limit) - conn->in_len, MSG_DONTWAIT);
	if (r == 0) {
		conn->peer_closed = true;
	} else if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn->doomed = true;
	} else {
		conn->in_len += (size_t)r;
		conn->last_rx_ms = cplane_now_ms();
	}
}

static void ctl_conn_ready(struct cplane *cp, void *arg, unsigned events)
{
	struct ctl_conn *conn = arg;

	(void)cp;
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* What it sent before it went still runs (a kick, a shutdown). */
		for (int i = 0; i < 64 && !conn->doomed && !conn->peer_closed &&
				conn->in_len < ctl_in_limit(conn); i++)
			ctl_conn_read(conn);
		conn->hung_up = conn->peer_closed = true;
	} else if (events & EPOLLIN) {
		ctl_conn_read(conn);
	}
	ctl_conn_serve(conn);
}

/* ---- accepting ----------------------------------------------------------------------- */

static void ctl_refuse_busy(struct ctl *c, int fd)
{
	static const char busy[] = "{\"ok\":false,\"code\":\"busy\",\"error\":\"too many "
				   "control connections (control_max_clients)\"}\n";
	ssize_t r = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)r;   /* best effort: the client learns why, or sees the close */
	close(fd);
	count(&c->refused_busy, 1);
	episode_hit(&c->busy, "a connection refused: control_max_clients (%u) are open",
		    ctl_cfg(c)->control_max_clients);
}

static void ctl_accept_one(struct ctl *c, int fd)
{
	struct ctl_conn *conn;

	if (c->nconns >= ctl_cfg(c)->control_max_clients) {
		ctl_refuse_busy(c, fd);
		return;
	}
	conn = calloc(1, sizeof(*conn));
	if (conn == NULL || cplane_watch(c->cp, fd, EPOLLIN, ctl_conn_ready, conn) < 0) {
		log_err("control socket: cannot take a connection: %s", strerror(ENOMEM));
		free(conn);
		close(fd);
		return;
	}
	conn->ctl = c;
	conn->fd = fd;
	conn->events = EPOLLIN;
	conn->last_rx_ms = cplane_now_ms();
	conn->next = c->conns;
	if (c->conns != NULL)
		c->conns->prev = conn;
	c->conns = conn;
	c->nconns++;
	count(&c->connections, 1);
	count(&c->accepted, 1);
}

static void ctl_accept(struct cplane *cp, void *arg, unsigned events)
{
	struct ctl *c = arg;

	(void)events;
	for (int i = 0; i < CTL_ACCEPT_BURST; i++) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			ctl_accept_one(c, fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Level-triggered: it would spin. The tick tries again. */
			episode_hit(&c->no_fds, "cannot accept: %s", strerror(errno));
			if (cplane_rewatch(cp, c->listen_fd, 0) == 0)
				c->accept_paused = true;
		}
		return;
	}
}

/* ---- the server ---------------------------------------------------------------------- */

struct ctl *ctl_create(struct cplane *cp, int listen_fd)
{
	struct ctl *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return NULL;
	c->cp = cp;
	c->listen_fd = listen_fd;
	c->busy.level = c->too_long.level = c->output.level = c->too_large.level = LOG_WARN;
	c->timeout.level = c->no_fds.level = LOG_WARN;
	/* A client that goes quiet is ordinary (a forgotten nc), not a warning. */
	c->idle.level = LOG_NOTICE;
	c->busy.what = "refused for control_max_clients";
	c->too_long.what = "closed for control_max_line";
	c->output.what = "closed for control_max_output";
	c->too_large.what = "answered too_large (control_max_output)";
	c->idle.what = "closed for control_idle_timeout";
	c->timeout.what = "answered timeout (control_request_timeout)";
	c->no_fds.what = "not accepted (no file descriptor)";
	rc = cplane_watch(cp, listen_fd, EPOLLIN, ctl_accept, c);
	if (rc < 0) {
		free(c);
		errno = -rc;
		return NULL;
	}
	return c;
}

void ctl_close_all(struct ctl *c)
{
	cplane_unwatch(c->cp, c->listen_fd);
	while (c->conns != NULL) {
		struct ctl_conn *conn = c->conns;

		if (!conn->doomed)
			ctl_conn_flush(conn);   /* e.g. shutdown's own answer */
		ctl_conn_close(conn);
	}
}

void ctl_destroy(struct ctl *c)
{
	if (c == NULL)
		return;
	ctl_close_all(c);
	free(c);
}

void ctl_tick(struct ctl *c)
{
	uint64_t now = cplane_now_ms();
	uint64_t idle_ms = (uint64_t)ctl_cfg(c)->control_idle_timeout * 1000u;
	struct ctl_conn *conn = c->conns, *next;

	for (; conn != NULL; conn = next) {
		next = conn->next;
		if (conn->pending != NULL || now - conn->last_rx_ms < idle_ms)
			continue;
		count(&c->closed_idle, 1);
		episode_hit(&c->idle, "a connection closed: silent for control_idle_timeout "
			    "(%u s)", ctl_cfg(c)->control_idle_timeout);
		ctl_conn_close(conn);
	}
	if (c->accept_paused && cplane_rewatch(c->cp, c->listen_fd, EPOLLIN) == 0)
		c->accept_paused = false;
	episode_tick(&c->busy, now);
	episode_tick(&c->too_long, now);
	episode_tick(&c->output, now);
	episode_tick(&c->too_large, now);
	episode_tick(&c->idle, now);
	episode_tick(&c->timeout, now);
	episode_tick(&c->no_fds, now);
}

static uint64_t load(const atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

void ctl_stats_read(const struct ctl *c, struct ctl_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return;
	out->connections = load(&c->connections);
	out->accepted = load(&c->accepted);
	out->requests = load(&c->requests);
	out->bad_requests = load(&c->bad_requests);
	out->refused_busy = load(&c->refused_busy);
	out->closed_too_long = load(&c->closed_too_long);
	out->closed_output = load(&c->closed_output);
	out->closed_idle = load(&c->closed_idle);
	out->request_timeouts = load(&c->request_timeouts);
	out->answers_too_large = load(&c->answers_too_large);
}
