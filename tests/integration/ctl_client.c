/* ctl_client.c - the real petrelctl run as a child process for the integration tests
 * (ctl_client.h): pipes for stdout and stderr read with poll until both close or the
 * time bound passes, then the exit status. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_client.h"
#include "harness.h"

#define CTL_MAX_ARGS 32
#define CTL_RUN_TIMEOUT_S 30

struct capture {
	int fd;
	char *buf;
	size_t len, cap;
};

static void capture_read(struct capture *c)
{
	ssize_t n;

	if (c->cap - c->len < 4096) {
		c->cap = c->cap ? c->cap * 2 : 65536;
		c->buf = realloc(c->buf, c->cap);
		cr_assert(c->buf, "out of memory capturing petrelctl's output");
	}
	n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
	if (n > 0) {
		c->len += (size_t)n;
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(c->fd);
		c->fd = -1;
	}
}

static void child(const char *bin, const char *const *argv, int out, int err, int uid)
{
	/* execv's argv is not const for history's sake; it does not write to it. */
	char *args[CTL_MAX_ARGS + 2] = { (char *)(uintptr_t)"petrelctl" };
	size_t n = 1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (; argv[n - 1] && n <= CTL_MAX_ARGS; n++)
		args[n] = (char *)(uintptr_t)argv[n - 1];
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	if (uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 ||
			 setuid((uid_t)uid) < 0)) {
		fprintf(stderr, "ctl_client: cannot become uid %d: %s\n", uid,
			strerror(errno));
		_exit(126);
	}
	execv(bin, args);
	fprintf(stderr, "ctl_client: cannot run %s: %s\n", bin, strerror(errno));
	_exit(127);
}

int ctl_exec(struct ctl_out *o, const char *const *argv, unsigned timeout_s, int uid)
{
	const char *bin = getenv("PETRELCTL_BIN");
	struct capture cap[2] = { { .fd = -1 }, { .fd = -1 } };
	uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
	int out[2], err[2], ws = 0;
	bool killed = false;
	pid_t pid;

	cr_assert(bin && bin[0], "PETRELCTL_BIN is not set (meson test sets it)");
	memset(o, 0, sizeof(*o));
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		child(bin, argv, out[1], err[1], uid);
	close(out[1]);
	close(err[1]);
	cap[0].fd = out[0];
	cap[1].fd = err[0];
	while (cap[0].fd >= 0 || cap[1].fd >= 0) {
		struct pollfd pfd[2] = { { .fd = cap[0].fd, .events = POLLIN },
					 { .fd = cap[1].fd, .events = POLLIN } };
		uint64_t now = now_ms();

		if (now >= deadline) {
			killed = true;
			break;
		}
		if (poll(pfd, 2, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			if (cap[i].fd >= 0 && pfd[i].revents)
				capture_read(&cap[i]);
	}
	for (int i = 0; i < 2; i++)
		if (cap[i].fd >= 0)
			close(cap[i].fd);
	/* Both pipes closed: it is exiting; give it until the deadline (plus a little). */
	while (!killed && waitpid(pid, &ws, WNOHANG) == 0) {
		if (now_ms() >= deadline + 1000) {
			killed = true;
			break;
		}
		usleep(5000);
	}
	if (killed) {
		kill(pid, SIGKILL);
		waitpid(pid, &ws, 0);
		o->status = -1;
		o->signal = 0;
	} else if (WIFEXITED(ws)) {
		o->status = WEXITSTATUS(ws);
	} else {
		o->status = -1;
		o->signal = WTERMSIG(ws);
	}
	for (int i = 0; i < 2; i++)
		if (!cap[i].buf)
			cap[i].buf = calloc(1, 1);
	cap[0].buf[cap[0].len] = '\0';
	cap[1].buf[cap[1].len] = '\0';
	o->out = cap[0].buf;
	o->out_len = cap[0].len;
	o->err = cap[1].buf;
	o->err_len = cap[1].len;
	return o->status;
}

/* argv for "-s <socket> [--json] <args...>" from a NULL-terminated va_list. */
static size_t build_argv(const char **argv, const char *socket, bool json,
			 const char *arg, va_list ap)
{
	size_t n = 0;

	if (socket) {
		argv[n++] = "-s";
		argv[n++] = socket;
	}
	if (json)
		argv[n++] = "--json";
	for (; arg; arg = va_arg(ap, const char *)) {
		cr_assert(n < CTL_MAX_ARGS, "too many petrelctl arguments");
		argv[n++] = arg;
	}
	argv[n] = NULL;
	return n;
}

int ctl_run(struct ctl_out *o, const char *socket, const char *arg, ...)
{
	const char *argv[CTL_MAX_ARGS + 1];
	va_list ap;

	va_start(ap, arg);
	build_argv(argv, socket, false, arg, ap);
	va_end(ap);
	return ctl_exec(o, argv, CTL_RUN_TIMEOUT_S, -1);
}

void ctl_out_free(struct ctl_out *o)
{
	free(o->out);
	free(o->err);
	o->out = o->err = NULL;
}

json_t *ctl_json(struct broker *b, const char *arg, ...)
{
	const char *argv[CTL_MAX_ARGS + 1];
	struct ctl_out o;
	json_error_t jerr;
	json_t *j;
	va_list ap;

	va_start(ap, arg);
	build_argv(argv, b->ctl_path, true, arg, ap);
	va_end(ap);
	ctl_exec(&o, argv, CTL_RUN_TIMEOUT_S, -1);
	if (o.status != 0 || o.err_len != 0)
		broker_dump_log(b);
	cr_assert_eq(o.status, 0, "petrelctl --json %s: exit %d, stderr: %s", arg, o.status,
		     o.err);
	cr_assert_eq(o.err_len, 0, "petrelctl --json %s wrote to stderr: %s", arg, o.err);
	j = json_loads(o.out, 0, &jerr);
	cr_assert(j, "petrelctl --json %s: not JSON (%s at line %d): %s", arg, jerr.text,
		  jerr.line, o.out);
	ctl_out_free(&o);
	return j;
}

json_int_t ctl_int(json_t *o, const char *path)
{
	char key[64];
	const char *p = path;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		cr_assert(n < sizeof(key));
		memcpy(key, p, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		cr_assert(o, "no member '%s' in the result (looking for %s)", key, path);
		p += n + (dot != NULL);
	}
	cr_assert(json_is_integer(o), "%s is not an integer", path);
	return json_integer_value(o);
}

json_int_t ctl_wait_status(struct broker *b, const char *path, json_int_t want,
			   int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	json_int_t v;

	for (;;) {
		json_t *st = ctl_json(b, "status", NULL);

		v = ctl_int(st, path);
		json_decref(st);
		if (v == want || now_ms() >= deadline)
			return v;
		usleep(50 * 1000);
	}
}

unsigned ctl_count(const char *hay, const char *needle)
{
	unsigned n = 0;
	size_t len = strlen(needle);

	for (const char *p = hay; len && (p = strstr(p, needle)); p += len)
		n++;
	return n;
}
