/* test_config.c - config.c (defaults, every key, every error, real files) and the
 * parts of log.c that config relies on (level names, line format). Drives the real
 * modules; files are real temporary files. */

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petrel/config.h"
#include "unit_util.h"
#include "petrel/log.h"

/* Loads <text> as a config file over <c>; <path> receives the file name used. */
static int load_text(struct config *c, const char *text, char *err, size_t errlen,
		     char *path, size_t pathlen)
{
	int rc;

	unit_write_temp(text, path, pathlen);
	rc = config_load_file(c, path, err, errlen);
	unlink(path);
	return rc;
}

/* As load_text, on fresh defaults, when the path does not matter. */
static int load(struct config *c, const char *text, char *err, size_t errlen)
{
	char path[64];

	config_defaults(c);
	return load_text(c, text, err, errlen, path, sizeof(path));
}

/* Expects <text> to fail to load with a message containing <needle>. */
static void expect_load_error(const char *text, const char *needle)
{
	struct config c;
	char err[512] = "";
	int rc = load(&c, text, err, sizeof(err));

	cr_assert_lt(rc, 0, "'%s' loaded but should not", text);
	cr_assert_not_null(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
}

/* Expects config_set(key, value) to fail with a message containing <needle>. */
static void expect_set_error(const char *key, const char *value, const char *needle)
{
	struct config c;
	char err[512] = "";

	config_defaults(&c);
	cr_assert_lt(config_set(&c, key, value, err, sizeof(err)), 0,
		     "'%s %s' accepted but should not be", key, value ? value : "(null)");
	cr_assert_not_null(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
}

static void set_ok(struct config *c, const char *key, const char *value)
{
	char err[512] = "";
	int rc = config_set(c, key, value, err, sizeof(err));

	cr_assert_eq(rc, 0, "'%s %s': %s", key, value, err);
}

/* ---- defaults ------------------------------------------------------------------- */

Test(config, defaults_are_the_documented_ones)
{
	struct config c;

	config_defaults(&c);
	cr_assert_str_eq(c.bind_address, "127.0.0.1");
	cr_assert_eq(c.port, 1883);
	cr_assert_eq(c.workers, 0);
	cr_assert(c.allow_anonymous);
	cr_assert(c.allow_zero_length_clientid);
	cr_assert_str_eq(c.auto_id_prefix, "auto-");
	cr_assert_eq(c.max_inflight_messages, 20);
	cr_assert_eq(c.max_queued_messages, 1000);
	cr_assert_eq(c.max_queued_bytes, 0);
	cr_assert_eq(c.queue_full_policy, QUEUE_FULL_BACKPRESSURE);
	cr_assert_not(c.queue_qos0_messages);
	cr_assert_eq(c.max_packet_size, 0);
	cr_assert_eq(c.max_connections, -1);
	cr_assert_eq(c.max_keepalive, 0);
	cr_assert_eq(c.connect_timeout, 10);
	cr_assert_eq(c.max_outgoing_bytes, 1024 * 1024);
	cr_assert(c.retain_available);
	cr_assert_eq(c.max_subscriptions_per_client, 10000);
	cr_assert_eq(c.max_filters_per_subscribe, 1000);
	cr_assert(c.persistence);
	cr_assert_str_eq(c.persistence_location, "./data");
	cr_assert_eq(c.persistence_sync, PERSIST_SYNC_ALWAYS);
	cr_assert_eq(c.persistent_client_expiration_ms, 0);
	cr_assert_eq(c.persistence_max_parked_bytes, 65536);
	cr_assert_eq(c.persistence_max_pending_bytes, 256u << 20);
	cr_assert_eq(c.persistence_max_size, 64ull << 30);
	cr_assert_eq(c.log_level, LOG_NOTICE);
}

Test(config, defaults_finalize_cleanly)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
}

/* ---- each key ------------------------------------------------------------------- */

Test(config, listener_takes_port_then_address)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "listener", "8883 ::1");
	cr_assert_eq(c.port, 8883);
	cr_assert_str_eq(c.bind_address, "::1");
	set_ok(&c, "listener", "  1884\t 10.1.2.3  ");
	cr_assert_eq(c.port, 1884);
	cr_assert_str_eq(c.bind_address, "10.1.2.3");
}

Test(config, listener_without_address_listens_everywhere_like_mosquitto)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "listener", "1999");
	cr_assert_eq(c.port, 1999);
	cr_assert_str_eq(c.bind_address, "0.0.0.0");
}

Test(config, port_alias_changes_only_the_port)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "port", "2000");
	cr_assert_eq(c.port, 2000);
	cr_assert_str_eq(c.bind_address, "127.0.0.1");
}

Test(config, port_zero_is_for_the_command_line_only)
{
	struct config c;
	char err[512] = "";

	config_defaults(&c);
	set_ok(&c, "port", "0");	/* -p 0: any free port, used by tests */
	cr_assert_eq(c.port, 0);
	set_ok(&c, "listener", "0 127.0.0.1");
	cr_assert_eq(c.port, 0);

	cr_assert_lt(load(&c, "port 0\n", err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, ":1: 'port': port must be from 1 to 65535"), "%s", err);
	cr_assert_lt(load(&c, "listener 0\n", err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "from 1 to 65535"), "%s", err);
}

Test(config, bind_address_accepts_ipv4_and_ipv6_literals)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "bind_address", "0.0.0.0");
	cr_assert_str_eq(c.bind_address, "0.0.0.0");
	set_ok(&c, "bind_address", "fe80::1");
	cr_assert_str_eq(c.bind_address, "fe80::1");
	cr_assert_eq(c.port, 1883);
}

Test(config, numeric_keys)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "workers", "4");
	cr_assert_eq(c.workers, 4);
	set_ok(&c, "max_inflight_messages", "65535");
	cr_assert_eq(c.max_inflight_messages, 65535);
	set_ok(&c, "max_queued_messages", "0");
	cr_assert_eq(c.max_queued_messages, 0);
	set_ok(&c, "max_queued_messages", "4294967295");
	cr_assert_eq(c.max_queued_messages, UINT_MAX);
	set_ok(&c, "max_queued_bytes", "1048576");
	cr_assert_eq(c.max_queued_bytes, 1048576);
	set_ok(&c, "max_packet_size", "268435460");
	cr_assert_eq(c.max_packet_size, 268435460);
	set_ok(&c, "max_packet_size", "0");
	cr_assert_eq(c.max_packet_size, 0);
	set_ok(&c, "max_connections", "-1");
	cr_assert_eq(c.max_connections, -1);
	set_ok(&c, "max_connections", "5000");
	cr_assert_eq(c.max_connections, 5000);
	set_ok(&c, "max_keepalive", "65535");
	cr_assert_eq(c.max_keepalive, 65535);
	set_ok(&c, "connect_timeout", "30");
	cr_assert_eq(c.connect_timeout, 30);
	set_ok(&c, "max_outgoing_bytes", "65536");
	cr_assert_eq(c.max_outgoing_bytes, 65536);
	set_ok(&c, "max_subscriptions_per_client", "100000");
	cr_assert_eq(c.max_subscriptions_per_client, 100000);
	set_ok(&c, "max_filters_per_subscribe", "1");
	cr_assert_eq(c.max_filters_per_subscribe, 1);
	set_ok(&c, "memory_limit", "0");
	cr_assert_eq(c.memory_limit, 0);
	set_ok(&c, "memory_limit", "1073741824");
	cr_assert_eq(c.memory_limit, 1073741824);
}

