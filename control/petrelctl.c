/* petrelctl.c - the command line client of the control socket (ctl.h): parses the
 * command line, sends one JSON request line per command, waits (bounded by -t) for its
 * answer line and hands the result to a printer (petrelctl_fmt.c) or prints it as
 * JSON. Commands are a table: the words typed, the wire name, the argument each takes,
 * the help line and the printer side by side. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "petrelctl.h"

#define DEFAULT_SOCKET "./petrel.sock"
#define DEFAULT_TIMEOUT_S 10
/* An answer longer than this is not one the broker sends (control_max_output bounds
 * what it queues, 64 MiB by default); stop reading rather than grow without end. */
#define MAX_ANSWER (1u << 30)

struct command {
	const char *words;       /* as typed: "retained list" */
	const char *cmd;         /* on the wire: "retained.list"; NULL = local */
	const char *arg;         /* the request field of the positional argument */
	bool arg_required;
	bool limit;              /* takes --limit N */
	const char *synopsis;
	const char *help;
	pctl_print_fn *print;
};

static const struct command commands[] = {
	{ "status", "status", NULL, false, false, "",
	  "uptime, connections, sessions, traffic and rates, drops, store",
	  fmt_status },
	{ "clients", "clients", "pattern", false, true, "[PATTERN] [--limit N]",
	  "sessions whose client id matches PATTERN (a glob)",
	  fmt_clients },
	{ "session show", "session.show", "client", true, false, "CLIENTID",
	  "one session: address, subscriptions, inflight, queued",
	  fmt_session },
	{ "subscriptions", "subscriptions", "filter", false, true,
	  "[TOPICFILTER] [--limit N]",
	  "subscriptions TOPICFILTER covers",
	  fmt_subscriptions },
	{ "kick", "kick", "client", true, false, "CLIENTID",
	  "close a client's connection (its will goes out)", fmt_kick },
	{ "retained list", "retained.list", "filter", false, true,
	  "[TOPICFILTER] [--limit N]", "retained messages under TOPICFILTER (default #)",
	  fmt_retained_list },
	{ "retained delete", "retained.delete", "topic", true, false, "TOPIC",
	  "delete the retained message of TOPIC", fmt_retained_delete },
	{ "log level", "log.level", "level", false, false, "[LEVEL]",
	  "show or set: error, warning, notice, info, debug",
	  fmt_log_level },
	{ "reload", "reload", NULL, false, false, "",
	  "re-read the config file; what applied, what needs a restart",
	  fmt_reload },
	{ "metrics", "metrics", NULL, false, false, "",
	  "the Prometheus text, as GET /metrics serves it", fmt_metrics },
	{ "shutdown", "shutdown", NULL, false, false, "",
	  "stop the broker (as SIGTERM does)", fmt_shutdown },
	{ "store stats", "store.stats", NULL, false, false, "",
	  "the persistent store: records, file size, commits", fmt_store_stats },
	{ "store compact", "store.compact", NULL, false, false, "",
	  "rewrite the store file without its free pages", fmt_store_compact },
	{ "top", NULL, NULL, false, false, "[-n COUNT] [-d SECONDS]",
	  "a live view every SECONDS (1); COUNT frames (until ^C)", NULL },
	{ "help", NULL, NULL, false, false, "", "this text", NULL },
	{ NULL, NULL, NULL, false, false, NULL, NULL, NULL },
};

void pctl_error(const char *fmt, ...)
{
	va_list ap;

	fputs("petrelctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: petrelctl [-s PATH] [--json] [-t SECONDS] COMMAND [ARGS]\n"
		"\n"
		"Manages a running petrel over its control socket (control_socket).\n"
		"\n"
		"options:\n"
		"  -s, --socket PATH      the control socket (default %s)\n"
		"  -j, --json             print the broker's answer as JSON\n"
		"  -t, --timeout SECONDS  wait at most this long for the broker (default %d)\n"
		"  -h, --help             this text\n"
		"\n"
		"commands:\n", DEFAULT_SOCKET, DEFAULT_TIMEOUT_S);
	for (const struct command *c = commands; c->words; c++) {
		char head[64];

		snprintf(head, sizeof(head), "%s %s", c->words, c->synopsis);
		fprintf(f, "  %-40s %s\n", head, c->help);
	}
	fprintf(f, "\nLists show at most 1000 entries unless --limit N says otherwise (0 = all).\n"
		"Exit status: 0 done, 1 failed (socket, timeout, the broker's error), 2 usage.\n");
}

/* ---- the connection -------------------------------------------------------------- */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void timed_out(const struct pctl *p)
{
	pctl_error("broker did not answer within %u s", p->timeout_s);
}

