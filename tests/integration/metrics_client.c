/* metrics_client.c - see metrics_client.h. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "metrics_client.h"

#define IO_TIMEOUT_MS 5000
#define PARSE_OUT_MAX (8u << 20)

/* Reads until <fd> closes (or until a newline when <line>) within the timeout. */
static char *read_all(int fd, bool line, size_t *len_out)
{
	uint64_t deadline = now_ms() + IO_TIMEOUT_MS;
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);

	cr_assert_not_null(buf);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			break;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			cr_assert_not_null(buf);
		}
		n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (line && memchr(buf, '\n', len) != NULL)
			break;
	}
	buf[len] = '\0';
	if (len_out != NULL)
		*len_out = len;
	return buf;
}

json_t *ctl_call(struct broker *b, const char *request)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	json_error_t err;
	json_t *answer;
	char *line;

	cr_assert_geq(fd, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", b->ctl_path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0,
		     "connect to control socket %s: %s", b->ctl_path, strerror(errno));
	cr_assert_eq(raw_send(fd, request, strlen(request)), 0);
	cr_assert_eq(raw_send(fd, "\n", 1), 0);
	line = read_all(fd, true, NULL);
	close(fd);
	answer = json_loads(line, 0, &err);
	cr_assert(json_is_object(answer), "control answer to %s is not a JSON object: %.200s",
		  request, line);
	free(line);
	return answer;
}

json_t *ctl_result(struct broker *b, const char *request)
{
	json_t *answer = ctl_call(b, request), *result;
	char *dump;

	if (!json_is_true(json_object_get(answer, "ok"))) {
		dump = json_dumps(answer, 0);
		cr_assert_fail("control request %s failed: %s", request, dump);
	}
	result = json_incref(json_object_get(answer, "result"));
	json_decref(answer);
	cr_assert_not_null(result);
	return result;
}

char *ctl_metrics_text(struct broker *b)
{
	json_t *r = ctl_result(b, "{\"cmd\":\"metrics\"}");
	const char *text = json_string_value(json_object_get(r, "text"));
	char *copy;

	cr_assert_not_null(text, "metrics result has no \"text\"");
	copy = strdup(text);
	json_decref(r);
	return copy;
}

json_t *prom_parse(const char *text, const char *dashboard, int *rc)
{
	const char *src = getenv("PETREL_TEST_SRC");
	char in_path[] = "/tmp/petrel-prom-XXXXXX";
	char cmd[1024];
	char *out = malloc(PARSE_OUT_MAX);
	json_t *parsed;
	FILE *f;
	int fd;

	cr_assert_not_null(src, "PETREL_TEST_SRC is not set (meson test sets it)");
	cr_assert_not_null(out);
	fd = mkstemp(in_path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	/* Debian's python3: the one python3-prometheus-client is installed for. */
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/prom_parse.py %s%s < %s", src,
		 dashboard != NULL ? "--grafana " : "", dashboard != NULL ? dashboard : "",
		 in_path);
	*rc = run_cmd(cmd, 30, out, PARSE_OUT_MAX);
	unlink(in_path);
	parsed = *rc == 0 ? json_loads(out, 0, NULL) : NULL;
	free(out);
	return parsed;
}

json_t *prom_parse_ok(const char *text)
{
	int rc;
	json_t *parsed = prom_parse(text, NULL, &rc);

	cr_assert_eq(rc, 0, "the Prometheus parser refused the text (exit %d):\n%.2000s", rc,
		     text);
	cr_assert_not_null(parsed);
	return parsed;
}

double prom_sum(const json_t *parsed, const char *name)
{
	json_t *samples = json_object_get(parsed, "samples"), *s;
	double sum = 0;
	bool found = false;
	size_t i;

	json_array_foreach(samples, i, s) {
		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0) {
			sum += json_number_value(json_object_get(s, "value"));
			found = true;
		}
	}
	return found ? sum : -1;
}

double prom_value(const json_t *parsed, const char *name, const char *label,
		  const char *value)
{
	json_t *samples = json_object_get(parsed, "samples"), *s;
	size_t i;

	json_array_foreach(samples, i, s) {
		const char *v = json_string_value(
			json_object_get(json_object_get(s, "labels"), label));

		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0 &&
		    v != NULL && strcmp(v, value) == 0)
			return json_number_value(json_object_get(s, "value"));
	}
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *prom_family_list(const json_t *parsed)
{
	json_t *fams = json_object_get(parsed, "families"), *v;
	size_t n = json_object_size(fams), k = 0, len = 1;
	const char **names = calloc(n ? n : 1, sizeof(*names));
	const char *key;
	char *out;

	cr_assert_not_null(names);
	json_object_foreach(fams, key, v) {
		names[k++] = key;
		len += strlen(key) + 1;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	out = calloc(1, len);
	cr_assert_not_null(out);
	for (k = 0; k < n; k++) {
		strcat(out, names[k]);
		strcat(out, "\n");
	}
	free(names);
	return out;
}

uint16_t free_tcp_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

int http_request(uint16_t port, const char *method, const char *path, char **head,
		 char **body)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = -1;
	char req[512], *resp, *sep;
	size_t len;

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0,
		     "connect to metrics_listener port %u: %s", port, strerror(errno));
	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		 "Content-Length: 0\r\n\r\n", method, path);
	cr_assert_eq(raw_send(fd, req, strlen(req)), 0);
	resp = read_all(fd, false, &len);
	close(fd);
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	sep = strstr(resp, "\r\n\r\n");
	if (head != NULL)
		*head = strndup(resp, sep != NULL ? (size_t)(sep - resp) : len);
	if (body != NULL)
		*body = strdup(sep != NULL ? sep + 4 : "");
	free(resp);
	return status;
}