Test(config, memory_limit_defaults_to_half_the_ram)
{
	struct config c;
	char err[256];
	size_t ram = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);

	config_defaults(&c);
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.memory_limit, ram / 2);
	config_defaults(&c);
	set_ok(&c, "memory_limit", "0");
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.memory_limit, 0, "0 stays 0: no limit, as in mosquitto");
}

Test(config, boolean_keys_take_true_and_false)
{
	static const char *const keys[] = {
		"allow_anonymous", "allow_zero_length_clientid", "queue_qos0_messages",
		"retain_available",
	};
	struct config c;

	config_defaults(&c);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		set_ok(&c, keys[i], "true");
		set_ok(&c, keys[i], "false");
	}
	cr_assert_not(c.allow_anonymous);
	cr_assert_not(c.allow_zero_length_clientid);
	cr_assert_not(c.retain_available);
	set_ok(&c, "queue_qos0_messages", "true");
	cr_assert(c.queue_qos0_messages);
	set_ok(&c, "persistence", "false");
	cr_assert_not(c.persistence);
}

Test(config, string_keys)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "auto_id_prefix", "gen-");
	cr_assert_str_eq(c.auto_id_prefix, "gen-");
	/* A path may contain spaces, as in mosquitto; outer blanks are not part of it. */
	set_ok(&c, "persistence_location", "  /var/lib/petrel data/ ");
	cr_assert_str_eq(c.persistence_location, "/var/lib/petrel data/");
}

Test(config, queue_full_policy_names)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "queue_full_policy", "drop_oldest");
	cr_assert_eq(c.queue_full_policy, QUEUE_FULL_DROP_OLDEST);
	set_ok(&c, "queue_full_policy", "backpressure");
	cr_assert_eq(c.queue_full_policy, QUEUE_FULL_BACKPRESSURE);
	set_ok(&c, "queue_full_policy", "drop_new");
	cr_assert_eq(c.queue_full_policy, QUEUE_FULL_DROP_NEW);
	cr_assert_str_eq(queue_full_policy_name(QUEUE_FULL_DROP_NEW), "drop_new");
	cr_assert_str_eq(queue_full_policy_name(QUEUE_FULL_DROP_OLDEST), "drop_oldest");
	cr_assert_str_eq(queue_full_policy_name(QUEUE_FULL_BACKPRESSURE), "backpressure");
	expect_set_error("queue_full_policy", "drop", "drop_new, drop_oldest or backpressure");
}

/* Flow control keys (docs/configuration.md "Flow control"): defaults and ranges. */
Test(config, flow_control_keys)
{
	struct config c;

	config_defaults(&c);
	cr_assert_eq(c.backpressure_timeout, 2000);
	cr_assert_eq(c.slow_subscriber_policy, SLOW_DROP_NEW);
	cr_assert_eq(c.max_held_input_bytes, 1024 * 1024);
	cr_assert_eq(c.max_outgoing_control_bytes, 1024 * 1024);
	set_ok(&c, "backpressure_timeout", "300");
	cr_assert_eq(c.backpressure_timeout, 300);
	set_ok(&c, "slow_subscriber_policy", "disconnect");
	cr_assert_eq(c.slow_subscriber_policy, SLOW_DISCONNECT);
	set_ok(&c, "slow_subscriber_policy", "drop_oldest");
	cr_assert_eq(c.slow_subscriber_policy, SLOW_DROP_OLDEST);
	set_ok(&c, "max_held_input_bytes", "4096");
	cr_assert_eq(c.max_held_input_bytes, 4096);
	set_ok(&c, "max_outgoing_control_bytes", "65536");
	cr_assert_eq(c.max_outgoing_control_bytes, 65536);
	cr_assert_str_eq(slow_policy_name(SLOW_DISCONNECT), "disconnect");
	expect_set_error("backpressure_timeout", "0", "from 1");
	expect_set_error("backpressure_timeout", "3600001", "3600000");
	expect_set_error("slow_subscriber_policy", "drop", "drop_new, drop_oldest or disconnect");
	expect_set_error("max_held_input_bytes", "0", "from 1");
	/* Held bytes are counted in 32 bits per connection (struct mqtt_conn). */
	set_ok(&c, "max_held_input_bytes", "1073741824");
	cr_assert_eq(c.max_held_input_bytes, (size_t)1 << 30);
	expect_set_error("max_held_input_bytes", "1073741825", "1073741824");
	expect_set_error("max_outgoing_control_bytes", "0", "from 1");
}

Test(config, log_level_sets_one_level)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "log_level", "debug");
	cr_assert_eq(c.log_level, LOG_DEBUG);
	set_ok(&c, "log_level", "info");
	cr_assert_eq(c.log_level, LOG_INFO);
	set_ok(&c, "log_level", "error");
	cr_assert_eq(c.log_level, LOG_ERR);
	expect_set_error("log_level", "all", "'log_level' expects one of");
}