static int pctl_connect(struct pctl *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	/* A listener whose backlog is full keeps connect() waiting: SO_SNDTIMEO bounds
	 * that wait for AF_UNIX, and every later send too. */
	struct timeval tv = { .tv_sec = p->timeout_s };
	int fd;

	if (strlen(p->path) >= sizeof(sa.sun_path)) {
		pctl_error("cannot connect to %s: the path is longer than %zu bytes",
			   p->path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, p->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pctl_error("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		if (e == EAGAIN || e == EINPROGRESS || e == ETIMEDOUT) {
			timed_out(p);
			return -1;
		}
		/* No file, or a file nobody listens on (a broker that died). */
		pctl_error("cannot connect to %s: %s%s", p->path, strerror(e),
			   e == ENOENT || e == ECONNREFUSED ? " (is petrel running?)" : "");
		return -1;
	}
	p->fd = fd;
	return 0;
}

void pctl_close(struct pctl *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

static int send_all(struct pctl *p, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(p->fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			timed_out(p);
			return -1;
		}
		if (w < 0) {
			pctl_error("sending to %s: %s", p->path, strerror(errno));
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until p->buf holds a whole line; returns its length (without '\n'). */
static ssize_t read_line(struct pctl *p, long long deadline)
{
	size_t scanned = 0;

	for (;;) {
		char *nl = p->len > scanned ? memchr(p->buf + scanned, '\n',
						     p->len - scanned) : NULL;
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		long long left;
		ssize_t r;
		int n;

		if (nl)
			return nl - p->buf;
		scanned = p->len;
		if (p->cap - p->len < 4096) {
			size_t cap = p->cap ? p->cap * 2 : 65536;
			char *nb;

			if (cap > MAX_ANSWER) {
				pctl_error("the broker's answer is longer than %u bytes",
					   MAX_ANSWER);
				return -1;
			}
			nb = realloc(p->buf, cap);
			if (!nb) {
				pctl_error("out of memory reading the answer");
				return -1;
			}
			p->buf = nb;
			p->cap = cap;
		}
		left = deadline - mono_ms();
		if (left <= 0) {
			timed_out(p);
			return -1;
		}
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pctl_error("poll: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			timed_out(p);
			return -1;
		}
		r = recv(p->fd, p->buf + p->len, p->cap - p->len, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			pctl_error("reading from %s: %s", p->path, strerror(errno));
			return -1;
		}
		if (r == 0) {
			pctl_error("the broker closed the connection without answering");
			return -1;
		}
		p->len += (size_t)r;
	}
}

/* The answer line of request <id>, parsed; prints the reason on failure. */
static json_t *read_answer(struct pctl *p, unsigned id, long long deadline)
{
	for (;;) {
		ssize_t n = read_line(p, deadline);
		json_error_t jerr;
		json_t *ans, *aid;

		if (n < 0)
			return NULL;
		ans = json_loadb(p->buf, (size_t)n, 0, &jerr);
		memmove(p->buf, p->buf + n + 1, p->len - (size_t)n - 1);
		p->len -= (size_t)n + 1;
		if (!ans || !json_is_object(ans)) {
			pctl_error("the broker's answer is not a JSON object: %s",
				   ans ? "another JSON value" : jerr.text);
			json_decref(ans);
			return NULL;
		}
		/* Answers come in request order; one for an earlier request (of a top
		 * frame given up on) is skipped. */
		aid = json_object_get(ans, "id");
		if (json_is_integer(aid) && json_integer_value(aid) != (json_int_t)id) {
			json_decref(ans);
			continue;
		}
		return ans;
	}
}

json_t *pctl_call(struct pctl *p, json_t *req)
{
	long long deadline = mono_ms() + (long long)p->timeout_s * 1000;
	unsigned id = ++p->next_id;
	json_t *ans, *result;
	char *line;
	int rc;

	json_object_set_new(req, "id", json_integer(id));
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line) {
		pctl_error("out of memory building the request");
		return NULL;
	}
	if (p->fd < 0 && pctl_connect(p) < 0) {
		free(line);
		return NULL;
	}
	rc = send_all(p, line, strlen(line));
	free(line);
	if (rc == 0)
		rc = send_all(p, "\n", 1);
	if (rc < 0)
		return NULL;
	ans = read_answer(p, id, deadline);
	if (!ans)
		return NULL;
	if (!json_is_true(json_object_get(ans, "ok"))) {
		const char *err = json_string_value(json_object_get(ans, "error"));
		const char *code = json_string_value(json_object_get(ans, "code"));

		pctl_error("%s", err ? err : code ? code : "the broker refused the request");
		json_decref(ans);
		return NULL;
	}
	result = json_object_get(ans, "result");
	result = result ? json_incref(result) : json_object();
	json_decref(ans);
	return result;
}

/* ---- commands -------------------------------------------------------------------- */

/* The command whose words start argv; *used = how many words it took. */
static const struct command *find_command(int argc, char **argv, int *used)
{
	for (const struct command *c = commands; c->words; c++) {
		const char *sp = strchr(c->words, ' ');
		size_t first = sp ? (size_t)(sp - c->words) : strlen(c->words);

		if (strlen(argv[0]) != first || strncmp(argv[0], c->words, first) != 0)
			continue;
		if (!sp) {
			*used = 1;
			return c;
		}
		if (argc > 1 && strcmp(argv[1], sp + 1) == 0) {
			*used = 2;
			return c;
		}
	}
	return NULL;
}

/* The second words of a group ("show" for "session"), or NULL if <word> is none. */
static void group_words(const char *word, char *out, size_t len)
{
	size_t n = strlen(word), at = 0;

	out[0] = '\0';
	for (const struct command *c = commands; c->words; c++) {
		if (strncmp(c->words, word, n) == 0 && c->words[n] == ' ') {
			int w = snprintf(out + at, len - at, "%s%s", at ? ", " : "",
					 c->words + n + 1);

			if (w > 0 && (size_t)w < len - at)
				at += (size_t)w;
		}
	}
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out > max ? -1 : 0;
}

/* Builds the request of <c> from its arguments; NULL after a usage error line. */
static json_t *build_request(struct pctl *p, const struct command *c, int argc,
			     char **argv)
{
	json_t *req = json_pack("{ss}", "cmd", c->cmd);
	const char *arg = NULL;
	bool options_end = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		unsigned long limit;

		if (!options_end && strcmp(a, "--") == 0) {
			options_end = true;   /* then a client id may start with '-' */
		} else if (options_end || a[0] != '-' || a[1] == '\0') {
			if (!c->arg || arg) {
				pctl_error("%s: unexpected argument '%s' (usage: petrelctl "
					   "%s %s)", c->words, a, c->words, c->synopsis);
				goto usage;
			}
			arg = a;
		} else if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
			p->json = true;
		} else if (c->limit && strcmp(a, "--limit") == 0) {
			if (parse_uint(i + 1 < argc ? argv[i + 1] : NULL, UINT32_MAX,
				       &limit) < 0) {
				pctl_error("%s: --limit needs a count (0 = all)", c->words);
				goto usage;
			}
			json_object_set_new(req, "limit", json_integer((json_int_t)limit));
			i++;
		} else {
			pctl_error("%s: unknown option '%s' (usage: petrelctl %s %s)",
				   c->words, a, c->words, c->synopsis);
			goto usage;
		}
	}
	if (c->arg_required && !arg) {
		pctl_error("%s: missing %s (usage: petrelctl %s %s)", c->words,
			   c->synopsis, c->words, c->synopsis);
		goto usage;
	}
	if (arg)
		json_object_set_new(req, c->arg, json_string(arg));
	return req;
usage:
	json_decref(req);
	return NULL;
}

static int run_command(struct pctl *p, const struct command *c, int argc, char **argv)
{
	json_t *req, *result;

	req = build_request(p, c, argc, argv);
	if (!req)
		return PCTL_USAGE;
	result = pctl_call(p, req);
	if (!result)
		return PCTL_FAILED;
	if (p->json) {
		json_dumpf(result, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
	} else {
		c->print(result);
	}
	json_decref(result);
	return PCTL_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pctl p = { .path = DEFAULT_SOCKET, .timeout_s = DEFAULT_TIMEOUT_S, .fd = -1 };
	const struct command *c;
	unsigned long t;
	int opt, used, rc;

	opterr = 0;
	/* '+': options end at the command; its own (--limit, -n) are parsed after. */
	while ((opt = getopt_long(argc, argv, "+s:jt:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			p.path = optarg;
			break;
		case 'j':
			p.json = true;
			break;
		case 't':
			if (parse_uint(optarg, 86400, &t) < 0 || t == 0) {
				pctl_error("-t needs a number of seconds (1 to 86400), not '%s'",
					   optarg);
				return PCTL_USAGE;
			}
			p.timeout_s = (unsigned)t;
			break;
		case 'h':
			usage(stdout);
			return PCTL_OK;
		default:
			if (optopt && strchr("st", optopt))
				pctl_error("option -%c needs a value (petrelctl help)", optopt);
			else
				pctl_error("unknown option '%s' (petrelctl help lists them)",
					   argv[optind - 1]);
			return PCTL_USAGE;
		}
	}
	if (optind >= argc) {
		pctl_error("no command given (petrelctl help lists them)");
		return PCTL_USAGE;
	}
	c = find_command(argc - optind, argv + optind, &used);
	if (!c) {
		char subs[128];

		group_words(argv[optind], subs, sizeof(subs));
		if (subs[0])
			pctl_error("'%s' needs one of: %s", argv[optind], subs);
		else
			pctl_error("unknown command '%s' (petrelctl help lists them)",
				   argv[optind]);
		return PCTL_USAGE;
	}
	argc -= optind + used;
	argv += optind + used;
	if (strcmp(c->words, "help") == 0) {
		usage(stdout);
		return PCTL_OK;
	}
	rc = c->cmd ? run_command(&p, c, argc, argv) : top_run(&p, argc, argv);
	pctl_close(&p);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		pctl_error("writing the output: %s", strerror(errno));
		return PCTL_FAILED;
	}
	return rc;
}
