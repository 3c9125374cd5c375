/* metrics_http.c - metrics_listener: Prometheus scrapes GET /metrics over HTTP, served
 * by libmicrohttpd on the control plane's thread. MHD runs without a thread of its
 * own (MHD_USE_EPOLL): its epoll descriptor sits in the control plane's epoll set and
 * MHD_run processes whatever is ready; the once-a-second tick runs it too, so idle
 * connections time out (metrics_timeout) even when nothing else happens.
 *
 * We bind the socket ourselves: a port in use or an address that is not ours is
 * reported with its errno, and the broker stops, as for the MQTT listener. We accept
 * too, and hand each connection to MHD (MHD_add_connection), so that the limit
 * metrics_max_clients is ours: a connection over it is accepted and closed at once,
 * counted (petrel_metrics_http_refused_total) and logged once per episode (until the
 * open connections fall below the limit again). Idle connections: metrics_timeout.
 *
 *   GET|HEAD /metrics -> 200 text/plain; version=0.0.4 (metrics_prometheus)
 *   GET|HEAD other    -> 404
 *   any other method  -> 405, Allow: GET, HEAD */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/log.h"

#include "metrics_int.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct cplane *cp;
	struct metrics *m;
	struct MHD_Daemon *d;
	int listen_fd;
	int mhd_epfd;
	unsigned open;                 /* connections MHD has (NOTIFY_CONNECTION) */
	bool full_logged;              /* in a metrics_max_clients episode */
	uint64_t refused;              /* connections closed for metrics_max_clients */
};

/* "ADDR:PORT" or "[IPv6]:PORT" into <ss>. Returns its length, or -EINVAL. */
static int parse_listener(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	unsigned long port;
	char *end;
	size_t hlen;

	if (colon == NULL || colon == s)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']' || hlen - 2 >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen - 2);
		host[hlen - 2] = '\0';
	} else {
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
	}
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? (int)sizeof(*a) : -EINVAL;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? (int)sizeof(*a) : -EINVAL;
}

static int bind_listener(const struct sockaddr_storage *ss, int len)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* A restarted broker rebinds while old connections sit in TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, (socklen_t)len) < 0 || listen(fd, 64) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code, char *body,
			       size_t len, enum MHD_ResponseMemoryMode mode,
			       const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				code == MHD_HTTP_OK ? PROM_CONTENT_TYPE : "text/plain");
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	static char not_found[] = "not found: only /metrics is served\n";
	static char not_allowed[] = "method not allowed: GET /metrics\n";
	struct metrics_http *h = cls;
	char *text;
	size_t len;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
			       sizeof(not_allowed) - 1, MHD_RESPMEM_PERSISTENT, "GET, HEAD");
	if (strcmp(url, "/metrics") != 0)
		return respond(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1,
			       MHD_RESPMEM_PERSISTENT, NULL);
	text = metrics_prometheus(h->m, &len);
	if (text == NULL)
		return MHD_NO;   /* out of memory: MHD closes the connection */
	return respond(conn, MHD_HTTP_OK, text, len, MHD_RESPMEM_MUST_FREE, NULL);
}

/* MHD keeps connections it could not finish in one run on a list of its own (its
 * epoll is edge-triggered): a timeout of 0 says so, and nothing would wake us for
 * them. A few runs more, bounded so scrapers cannot hold the control plane. */
#define MHD_RUNS_MAX 8

void metrics_http_run(struct metrics_http *h)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	if (h == NULL || h->d == NULL)
		return;
	for (int i = 0; i < MHD_RUNS_MAX; i++) {
		MHD_run(h->d);
		if (MHD_get_timeout(h->d, &timeout) != MHD_YES || timeout > 0)
			break;
	}
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct metrics_http *h = cls;

	(void)conn;
	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		h->open++;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && h->open > 0) {
		h->open--;
		if (h->full_logged && h->open < cplane_config(h->cp)->metrics_max_clients) {
			h->full_logged = false;
			log_notice("metrics_listener: below metrics_max_clients again; %" PRIu64
				   " connections refused so far", h->refused);
		}
	}
}

/* Accepts what waits (a bounded number per wake-up: the rest wakes us again). */
#define ACCEPTS_PER_WAKE 64