Test(config, log_type_lines_in_a_file_take_the_most_verbose)
{
	struct config c;
	char err[512] = "";

	cr_assert_eq(load(&c, "log_type error\nlog_type information\nlog_type warning\n",
			  err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.log_level, LOG_INFO);
	cr_assert_eq(load(&c, "log_type error\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.log_level, LOG_ERR);
	cr_assert_eq(load(&c, "log_type none\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.log_level, LOG_ERR);	/* errors are always printed */
	cr_assert_eq(load(&c, "log_type notice\nlog_type all\n", err, sizeof(err)), 0);
	cr_assert_eq(c.log_level, LOG_DEBUG);
	/* log_level is explicit and wins whatever the order. */
	cr_assert_eq(load(&c, "log_level warning\nlog_type debug\n", err, sizeof(err)), 0);
	cr_assert_eq(c.log_level, LOG_WARN);
	expect_load_error("log_type info\n", "'log_type' expects one of");
	expect_load_error("log_type subscribe\n", "'log_type' expects one of");
}

Test(config, log_type_from_the_command_line_sets_the_level)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "log_type", "debug");
	cr_assert_eq(c.log_level, LOG_DEBUG);
	set_ok(&c, "log_type", "warning");
	cr_assert_eq(c.log_level, LOG_WARN);
}

Test(config, log_dest_stderr_and_file_as_in_mosquitto)
{
	struct config c;
	char err[512] = "";

	config_defaults(&c);
	cr_assert(c.log_stderr);
	cr_assert_str_eq(c.log_file, "");
	cr_assert_eq(load(&c, "log_dest stderr\n", err, sizeof(err)), 0, "%s", err);
	cr_assert(c.log_stderr);
	/* The first log_dest of a file replaces the default: a file alone means the
	 * file only; the lines add up. A path may contain spaces. */
	cr_assert_eq(load(&c, "log_dest file /var/log/petrel x.log \n", err, sizeof(err)),
		     0, "%s", err);
	cr_assert_not(c.log_stderr);
	cr_assert_str_eq(c.log_file, "/var/log/petrel x.log");
	cr_assert_eq(load(&c, "log_dest file /tmp/a.log\nlog_dest stderr\n", err,
			  sizeof(err)), 0, "%s", err);
	cr_assert(c.log_stderr);
	cr_assert_str_eq(c.log_file, "/tmp/a.log");
	expect_load_error("log_dest syslog\n",
			  ":1: 'log_dest syslog' is a mosquitto option Petrel does not support yet");
	expect_load_error("log_dest file\n", "'log_dest file' needs a path");
	expect_load_error("log_dest file /a\nlog_dest file /b\n", ":2: a second 'log_dest file'");
	expect_load_error("log_dest stderr now\n", "takes no value");
}

Test(config, persistence_is_on_by_default_and_can_be_turned_off)
{
	struct config c;
	char err[512] = "";

	cr_assert_eq(load(&c, "persistence true\n", err, sizeof(err)), 0, "%s", err);
	cr_assert(c.persistence);
	cr_assert_eq(load(&c, "persistence false\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_not(c.persistence);
	expect_load_error("persistence on\n", "'persistence' expects true or false, got 'on'");
}

Test(config, persistence_sync_takes_always_never_or_milliseconds)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	set_ok(&c, "persistence_sync", "100");
	cr_assert_eq(c.persistence_sync, PERSIST_SYNC_INTERVAL);
	cr_assert_eq(c.persistence_sync_ms, 100);
	set_ok(&c, "persistence_sync", "never");
	cr_assert_eq(c.persistence_sync, PERSIST_SYNC_NEVER);
	set_ok(&c, "persistence_sync", "1");
	cr_assert_eq(c.persistence_sync_ms, 1);
	set_ok(&c, "persistence_sync", "86400000");
	cr_assert_eq(c.persistence_sync_ms, 86400000);
	set_ok(&c, "persistence_sync", "always");
	cr_assert_eq(c.persistence_sync, PERSIST_SYNC_ALWAYS);
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
	expect_load_error("persistence_sync 0\n", ":1: 'persistence_sync' expects always, "
			  "never or a number of milliseconds from 1 to 86400000, got '0'");
	expect_load_error("persistence_sync 86400001\n", "got '86400001'");
	expect_load_error("persistence_sync sometimes\n", "got 'sometimes'");
	expect_load_error("persistence_sync 100ms\n", "got '100ms'");
	expect_load_error("persistence_sync -5\n", "got '-5'");
	expect_load_error("persistence_sync\n", "'persistence_sync' needs a value");
	expect_load_error("persistence_sync always never\n", "but 'never' follows it");
	/* A refused value leaves the previous setting. */
	config_defaults(&c);
	set_ok(&c, "persistence_sync", "250");
	cr_assert_lt(config_set(&c, "persistence_sync", "x", err, sizeof(err)), 0);
	cr_assert_eq(c.persistence_sync, PERSIST_SYNC_INTERVAL);
	cr_assert_eq(c.persistence_sync_ms, 250);
}

Test(config, persistent_client_expiration_takes_mosquittos_units_and_seconds)
{
	static const struct { const char *v; uint64_t ms; } ok[] = {
		{ "1s", 1000 }, { "90s", 90000 }, { "2h", 2 * 3600000ull },
		{ "14d", 14 * 86400000ull }, { "1w", 7 * 86400000ull },
		{ "2m", 60 * 86400000ull }, { "1y", 365 * 86400000ull },
		{ "100y", 36500 * 86400000ull },
	};
	struct config c;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		config_defaults(&c);
		set_ok(&c, "persistent_client_expiration", ok[i].v);
		cr_assert_eq(c.persistent_client_expiration_ms, ok[i].ms, "%s", ok[i].v);
	}
	expect_load_error("persistent_client_expiration 14\n",
			  ":1: 'persistent_client_expiration' expects a number followed by "
			  "s, h, d, w, m (30 days) or y (365 days)");
	expect_load_error("persistent_client_expiration 3x\n", "got '3x'");
	expect_load_error("persistent_client_expiration d\n", "got 'd'");
	expect_load_error("persistent_client_expiration 10ms\n", "got '10m'");
	expect_load_error("persistent_client_expiration 0d\n", "from 1 before the unit, got '0'");
	expect_load_error("persistent_client_expiration -1d\n", "got '-1'");
	expect_load_error("persistent_client_expiration 1.5d\n", "got '1.5'");
	expect_load_error("persistent_client_expiration 101y\n", "at most 100 years, got '101y'");
	expect_load_error("persistent_client_expiration 99999999999999999999s\n",
			  "at most 100 years");
	expect_load_error("persistent_client_expiration\n", "needs a value");
}

Test(config, persistence_bounds_are_sizes)
{
	struct config c;
	char err[256] = "";
	long page = sysconf(_SC_PAGESIZE);

	config_defaults(&c);
	set_ok(&c, "persistence_max_parked_bytes", "1");
	cr_assert_eq(c.persistence_max_parked_bytes, 1);
	set_ok(&c, "persistence_max_pending_bytes", "4096");
	cr_assert_eq(c.persistence_max_pending_bytes, 4096);
	set_ok(&c, "persistence_max_size", "1048577");
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
	/* Rounded up to a whole page for LMDB. */
	cr_assert_eq(c.persistence_max_size, (size_t)((1048576 / page + 1) * page));
	expect_load_error("persistence_max_parked_bytes 0\n", "must be from 1");
	expect_load_error("persistence_max_pending_bytes 0\n", "must be from 1");
	expect_load_error("persistence_max_pending_bytes 1M\n", "expects a number of bytes");
	expect_load_error("persistence_max_size 1048575\n",
			  "'persistence_max_size' must be from 1048576 to 1125899906842624");
	expect_load_error("persistence_max_size 1125899906842625\n", "must be from 1048576");
}

Test(config, every_bad_line_of_a_file_is_reported)
{
	struct config c;
	char path[64];
	char want[1024];
	char err[1024] = "";

	config_defaults(&c);
	cr_assert_eq(load_text(&c, "password_file /etc/p\nworkers 2\nbogus 1\n"
			       "persistence yes\nmax_connections x\n", err, sizeof(err),
			       path, sizeof(path)), -ENOENT);
	snprintf(want, sizeof(want),
		 "%s:1: 'password_file' is a mosquitto option Petrel does not support yet\n"
		 "%s:3: unknown option 'bogus'\n"
		 "%s:4: 'persistence' expects true or false, got 'yes'", path, path, path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "got:\n%s", err);
	cr_assert_not_null(strstr(err, ":5: 'max_connections' expects a whole number"), "%s",
			   err);
	/* The good lines between them still applied. */
	cr_assert_eq(c.workers, 2);
}

Test(config, too_many_errors_for_the_buffer_are_counted)
{
	struct config c;
	char text[2048] = "";
	char err[200] = "";

	for (int i = 0; i < 40; i++)
		strcat(text, "bogus 1\n");
	cr_assert_eq(load(&c, text, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "more errors)"), "%s", err);
}

Test(config, pid_file_takes_a_path)
{
	struct config c;
	char err[512] = "";

	cr_assert_eq(load(&c, "pid_file /run/petrel/petrel.pid\n", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_str_eq(c.pid_file, "/run/petrel/petrel.pid");
	expect_load_error("pid_file\n", "'pid_file' needs a value");
}

/* A directory of files for include_dir; returns its path in <dir>. */
static void make_include_dir(char *dir, size_t cap)
{
	static const struct { const char *name, *text; } files[] = {
		{ "b.conf", "workers 2\nmax_keepalive 30\n" },
		{ "a.conf", "workers 1\n" },
		{ "B.conf", "workers 9\nmax_keepalive 20\n" },   /* capitals sort first */
		{ "c.conf.off", "bogus 1\n" },                   /* not *.conf: skipped */
		{ "notes.txt", "bogus 1\n" },
	};
	char path[256];

	snprintf(dir, cap, "%s", "/tmp/petrel-test-incl-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(files[i].text, f);
		fclose(f);
	}
}

static void remove_include_dir(const char *dir)
{
	static const char *const names[] = { "b.conf", "a.conf", "B.conf", "c.conf.off",
					     "notes.txt", "z.conf" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

Test(config, include_dir_reads_its_conf_files_in_sorted_order)
{
	struct config c;
	char dir[64];
	char text[128];
	char err[512] = "";

	make_include_dir(dir, sizeof(dir));
	/* B.conf, a.conf, b.conf: the last workers line is b.conf's. Lines after
	 * include_dir come after the included files. */
	snprintf(text, sizeof(text), "max_keepalive 10\ninclude_dir %s\nconnect_timeout 7\n",
		 dir);
	cr_assert_eq(load(&c, text, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.workers, 2);
	cr_assert_eq(c.max_keepalive, 30);
	cr_assert_eq(c.connect_timeout, 7);

	/* A bad line in an included file is reported with that file's name. */
	char bad[128];
	FILE *f;

	snprintf(bad, sizeof(bad), "%s/z.conf", dir);
	f = fopen(bad, "w");
	cr_assert_not_null(f);
	fprintf(f, "workers 3\nnope 1\ninclude_dir %s\n", dir);
	fclose(f);
	cr_assert_eq(load(&c, text, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, "z.conf:2: unknown option 'nope'"), "%s", err);
	cr_assert_not_null(strstr(err, "z.conf:3: 'include_dir' is only read in the main"),
			   "%s", err);
	remove_include_dir(dir);
	expect_load_error("include_dir /nonexistent/petrel.d\n",
			  ":1: 'include_dir /nonexistent/petrel.d': No such file or directory");
}

/* Debian's stock file (the mosquitto package installs it): pid_file, persistence
 * true, persistence_location, log_dest file and include_dir: all of it loads. */
Test(config, debian_stock_mosquitto_conf_loads)
{
	static const char stock[] = "/etc/mosquitto/mosquitto.conf";
	struct config c;
	char err[2048] = "";

	if (access(stock, R_OK) != 0)
		cr_skip_test("%s not installed (Debian package mosquitto)", stock);
	config_defaults(&c);
	cr_assert_eq(config_load_file(&c, stock, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.persistence);
	cr_assert_str_eq(c.persistence_location, "/var/lib/mosquitto/");
	cr_assert_str_eq(c.pid_file, "/run/mosquitto/mosquitto.pid");
	cr_assert_str_eq(c.log_file, "/var/log/mosquitto/mosquitto.log");
	cr_assert_not(c.log_stderr);
}

/* ---- errors --------------------------------------------------------------------- */

Test(config, unknown_key_names_file_and_line)
{
	struct config c;
	char path[64];
	char want[160];
	char err[512] = "";

	config_defaults(&c);
	cr_assert_eq(load_text(&c, "# comment\nport 1883\n\nfoo bar\n", err, sizeof(err),
			       path, sizeof(path)), -ENOENT);
	snprintf(want, sizeof(want), "%s:4: unknown option 'foo'", path);
	cr_assert_str_eq(err, want);
}

Test(config, unknown_key_from_config_set_is_enoent)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	cr_assert_eq(config_set(&c, "bogus", "1", err, sizeof(err)), -ENOENT);
	cr_assert_str_eq(err, "unknown option 'bogus'");
}

Test(config, unsupported_mosquitto_keys_are_refused_by_name)
{
	static const char *const keys[] = {
		"password_file", "acl_file", "cafile", "certfile", "keyfile",
		"require_certificate", "connection", "user", "plugin",
		"plugin_opt_foo", "auth_opt_db", "message_size_limit", "tls_version",
	};
	struct config c;
	char path[64];
	char want[200];
	char text[128];
	char err[512];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		config_defaults(&c);
		snprintf(text, sizeof(text), "port 1883\n%s /etc/x\n", keys[i]);
		err[0] = '\0';
		cr_assert_lt(load_text(&c, text, err, sizeof(err), path, sizeof(path)), 0);
		snprintf(want, sizeof(want),
			 "%s:2: '%s' is a mosquitto option Petrel does not support yet",
			 path, keys[i]);
		cr_assert_str_eq(err, want);
	}
}

Test(config, bad_numbers_are_refused)
{
	expect_load_error("workers four\n", ":1: 'workers' expects a whole number, got 'four'");
	expect_load_error("workers 4x\n", "got '4x'");
	expect_load_error("workers 0x4\n", "got '0x4'");
	expect_load_error("workers +4\n", "got '+4'");
	expect_load_error("max_queued_bytes 10k\n", "'max_queued_bytes' expects a number of bytes, got '10k'");
	expect_load_error("max_queued_bytes -1\n", "got '-1'");
	expect_load_error("max_packet_size 1e6\n", "got '1e6'");
	expect_load_error("port 18x3\n", "'port' expects a port number, got '18x3'");
	expect_load_error("listener abc\n", "'listener' expects a port number");
	expect_set_error("max_inflight_messages", "", "needs a value");
}

Test(config, out_of_range_numbers_are_refused)
{
	expect_load_error("port 65536\n", "port must be from 1 to 65535, got '65536'");
	expect_load_error("listener 70000 127.0.0.1\n", "from 1 to 65535");
	expect_load_error("max_inflight_messages 65536\n", "must be from 0 to 65535");
	expect_load_error("max_keepalive 65536\n", "must be from 0 to 65535");
	expect_load_error("max_queued_messages 4294967296\n", "must be from 0 to 4294967295");
	expect_load_error("max_queued_messages -1\n", "must be from 0 to");
	expect_load_error("max_connections -2\n", "must be from -1 to");
	expect_load_error("max_connections 0\n", "use -1 for no limit");
	expect_load_error("connect_timeout 0\n", "must be from 1 to 3600");
	expect_load_error("max_packet_size 268435461\n", "268435461");
	expect_load_error("max_packet_size 10\n", "or from 20 to 268435460 bytes");
	expect_load_error("max_outgoing_bytes 0\n", "must be from 1");
	/* Subscriptions are always bounded: no 0 = unlimited (issue 6). */
	expect_load_error("max_subscriptions_per_client 0\n", "must be from 1");
	expect_load_error("max_filters_per_subscribe 0\n", "must be from 1");
	expect_load_error("max_filters_per_subscribe -1\n", "must be from 1");
	expect_load_error("workers 100000\n", "must be from 0 to 1024");
	expect_load_error("workers 99999999999999999999999\n", "must be from 0 to 1024");
}

Test(config, bad_booleans_are_refused)
{
	expect_load_error("allow_anonymous yes\n",
			  ":1: 'allow_anonymous' expects true or false, got 'yes'");
	expect_load_error("retain_available 1\n", "expects true or false, got '1'");
	expect_load_error("persistence TRUE\n", "expects true or false, got 'TRUE'");
	expect_load_error("autosave_on_changes yes\n", "expects true or false, got 'yes'");
}

Test(config, missing_values_are_refused)
{
	expect_load_error("workers\n", ":1: 'workers' needs a value");
	expect_load_error("allow_anonymous   \n", "'allow_anonymous' needs a value");
	expect_load_error("listener\n", "'listener' needs a port");
	expect_load_error("persistence_location\n", "'persistence_location' needs a value");
	expect_load_error("log_type\n", "'log_type' needs a value");
	expect_set_error("workers", NULL, "'workers' needs a value");
}

Test(config, extra_tokens_are_refused)
{
	expect_load_error("workers 4 5\n", ":1: 'workers' takes one value, but '5' follows it");
	expect_load_error("allow_anonymous true false\n", "but 'false' follows it");
	expect_load_error("port 1883 # trailing comment\n", "but '#");
	expect_load_error("listener 1883 127.0.0.1 extra\n",
			  "'listener' takes a port and an optional address, but 'extra' follows");
}

Test(config, bad_bind_address_is_refused)
{
	expect_load_error("bind_address localhost\n", "IPv4 or IPv6 address");
	expect_load_error("listener 1883 999.1.1.1\n", "got '999.1.1.1'");
	expect_load_error("bind_address 127.0.0.1 ::1\n", "takes one value");
}

Test(config, a_second_listener_is_refused)
{
	expect_load_error("listener 1883\nlistener 8883 ::1\n",
			  ":2: a second 'listener' is not supported yet");
}

Test(config, failed_set_leaves_the_setting_unchanged)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	cr_assert_lt(config_set(&c, "listener", "1999 not-an-ip", err, sizeof(err)), 0);
	cr_assert_eq(c.port, 1883);
	cr_assert_str_eq(c.bind_address, "127.0.0.1");
	cr_assert_lt(config_set(&c, "max_packet_size", "5", err, sizeof(err)), 0);
	cr_assert_eq(c.max_packet_size, 0);
	cr_assert_lt(config_set(&c, "workers", "-3", err, sizeof(err)), 0);
	cr_assert_eq(c.workers, 0);
}

Test(config, missing_file_is_enoent_with_path)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	cr_assert_eq(config_load_file(&c, "/nonexistent/petrel.conf", err, sizeof(err)),
		     -ENOENT);
	cr_assert_not_null(strstr(err, "/nonexistent/petrel.conf"), "%s", err);
}

Test(config, error_fits_a_small_buffer_and_null_buffer)
{
	struct config c;
	char err[8];

	config_defaults(&c);
	cr_assert_eq(config_set(&c, "nope", "1", err, sizeof(err)), -ENOENT);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
	cr_assert_eq(config_set(&c, "nope", "1", NULL, 0), -ENOENT);
}

/* ---- whole files ---------------------------------------------------------------- */

Test(config, loads_a_mosquitto_style_file)
{
	static const char real[] =
		"# Place your local configuration in /etc/mosquitto/conf.d/\n"
		"#\n"
		"# A full description of the configuration file is at\n"
		"# /usr/share/doc/mosquitto/examples/mosquitto.conf.example\n"
		"\n"
		"listener 1883 127.0.0.1\n"
		"allow_anonymous true\n"
		"allow_zero_length_clientid true\n"
		"auto_id_prefix auto-\n"
		"\n"
		"  # indented comment\n"
		"\t# tab-indented comment\n"
		"max_inflight_messages 10\n"
		"max_queued_messages 500\n"
		"max_queued_bytes 0\n"
		"queue_qos0_messages false\n"
		"max_packet_size 1048576\n"
		"max_connections -1\n"
		"max_keepalive 120\n"
		"retain_available true\n"
		"\n"
		"persistence false\n"
		"persistence_location /var/lib/mosquitto/\n"
		"\n"
		"log_dest stderr\n"
		"log_type error\n"
		"log_type warning\n"
		"log_type notice\n"
		"log_type information\n"
		"\n"
		"# Petrel's own keys\n"
		"workers 2\n"
		"queue_full_policy drop_oldest\n"
		"connect_timeout 5\n"
		"max_outgoing_bytes 262144\n";
	struct config c;
	char err[512] = "";

	cr_assert_eq(load(&c, real, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.port, 1883);
	cr_assert_str_eq(c.bind_address, "127.0.0.1");
	cr_assert(c.allow_anonymous);
	cr_assert_eq(c.max_inflight_messages, 10);
	cr_assert_eq(c.max_queued_messages, 500);
	cr_assert_eq(c.max_packet_size, 1048576);
	cr_assert_eq(c.max_keepalive, 120);
	cr_assert_not(c.persistence);
	cr_assert_str_eq(c.persistence_location, "/var/lib/mosquitto/");
	cr_assert_eq(c.log_level, LOG_INFO);
	cr_assert_eq(c.workers, 2);
	cr_assert_eq(c.queue_full_policy, QUEUE_FULL_DROP_OLDEST);
	cr_assert_eq(c.connect_timeout, 5);
	cr_assert_eq(c.max_outgoing_bytes, 262144);
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
}

Test(config, crlf_and_trailing_whitespace_are_tolerated)
{
	struct config c;
	char err[512] = "";

	cr_assert_eq(load(&c, "# windows\r\nworkers 3\r\nallow_anonymous false \t\r\n"
			  "\r\nlistener 1999 ::1\r\nauto_id_prefix x-\r\n", err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(c.workers, 3);
	cr_assert_not(c.allow_anonymous);
	cr_assert_eq(c.port, 1999);
	cr_assert_str_eq(c.bind_address, "::1");
	cr_assert_str_eq(c.auto_id_prefix, "x-");
}

Test(config, comments_blank_lines_and_no_final_newline)
{
	struct config c;
	char err[512] = "";

	cr_assert_eq(load(&c, "#workers 9\n   \n\t\n  # x y z\nworkers 2", err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(c.workers, 2);
	cr_assert_eq(load(&c, "", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.workers, 0);
}

Test(config, later_lines_and_command_line_override_earlier_ones)
{
	struct config c;
	char err[512] = "";

	cr_assert_eq(load(&c, "workers 2\nworkers 6\nport 1999\n", err, sizeof(err)), 0);
	cr_assert_eq(c.workers, 6);
	set_ok(&c, "workers", "1");	/* -w 1 after the file */
	set_ok(&c, "port", "0");	/* -p 0 after the file */
	cr_assert_eq(c.workers, 1);
	cr_assert_eq(c.port, 0);
}

Test(config, line_numbers_count_comments_and_crlf_lines)
{
	expect_load_error("# one\r\n\r\nworkers 1\r\nmax_connections many\r\n",
			  ":4: 'max_connections' expects a whole number, got 'many'");
}

/* ---- finalize ------------------------------------------------------------------- */

Test(config, finalize_resolves_zero_meanings)
{
	struct config c;
	char err[256] = "";
	cpu_set_t set;
	long cpus;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	cpus = CPU_COUNT(&set);

	config_defaults(&c);
	c.max_inflight_messages = 0;
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.workers, cpus < 1 ? 1 : (unsigned)cpus);
	cr_assert_eq(c.max_inflight_messages, 65535);
	cr_assert_eq(c.max_packet_size, 268435460);
	/* "0 = unlimited" keys that are not rewritten stay 0. */
	cr_assert_eq(c.max_queued_bytes, 0);
	cr_assert_eq(c.max_keepalive, 0);
}

Test(config, finalize_keeps_explicit_values)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	set_ok(&c, "workers", "3");
	set_ok(&c, "max_inflight_messages", "7");
	set_ok(&c, "max_packet_size", "4096");
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.workers, 3);
	cr_assert_eq(c.max_inflight_messages, 7);
	cr_assert_eq(c.max_packet_size, 4096);
}

Test(config, finalize_refuses_inconsistent_values_set_directly)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	snprintf(c.bind_address, sizeof(c.bind_address), "%s", "localhost");
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "bind_address"), "%s", err);

	config_defaults(&c);
	c.max_inflight_messages = 70000;
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), -EINVAL);

	config_defaults(&c);
	c.max_packet_size = 3;
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), -EINVAL);

	config_defaults(&c);
	c.persistence = true;
	c.persistence_location[0] = '\0';
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "persistence_location"), "%s", err);

	config_defaults(&c);
	c.max_connections = 0;
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), -EINVAL);

	config_defaults(&c);
	c.connect_timeout = 0;
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), -EINVAL);

	config_defaults(&c);
	c.log_level = 9;
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), -EINVAL);
}

