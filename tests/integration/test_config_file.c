/* test_config_file.c - the petrel binary with real configuration files: Debian's stock
 * /etc/mosquitto/mosquitto.conf (installed by the mosquitto package), pid_file,
 * log_dest file, include_dir, and a file with several bad lines. */
#include "harness.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(config_file, .fini = harness_fini, .timeout = 60);

#define STOCK_CONF "/etc/mosquitto/mosquitto.conf"

static void read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "cannot read %s: %s", path, strerror(errno));
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Replaces the first <from> in <s> (capacity <cap>) by <to>; asserts it was there. */
static void replace(char *s, size_t cap, const char *from, const char *to)
{
	char *at = strstr(s, from);
	size_t tail;

	cr_assert_not_null(at, "'%s' not found in the stock file", from);
	tail = strlen(at + strlen(from));
	cr_assert_lt(strlen(s) - strlen(from) + strlen(to), cap);
	memmove(at + strlen(to), at + strlen(from), tail + 1);
	memcpy(at, to, strlen(to));
}

/* Waits (<= 10 s) until the file <path> holds <needle>. In kernel mode the listener
 * accepts (the harness's readiness) before the pid file and the "listening on" line
 * are written; under ASan that gap is long enough to see. */
static bool file_has(const char *path, const char *needle)
{
	char text[8192];

	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(path, "r");

		if (f != NULL) {
			size_t n = fread(text, 1, sizeof(text) - 1, f);

			fclose(f);
			text[n] = '\0';
			if (strstr(text, needle) != NULL)
				return true;
		}
		usleep(10000);
	}
	return false;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

Test(config_file, debian_stock_mosquitto_conf_runs)
{
	char dir[] = "/tmp/petrel-stock-XXXXXX";
	char conf[4096];
	char path[3][256];
	char text[8192];
	struct broker b;

	if (access(STOCK_CONF, R_OK) != 0)
		cr_skip_test("%s not installed (Debian package mosquitto)", STOCK_CONF);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path[0], sizeof(path[0]), "%s/mosquitto.pid", dir);
	snprintf(path[1], sizeof(path[1]), "%s/mosquitto.log", dir);
	snprintf(path[2], sizeof(path[2]), "%s/store", dir);
	/* The stock file with what a test cannot use changed: the pid, log and store
	 * paths (root's /run, /var/log and /var/lib) point into a temporary directory.
	 * persistence true and include_dir /etc/mosquitto/conf.d stay. The harness puts
	 * its listener line first (the stock file has none) and its own
	 * persistence_location, which the file's line overrides. */
	read_file(STOCK_CONF, conf, sizeof(conf));
	replace(conf, sizeof(conf), "/run/mosquitto/mosquitto.pid", path[0]);
	replace(conf, sizeof(conf), "/var/lib/mosquitto/", path[2]);
	replace(conf, sizeof(conf), "/var/log/mosquitto/mosquitto.log", path[1]);

	struct broker_opts o = { .workers = 1, .extra_config = conf };

	broker_start_opts(&b, &o);
	cr_assert(file_has(path[1], "listening on 127.0.0.1"), "no 'listening on' in %s",
		  path[1]);
	read_file(path[0], text, sizeof(text));
	cr_assert_eq(atol(text), (long)b.pid, "pid_file holds '%s', broker is %d", text,
		     (int)b.pid);
	struct client *c = connected_client(&b, "stock", true);

	client_close(c);
	read_file(path[1], text, sizeof(text));
	cr_assert_not_null(strstr(text, "listening on 127.0.0.1"), "log file:\n%s", text);
	/* log_dest file alone: nothing on stderr. */
	cr_assert_not(broker_log_contains(&b, "listening on"),
		      "log_dest file alone must not also log to stderr");
	broker_stop_clean(&b);
	cr_assert_neq(access(path[0], F_OK), 0, "pid_file must be removed at exit");
	read_file(path[1], text, sizeof(text));
	cr_assert_not_null(strstr(text, "stopped"), "log file:\n%s", text);
	/* persistence true: the store is where the file's persistence_location says. */
	snprintf(text, sizeof(text), "%s/data.mdb", path[2]);
	cr_assert_eq(access(text, F_OK), 0, "no store at %s", text);
	harness_remove_tree(dir);
}

Test(config_file, log_dest_file_appends_and_stderr_adds_up)
{
	char dir[] = "/tmp/petrel-logdest-XXXXXX";
	char log[256];
	char extra[512];
	char text[16384];
	struct broker b;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/petrel.log", dir);
	f = fopen(log, "w");
	cr_assert_not_null(f);
	fputs("earlier line\n", f);
	fclose(f);
	snprintf(extra, sizeof(extra), "log_dest file %s\nlog_dest stderr\n", log);

	struct broker_opts o = { .workers = 1, .extra_config = extra };

	broker_start_opts(&b, &o);
	cr_assert(file_has(log, "listening on"), "no 'listening on' in %s", log);
	broker_stop_clean(&b);
	read_file(log, text, sizeof(text));
	cr_assert_eq(strncmp(text, "earlier line\n", 13), 0, "appended, as mosquitto: %s",
		     text);
	cr_assert_not_null(strstr(text, "listening on"));
	unlink(log);
	rmdir(dir);
}

Test(config_file, every_bad_line_is_reported_one_per_line)
{
	char dir[] = "/tmp/petrel-badconf-XXXXXX";
	char conf[256];
	char cmd[512];
	char out[4096];
	FILE *f;
	int st;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fputs("password_file /etc/mosquitto/pw\nlistener 1883 127.0.0.1\ncafile /x\n"
	      "persistence_sync sometimes\nworkers many\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' -c %s 2>&1", getenv("PETREL_BIN"), conf);
	st = run_cmd(cmd, 20, out, sizeof(out));
	cr_assert_eq(st, 1, "exit %d:\n%s", st, out);
	cr_assert_eq(count_lines(out), 4, "four bad lines, four lines:\n%s", out);
	cr_assert_not_null(strstr(out, ":1: 'password_file'"), "%s", out);
	cr_assert_not_null(strstr(out, ":3: 'cafile'"), "%s", out);
	cr_assert_not_null(strstr(out, ":4: 'persistence_sync' expects always, never or a "
				  "number of milliseconds"), "%s", out);
	cr_assert_not_null(strstr(out, ":5: 'workers' expects a whole number"), "%s", out);
	unlink(conf);
	rmdir(dir);
}

Test(config_file, keys_option_lists_every_documented_key_with_its_default)
{
	char cmd[512];
	char out[16384];
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' --keys", getenv("PETREL_BIN"));
	st = run_cmd(cmd, 20, out, sizeof(out));
	cr_assert_eq(st, 0, "exit %d", st);
	/* A few rows; test_config.c checks the whole table against the docs. */
	cr_assert_not_null(strstr(out, "\nworkers "), "%s", out);
	cr_assert_not_null(strstr(out, "max_inflight_messages        20 "), "%s", out);
	cr_assert_not_null(strstr(out, "queue_full_policy            backpressure "), "%s",
			   out);
	cr_assert_not_null(strstr(out, "include_dir                  - "), "%s", out);
	cr_assert_not_null(strstr(out, "\npersistence                  true "), "%s", out);
	cr_assert_not_null(strstr(out, "\npersistence_sync             always "), "%s", out);
}