static void on_listen_ready(struct cplane *cp, void *arg, unsigned events)
{
	struct metrics_http *h = arg;
	unsigned max = cplane_config(cp)->metrics_max_clients;

	(void)events;
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(h->listen_fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;   /* EAGAIN, or a failure the next connection may not have */
		if (h->open >= max) {
			close(fd);
			h->refused++;
			if (!h->full_logged) {
				h->full_logged = true;
				log_notice("metrics_listener: metrics_max_clients (%u) reached; "
					   "new connections are closed until one ends", max);
			}
			continue;
		}
		/* MHD closes the socket itself when it cannot take it. */
		MHD_add_connection(h->d, fd, (const struct sockaddr *)&ss, len);
	}
	metrics_http_run(h);
}

uint64_t metrics_http_refused(const struct metrics_http *h)
{
	return h != NULL ? h->refused : 0;
}

static void on_ready(struct cplane *cp, void *arg, unsigned events)
{
	(void)cp;
	(void)events;
	metrics_http_run(arg);
}

/* MHD's own messages (why it refused or closed a connection), at info level. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_info("metrics_listener: %s", line);
}

/* Logs the address bound (the port the kernel picked for port 0 too). */
static void log_listening(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
			log_notice("metrics on http://[%s]:%u/metrics", host, port);
			return;
		}
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	}
	log_notice("metrics on http://%s:%u/metrics", host, port);
}

/* Stops MHD (it closes the connections it has) and closes our listening socket. */
static void mhd_stop(struct metrics_http *h)
{
	MHD_stop_daemon(h->d);
	close(h->listen_fd);
}

int metrics_http_start(struct metrics_http **out, struct cplane *cp, struct metrics *m,
		       char *err, size_t errlen)
{
	const struct config *cfg = cplane_config(cp);
	const char *listener = cfg->metrics_listener;
	struct sockaddr_storage ss;
	struct metrics_http *h;
	const union MHD_DaemonInfo *info;
	int len, rc;

	*out = NULL;
	if (listener[0] == '\0')
		return 0;
	len = parse_listener(listener, &ss);
	if (len < 0) {
		snprintf(err, errlen, "metrics_listener %s: not ADDR:PORT or [IPv6]:PORT",
			 listener);
		return len;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->cp = cp;
	h->m = m;
	h->mhd_epfd = -1;
	h->listen_fd = bind_listener(&ss, len);
	if (h->listen_fd < 0) {
		rc = h->listen_fd;
		snprintf(err, errlen, "metrics_listener %s: %s", listener, strerror(-rc));
		free(h);
		return rc;
	}
	/* MHD's own limit stays as a backstop above ours (on_listen_ready). */
	h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET |
				(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, on_request, h,
				MHD_OPTION_CONNECTION_LIMIT, cfg->metrics_max_clients + 1u,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
				MHD_OPTION_CONNECTION_TIMEOUT, cfg->metrics_timeout,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	info = h->d != NULL ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (info == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "metrics_listener %s: libmicrohttpd cannot start",
			 listener);
		goto err;
	}
	h->mhd_epfd = info->epoll_fd;
	rc = cplane_watch(cp, h->mhd_epfd, EPOLLIN, on_ready, h);
	if (rc < 0) {
		snprintf(err, errlen, "metrics_listener %s: %s", listener, strerror(-rc));
		h->mhd_epfd = -1;
		goto err;
	}
	rc = cplane_watch(cp, h->listen_fd, EPOLLIN, on_listen_ready, h);
	if (rc < 0) {
		snprintf(err, errlen, "metrics_listener %s: %s", listener, strerror(-rc));
		cplane_unwatch(cp, h->mhd_epfd);
		h->mhd_epfd = -1;
		goto err;
	}
	m->http = h;
	log_listening(h->listen_fd);
	*out = h;
	return 0;

err:
	if (h->d != NULL)
		mhd_stop(h);
	else
		close(h->listen_fd);
	free(h);
	return rc;
}

void metrics_http_stop(struct metrics_http *h)
{
	if (h == NULL)
		return;
	if (h->mhd_epfd >= 0) {
		cplane_unwatch(h->cp, h->mhd_epfd);
		cplane_unwatch(h->cp, h->listen_fd);
	}
	if (h->m->http == h)
		h->m->http = NULL;
	mhd_stop(h);
	free(h);
}