/* ---- log.c: what config and every other module rely on -------------------------- */

Test(log, level_names_parse)
{
	enum log_level l;

	cr_assert_eq(log_level_parse("error", &l), 0);
	cr_assert_eq(l, LOG_ERR);
	cr_assert_eq(log_level_parse("warning", &l), 0);
	cr_assert_eq(l, LOG_WARN);
	cr_assert_eq(log_level_parse("notice", &l), 0);
	cr_assert_eq(l, LOG_NOTICE);
	cr_assert_eq(log_level_parse("information", &l), 0);
	cr_assert_eq(l, LOG_INFO);
	cr_assert_eq(log_level_parse("info", &l), 0);
	cr_assert_eq(l, LOG_INFO);
	cr_assert_eq(log_level_parse("debug", &l), 0);
	cr_assert_eq(l, LOG_DEBUG);
	cr_assert_eq(log_level_parse("verbose", &l), -EINVAL);
	cr_assert_eq(log_level_parse("", &l), -EINVAL);
	cr_assert_eq(log_level_parse(NULL, &l), -EINVAL);
}

Test(log, set_and_get_level)
{
	cr_assert_eq(log_get_level(), LOG_NOTICE);
	log_set_level(LOG_DEBUG);
	cr_assert_eq(log_get_level(), LOG_DEBUG);
	log_set_level(LOG_ERR);
	cr_assert_eq(log_get_level(), LOG_ERR);
}

