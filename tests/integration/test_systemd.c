/* test_systemd.c - dist/petrel.service: systemd's own checker accepts it, and its
 * ExecStart line, run for real (the binary and config paths swapped for the build's
 * and a temporary config) under a NOTIFY_SOCKET this test made, speaks the Type=notify
 * protocol: READY=1 once the listener accepts MQTT connections, STOPPING=1 on
 * SIGTERM (the unit's KillSignal), then exit 0. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define UNIT_BIN "/usr/local/bin/petrel"
#define UNIT_CONF "/etc/petrel/petrel.conf"

static char tmpdir[64];
static pid_t child = -1;

static void systemd_fini(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	if (tmpdir[0] != '\0')
		harness_remove_tree(tmpdir);
}

TestSuite(systemd, .fini = systemd_fini, .timeout = 120);

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/petrel-systemd-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

/* The unit file of the source tree, whole. */
static char *unit_text(void)
{
	const char *src = getenv("PETREL_TEST_SRC");
	char path[512];
	static char text[16384];
	FILE *f;
	size_t n;

	cr_assert_not_null(src, "PETREL_TEST_SRC is not set (meson sets it)");
	snprintf(path, sizeof(path), "%s/../../dist/petrel.service", src);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* <text> with every <from> replaced by <to>, into <out>. */
static void replace_all(const char *text, const char *from, const char *to, char *out,
			size_t cap)
{
	size_t used = 0;
	const char *p = text, *at;

	while ((at = strstr(p, from)) != NULL) {
		used += (size_t)snprintf(out + used, cap - used, "%.*s%s", (int)(at - p), p, to);
		cr_assert_lt(used, cap);
		p = at + strlen(from);
	}
	used += (size_t)snprintf(out + used, cap - used, "%s", p);
	cr_assert_lt(used, cap);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
}

/* systemd-analyze verify of <text> saved as petrel.service; its output (stdout and
 * stderr) goes to <out>. Returns its exit status. */
static int verify(const char *text, char *out, size_t cap)
{
	char path[128], cmd[256];

	snprintf(path, sizeof(path), "%s/petrel.service", tmpdir);
	write_file(path, text);
	snprintf(cmd, sizeof(cmd), "systemd-analyze verify %s 2>&1", path);
	return run_cmd(cmd, 60, out, cap);
}

Test(systemd, the_unit_passes_systemd_analyze_verify)
{
	static char unit[16384], broken[16384], out[8192];
	const char *bin = getenv("PETREL_BIN");

	if (access("/usr/bin/systemd-analyze", X_OK) != 0)
		cr_skip_test("systemd-analyze is not installed (Debian: systemd)");
	cr_assert_not_null(bin);
	make_tmpdir();
	/* verify insists that ExecStart's program exists: the build's stands in for
	 * the installed one. */
	replace_all(unit_text(), UNIT_BIN, bin, unit, sizeof(unit));
	int rc = verify(unit, out, sizeof(out));
	cr_expect_eq(rc, 0, "systemd-analyze verify exit %d: %s", rc, out);
	cr_expect_eq(out[0], '\0', "systemd-analyze verify reports: %s", out);

	/* The check sees a mistake: the same unit with a misspelt type. */
	replace_all(unit, "Type=notify", "Type=notifyy", broken, sizeof(broken));
	verify(broken, out, sizeof(out));
	cr_expect_not_null(strstr(out, "notifyy"), "a broken unit passed: '%s'", out);
}

/* The unit's ExecStart line split into words (no quoting in ours). */
static int exec_start_argv(const char *text, char *buf, size_t cap, char **argv, int max)
{
	const char *line = strstr(text, "\nExecStart=");
	int n = 0;

	cr_assert_not_null(line, "no ExecStart= in the unit");
	line += strlen("\nExecStart=");
	snprintf(buf, cap, "%.*s", (int)strcspn(line, "\n"), line);
	for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		cr_assert_lt(n, max - 1);
		argv[n++] = w;
	}
	argv[n] = NULL;
	return n;
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Reads notify datagrams for <= timeout_ms until one holds <want>; every datagram
 * read is appended to <seen>. */
static bool wait_notify(int fd, const char *want, char *seen, size_t cap, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	while (now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char msg[4096];
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n <= 0)
			continue;
		msg[n] = '\0';
		snprintf(seen + strlen(seen), cap - strlen(seen), "[%s]", msg);
		if (strstr(msg, want) != NULL)
			return true;
	}
	return false;
}

Test(systemd, exec_start_notifies_ready_and_stopping)
{
	static char text[16384], line[1024], conf[4096], seen[8192];
	char conf_path[128], sock_path[96], log_path[128], *argv[16];
	const char *bin = getenv("PETREL_BIN");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint16_t port = free_port();
	bool saw_bin = false, saw_conf = false;
	int status = -1, fd, argc;

	cr_assert_not_null(bin);
	make_tmpdir();
	snprintf(text, sizeof(text), "%s", unit_text());
	argc = exec_start_argv(text, line, sizeof(line), argv, 16);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], UNIT_BIN) == 0) {
			argv[i] = (char *)(uintptr_t)bin;
			saw_bin = true;
		} else if (strcmp(argv[i], UNIT_CONF) == 0) {
			argv[i] = conf_path;
			saw_conf = true;
		}
	}
	cr_assert(saw_bin && saw_conf, "ExecStart no longer runs %s -c %s", UNIT_BIN,
		  UNIT_CONF);

	snprintf(conf_path, sizeof(conf_path), "%s/petrel.conf", tmpdir);
	snprintf(conf, sizeof(conf), "listener %u 127.0.0.1\npersistence_location %s/data\n"
		 "control_socket %s/ctl.sock\nworkers 2\n", port, tmpdir, tmpdir);
	write_file(conf_path, conf);
	snprintf(sock_path, sizeof(sock_path), "%s/notify.sock", tmpdir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s",
		     sock_path, strerror(errno));
	snprintf(log_path, sizeof(log_path), "%s/petrel.log", tmpdir);

	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(log, STDERR_FILENO);
		setenv("NOTIFY_SOCKET", sock_path, 1);
		execv(argv[0], argv);
		_exit(127);
	}

	seen[0] = '\0';
	cr_assert(wait_notify(fd, "READY=1", seen, sizeof(seen), 20000),
		  "no READY=1 within 20 s (got %s; log %s)", seen, log_path);
	/* READY=1 means serving: an MQTT client connects at once. */
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0,
		     "READY=1 but the listener refuses: %s", strerror(errno));
	cr_expect_eq(raw_mqtt_connect(c, "systemd-check"), 0);
	close(c);
	cr_expect_null(strstr(seen, "STOPPING=1"), "STOPPING=1 before SIGTERM: %s", seen);

	cr_assert_eq(kill(child, SIGTERM), 0);
	cr_expect(wait_notify(fd, "STOPPING=1", seen, sizeof(seen), 10000),
		  "no STOPPING=1 after SIGTERM (got %s)", seen);
	for (int i = 0; i < 200 && waitpid(child, &status, WNOHANG) == 0; i++)
		usleep(50000);
	cr_assert(WIFEXITED(status), "petrel did not exit on SIGTERM within 10 s");
	cr_expect_eq(WEXITSTATUS(status), 0, "exit status %d", WEXITSTATUS(status));
	child = -1;
	close(fd);
}