static unsigned count_char(const char *s, char ch)
{
	unsigned n = 0;

	for (; *s != '\0'; s++)
		n += *s == ch;
	return n;
}

/* Runs <fn> with stderr sent to a temporary file; returns what was written
 * (malloc'd, caller frees). */
static char *capture_stderr(void (*fn)(void))
{
	char path[64];
	char *buf;
	long len;
	FILE *f;
	int saved;
	int fd;

	snprintf(path, sizeof(path), "%s", "/tmp/petrel-test-log-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	cr_assert_geq(saved, 0);
	cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
	fn();
	fflush(stderr);
	cr_assert_geq(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	close(fd);

	f = fopen(path, "r");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	unlink(path);
	return buf;
}

static void log_one_notice(void)
{
	log_set_thread_name("w0");
	log_notice("hello %d", 42);
}

Test(log, line_format)
{
	char *out = capture_stderr(log_one_notice);
	regex_t re;

	cr_assert_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
			     "\\.[0-9]{3}Z petrel\\[w0\\] notice: hello 42\n$",
			     REG_EXTENDED | REG_NOSUB), 0);
	cr_assert_eq(regexec(&re, out, 0, NULL, 0), 0, "line was '%s'", out);
	regfree(&re);
	free(out);
}

static void log_filtered(void)
{
	log_set_level(LOG_NOTICE);
	log_debug("not shown %d", 1);
	log_info("not shown either");
	log_set_level(LOG_DEBUG);
	log_set_thread_name("a-very-long-thread-name");
	log_debug("shown\n");	/* a trailing newline is not doubled */
}

Test(log, levels_filter_and_names_are_truncated)
{
	char *out = capture_stderr(log_filtered);

	cr_assert_null(strstr(out, "not shown"), "%s", out);
	cr_assert_not_null(strstr(out, " petrel[a-very-long-thr] debug: shown\n"), "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: '%s'", out);
	free(out);
}

static void log_long_line(void)
{
	char big[3000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_set_thread_name("main");
	log_err("%s|end", big);
}

Test(log, long_lines_are_written_whole)
{
	char *out = capture_stderr(log_long_line);

	cr_assert_not_null(strstr(out, " petrel[main] error: xxx"), "%.80s", out);
	cr_assert_not_null(strstr(out, "x|end\n"));
	cr_assert_gt(strlen(out), 3000);
	free(out);
}

static int errno_seen;

static void log_keeps_errno(void)
{
	errno = EAGAIN;
	log_warn("w");
	errno_seen = errno;
}

Test(log, errno_is_preserved)
{
	free(capture_stderr(log_keeps_errno));
	cr_assert_eq(errno_seen, EAGAIN);
}

/* ---- mosquitto's snapshot keys: accepted, one warning each ------------------------ */

static char snapshot_path[64];
static int snapshot_rc;
static char snapshot_err[1024];

static void load_snapshot_keys(void)
{
	struct config c;

	config_defaults(&c);
	log_set_level(LOG_NOTICE);
	log_set_thread_name("main");
	snapshot_rc = load_text(&c, "autosave_interval 1800\nautosave_on_changes false\n"
				"persistence_file mosquitto.db\nworkers 2\n", snapshot_err,
				sizeof(snapshot_err), snapshot_path, sizeof(snapshot_path));
}

Test(config, mosquitto_snapshot_keys_load_with_one_warning_each)
{
	char *out;
	char want[200];

	out = capture_stderr(load_snapshot_keys);
	cr_assert_eq(snapshot_rc, 0, "%s", snapshot_err);
	snprintf(want, sizeof(want), " warning: %s:1: 'autosave_interval' ignored: Petrel "
		 "saves no snapshots, it commits every change", snapshot_path);
	cr_assert_not_null(strstr(out, want), "%s", out);
	snprintf(want, sizeof(want), " warning: %s:2: 'autosave_on_changes' ignored",
		 snapshot_path);
	cr_assert_not_null(strstr(out, want), "%s", out);
	snprintf(want, sizeof(want), " warning: %s:3: 'persistence_file mosquitto.db' "
		 "ignored: Petrel's store is the LMDB file data.mdb", snapshot_path);
	cr_assert_not_null(strstr(out, want), "%s", out);
	cr_assert_eq(count_char(out, '\n'), 3, "one line each:\n%s", out);
	free(out);
	/* A malformed value is still an error. */
	expect_load_error("autosave_interval soon\n",
			  "'autosave_interval' expects a whole number of seconds, got 'soon'");
	expect_load_error("persistence_file\n", "'persistence_file' needs a value");
}

/* ---- DPDK data plane, our TCP, fault injection ------------------------------------ */

Test(config_dpdk, defaults_are_the_documented_ones)
{
	struct config c;

	config_defaults(&c);
	cr_assert_eq(c.dataplane, DATAPLANE_KERNEL);
	cr_assert_str_eq(c.dpdk_eal_args, "");
	cr_assert_eq(c.dpdk_port, 0);
	cr_assert_eq(c.dpdk_ip, 0xc6120001u);   /* 198.18.0.1 */
	cr_assert_eq(c.dpdk_prefix_len, 24);
	cr_assert_eq(c.dpdk_gateway, 0);
	cr_assert_eq(c.dpdk_mbufs, 8192);
	cr_assert_eq(c.tcp_max_connections, 65536);
	cr_assert_eq(c.tcp_syn_backlog, 1024);
	cr_assert_eq(c.tcp_rcv_buf, 262144);
	cr_assert_eq(c.tcp_delayed_ack_ms, 40);
	cr_assert_eq(c.tcp_rto_min_ms, 200);
	cr_assert_eq(c.fault_drop + c.fault_duplicate + c.fault_reorder + c.fault_corrupt, 0);
	cr_assert_eq(c.fault_seed, 1);
	cr_assert_str_eq(dataplane_name(DATAPLANE_KERNEL), "kernel");
	cr_assert_str_eq(dataplane_name(DATAPLANE_DPDK), "dpdk");
}

Test(config_dpdk, dataplane_words)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "dataplane", "kernel");
	cr_assert_eq(c.dataplane, DATAPLANE_KERNEL);
	expect_set_error("dataplane", "xdp", "expects kernel or dpdk, got 'xdp'");
	expect_set_error("dataplane", "dpdk kernel", "takes one value");
#ifdef PETREL_HAVE_DPDK
	set_ok(&c, "dataplane", "dpdk");
	cr_assert_eq(c.dataplane, DATAPLANE_DPDK);
#else
	/* Built without DPDK: refused by name, and the setting stays kernel. */
	expect_set_error("dataplane", "dpdk", "built without DPDK");
	{
		char err[256];

		cr_assert_lt(config_set(&c, "dataplane", "dpdk", err, sizeof(err)), 0);
		cr_assert_eq(c.dataplane, DATAPLANE_KERNEL);
	}
#endif
}

Test(config_dpdk, eal_args_keep_the_whole_line)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "dpdk_eal_args", "  --no-huge -m 512 --vdev='net_tap0,iface=a b'  ");
	cr_assert_str_eq(c.dpdk_eal_args, "--no-huge -m 512 --vdev='net_tap0,iface=a b'");
	expect_set_error("dpdk_eal_args", "", "needs a value");
	{
		char big[CONFIG_EAL_ARGS_MAX + 2];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		expect_set_error("dpdk_eal_args", big, "shorter than 1024");
	}
}

Test(config_dpdk, port_and_mbufs_ranges)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "dpdk_port", "3");
	cr_assert_eq(c.dpdk_port, 3);
	set_ok(&c, "dpdk_mbufs", "1024");
	cr_assert_eq(c.dpdk_mbufs, 1024);
	cr_assert_eq(c.dpdk_arp_entries, 256);
	set_ok(&c, "dpdk_arp_entries", "4096");
	cr_assert_eq(c.dpdk_arp_entries, 4096);
	expect_set_error("dpdk_arp_entries", "0", "from 1 to 65536");
	expect_set_error("dpdk_arp_entries", "65537", "from 1 to 65536");
	expect_set_error("dpdk_port", "-1", "from 0 to 65535");
	expect_set_error("dpdk_port", "65536", "from 0 to 65535");
	expect_set_error("dpdk_port", "net_tap0", "whole number");
	expect_set_error("dpdk_mbufs", "1023", "from 1024 to 16777216");
	expect_set_error("dpdk_mbufs", "16777217", "from 1024 to 16777216");
}

Test(config_dpdk, address_takes_a_unicast_host_and_a_prefix)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "dpdk_address", "10.1.2.3/8");
	cr_assert_eq(c.dpdk_ip, 0x0a010203u);
	cr_assert_eq(c.dpdk_prefix_len, 8);
	set_ok(&c, "dpdk_address", "198.19.0.0/31");   /* /31: no network address */
	cr_assert_eq(c.dpdk_prefix_len, 31);
	set_ok(&c, "dpdk_address", "198.19.0.7/32");
	cr_assert_eq(c.dpdk_ip, 0xc6130007u);
	expect_set_error("dpdk_address", "198.18.0.1", "ADDRESS/PREFIX");
	expect_set_error("dpdk_address", "198.18.0.1/0", "from 1 to 32");
	expect_set_error("dpdk_address", "198.18.0.1/33", "from 1 to 32");
	expect_set_error("dpdk_address", "198.18.0.1/", "from 1 to 32");
	expect_set_error("dpdk_address", "198.18.0.1/24x", "from 1 to 32");
	expect_set_error("dpdk_address", "198.18.0/24", "IPv4 address");
	expect_set_error("dpdk_address", "::1/24", "IPv4 address");
	expect_set_error("dpdk_address", "127.0.0.1/8", "not a unicast host");
	expect_set_error("dpdk_address", "0.1.2.3/8", "not a unicast host");
	expect_set_error("dpdk_address", "224.0.0.1/4", "not a unicast host");
	expect_set_error("dpdk_address", "198.18.0.0/24", "network or broadcast");
	expect_set_error("dpdk_address", "198.18.0.255/24", "network or broadcast");
	/* A refused line leaves the previous address. */
	{
		char err[256];

		cr_assert_lt(config_set(&c, "dpdk_address", "198.18.0.255/24", err,
					sizeof(err)), 0);
		cr_assert_eq(c.dpdk_ip, 0xc6130007u);
		cr_assert_eq(c.dpdk_prefix_len, 32);
	}
}

Test(config_dpdk, gateway_must_be_on_link)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	set_ok(&c, "dpdk_gateway", "198.18.0.254");
	cr_assert_eq(c.dpdk_gateway, 0xc61200feu);
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
	expect_set_error("dpdk_gateway", "198.18.0.0/24", "IPv4 address");
	expect_set_error("dpdk_gateway", "255.255.255.255", "not a unicast host");

	config_defaults(&c);
	set_ok(&c, "dpdk_gateway", "198.19.0.1");
	cr_assert_lt(config_finalize(&c, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "198.19.0.1 is not on the link of dpdk_address "
				  "198.18.0.1/24"), "%s", err);

	config_defaults(&c);
	set_ok(&c, "dpdk_gateway", "198.18.0.1");
	cr_assert_lt(config_finalize(&c, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "dpdk_address itself"), "%s", err);
}

Test(config_dpdk, tcp_limits)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	set_ok(&c, "tcp_max_connections", "100");
	set_ok(&c, "tcp_syn_backlog", "10");
	set_ok(&c, "tcp_rcv_buf", "1460");
	set_ok(&c, "tcp_delayed_ack_ms", "0");
	set_ok(&c, "tcp_rto_min_ms", "1");
	cr_assert_eq(c.tcp_max_connections, 100);
	cr_assert_eq(c.tcp_syn_backlog, 10);
	cr_assert_eq(c.tcp_rcv_buf, 1460);
	cr_assert_eq(c.tcp_delayed_ack_ms, 0);
	cr_assert_eq(c.tcp_rto_min_ms, 1);
	cr_assert_eq(config_finalize(&c, err, sizeof(err)), 0, "%s", err);
	expect_set_error("tcp_max_connections", "0", "from 1 to 16777216");
	expect_set_error("tcp_syn_backlog", "16777217", "from 1 to 16777216");
	expect_set_error("tcp_rcv_buf", "1459", "from 1460 to 1073741824");
	expect_set_error("tcp_rcv_buf", "1073741825", "from 1460 to 1073741824");
	/* RFC 1122 4.2.3.2: the delay MUST be less than 0.5 seconds. */
	expect_set_error("tcp_delayed_ack_ms", "500", "from 0 to 499");
	expect_set_error("tcp_rto_min_ms", "0", "from 1 to 60000");

	set_ok(&c, "tcp_syn_backlog", "101");
	cr_assert_lt(config_finalize(&c, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "tcp_syn_backlog (101) must not exceed "
				  "tcp_max_connections (100)"), "%s", err);
}

Test(config_dpdk, fault_percentages_and_seed)
{
	struct config c;

	config_defaults(&c);
	set_ok(&c, "fault_drop", "5");
	set_ok(&c, "fault_duplicate", "100");
	set_ok(&c, "fault_reorder", "0");
	set_ok(&c, "fault_corrupt", "1");
	set_ok(&c, "fault_seed", "4294967295");
	cr_assert_eq(c.fault_drop, 5);
	cr_assert_eq(c.fault_duplicate, 100);
	cr_assert_eq(c.fault_corrupt, 1);
	cr_assert_eq(c.fault_seed, 4294967295u);
	expect_set_error("fault_drop", "101", "from 0 to 100");
	expect_set_error("fault_reorder", "5%", "whole number");
	expect_set_error("fault_corrupt", "0.5", "whole number");
	expect_set_error("fault_seed", "4294967296", "from 0 to 4294967295");
}

Test(config_dpdk, a_file_selects_dpdk_with_its_settings)
{
	struct config c;
	char err[512] = "";
	int rc = load(&c, "dataplane kernel\n"
			  "dpdk_eal_args --no-huge --no-pci --vdev=net_tap0,iface=pt0\n"
			  "dpdk_address 198.18.0.1/24\n"
			  "dpdk_gateway 198.18.0.254\n"
			  "fault_drop 5\n", err, sizeof(err));

	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_str_eq(c.dpdk_eal_args, "--no-huge --no-pci --vdev=net_tap0,iface=pt0");
	cr_assert_eq(c.dpdk_gateway, 0xc61200feu);
	cr_assert_eq(c.fault_drop, 5);
	expect_load_error("dpdk_address 300.1.1.1/24\n", ":1: 'dpdk_address' expects an "
			  "IPv4 address");
}

/* ---- the key table against docs/configuration.md -------------------------------- */

struct doc_key {
	char name[64];
	char def[128];   /* the default cell */
};

/* Reads the documented keys: the first cell of every table row under "## Keys" that
 * starts with a backquoted name. Returns how many. */
static size_t doc_keys(FILE *f, struct doc_key *out, size_t cap)
{
	char line[4096];
	bool in_keys = false;
	size_t n = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "## ", 3) == 0)
			in_keys = strncmp(line, "## Keys", 7) == 0;
		if (!in_keys || strncmp(line, "| `", 3) != 0)
			continue;
		cr_assert_lt(n, cap);
		size_t len = strcspn(line + 3, " `");
		cr_assert_lt(len, sizeof(out[n].name));
		memcpy(out[n].name, line + 3, len);
		out[n].name[len] = '\0';
		/* The default is the second cell. */
		char *cell = strchr(line + 1, '|');
		cr_assert_not_null(cell, "%s", line);
		cell++;
		len = strcspn(cell, "|");
		cr_assert_lt(len, sizeof(out[n].def));
		memcpy(out[n].def, cell, len);
		out[n].def[len] = '\0';
		n++;
	}
	return n;
}

/* Reads every `word` of the "### Mosquitto options Petrel refuses" section. */
static size_t doc_refused(FILE *f, char (*out)[64], size_t cap)
{
	char line[4096];
	bool in = false;
	size_t n = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#')
			in = strncmp(line, "### Mosquitto options Petrel refuses", 36) == 0;
		if (!in)
			continue;
		for (char *p = strchr(line, '`'); p != NULL; p = strchr(p, '`')) {
			char *end = strchr(p + 1, '`');

			cr_assert_not_null(end, "unbalanced ` in: %s", line);
			cr_assert_lt(n, cap);
			cr_assert_lt((size_t)(end - p - 1), sizeof(out[n]));
			memcpy(out[n], p + 1, (size_t)(end - p - 1));
			out[n][end - p - 1] = '\0';
			n++;
			p = end + 1;
		}
	}
	return n;
}

static FILE *open_doc(void)
{
	FILE *f = fopen(PETREL_SRC_ROOT "/docs/configuration.md", "r");

	cr_assert_not_null(f, "cannot read %s: %s", PETREL_SRC_ROOT "/docs/configuration.md",
			   strerror(errno));
	return f;
}

Test(config_doc, every_key_is_documented_and_every_documented_key_exists)
{
	static struct doc_key doc[256];
	FILE *f = open_doc();
	size_t n = doc_keys(f, doc, 256);

	fclose(f);
	cr_assert_gt(n, 10, "no key table found under '## Keys'");
	for (const struct config_key *k = config_keys; k->name != NULL; k++) {
		size_t i;

		for (i = 0; i < n && strcmp(doc[i].name, k->name) != 0; i++)
			;
		cr_assert_lt(i, n, "key '%s' is not in docs/configuration.md", k->name);
		cr_assert_not_null(k->help, "key '%s' has no help line", k->name);
		if (k->def != NULL) {
			char want[160];

			snprintf(want, sizeof(want), "`%s`", k->def);
			cr_assert_not_null(strstr(doc[i].def, want), "docs give '%s' as the "
					   "default of %s, the table %s", doc[i].def, k->name,
					   want);
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k;

		for (k = config_keys; k->name != NULL; k++)
			if (strcmp(doc[i].name, k->name) == 0)
				break;
		cr_assert_not_null(k->name, "docs/configuration.md documents '%s', which "
				   "config_keys[] does not have", doc[i].name);
	}
}

Test(config_doc, refused_mosquitto_keys_match_the_docs_both_ways)
{
	static char doc[256][64];
	FILE *f = open_doc();
	size_t n = doc_refused(f, doc, 256);
	struct config c;
	char key[80];
	char err[256];

	fclose(f);
	cr_assert_gt(n, 10, "no '### Mosquitto options Petrel refuses' list");
	for (size_t i = 0; config_refused_keys[i] != NULL; i++) {
		size_t j;

		for (j = 0; j < n && strcmp(doc[j], config_refused_keys[i]) != 0; j++)
			;
		cr_assert_lt(j, n, "refused key '%s' is not listed in the docs",
			     config_refused_keys[i]);
	}
	for (size_t i = 0; config_refused_prefixes[i] != NULL; i++) {
		size_t j;

		snprintf(key, sizeof(key), "%s*", config_refused_prefixes[i]);
		for (j = 0; j < n && strcmp(doc[j], key) != 0; j++)
			;
		cr_assert_lt(j, n, "refused family '%s' is not listed in the docs", key);
	}
	/* And every name the docs list is refused by name, not as unknown. */
	config_defaults(&c);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(doc[i]);

		snprintf(key, sizeof(key), "%s", doc[i]);
		if (len > 0 && key[len - 1] == '*')
			snprintf(key + len - 1, sizeof(key) - (len - 1), "%s", "x");
		err[0] = '\0';
		cr_assert_eq(config_set(&c, key, "x", err, sizeof(err)), -ENOENT, "%s", key);
		cr_assert_not_null(strstr(err, "mosquitto option Petrel does not support"),
				   "docs list '%s' as refused, but: %s", doc[i], err);
	}
}
