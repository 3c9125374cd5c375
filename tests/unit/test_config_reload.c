/* test_config_reload.c - config_reload.c: each key's value as text, the key-by-key
 * diff, and the reload of real files: live keys applied, restart keys reported and
 * kept at their old value (byte for byte), multi-field keys, bad files. */

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petrel/config.h"
#include "unit_util.h"

/* One line of a file changing one key, and how the diff must show it. */
struct sample {
	const char *line;
	const char *key;         /* the key the diff names */
	const char *to;          /* its new value as rendered */
};

/* Every live key, set away from its default. */
static const struct sample live_samples[] = {
	{ "max_connections 2", "max_connections", "2" },
	{ "connect_timeout 3", "connect_timeout", "3" },
	{ "max_outgoing_bytes 4096", "max_outgoing_bytes", "4096" },
	{ "allow_anonymous false", "allow_anonymous", "false" },
	{ "allow_zero_length_clientid false", "allow_zero_length_clientid", "false" },
	{ "auto_id_prefix x-", "auto_id_prefix", "x-" },
	{ "max_keepalive 30", "max_keepalive", "30" },
	{ "max_packet_size 1000", "max_packet_size", "1000" },
	{ "retain_available false", "retain_available", "false" },
	{ "max_subscriptions_per_client 5", "max_subscriptions_per_client", "5" },
	{ "max_filters_per_subscribe 6", "max_filters_per_subscribe", "6" },
	{ "max_inflight_messages 3", "max_inflight_messages", "3" },
	{ "max_queued_messages 7", "max_queued_messages", "7" },
	{ "max_queued_bytes 100000", "max_queued_bytes", "100000" },
	{ "queue_full_policy drop_oldest", "queue_full_policy", "drop_oldest" },
	{ "queue_qos0_messages true", "queue_qos0_messages", "true" },
	{ "backpressure_timeout 500", "backpressure_timeout", "500" },
	{ "slow_subscriber_policy disconnect", "slow_subscriber_policy", "disconnect" },
	{ "max_held_input_bytes 8192", "max_held_input_bytes", "8192" },
	{ "max_outgoing_control_bytes 8192", "max_outgoing_control_bytes", "8192" },
	{ "persistent_client_expiration 3h", "persistent_client_expiration", "3h" },
	{ "persistence_max_parked_bytes 1024", "persistence_max_parked_bytes", "1024" },
	{ "persistence_max_pending_bytes 4096", "persistence_max_pending_bytes", "4096" },
	{ "log_level debug", "log_level", "debug" },
	{ "sys_interval 0", "sys_interval", "0" },
	{ "control_max_clients 2", "control_max_clients", "2" },
	{ "control_max_line 128", "control_max_line", "128" },
	{ "control_max_output 8192", "control_max_output", "8192" },
	{ "control_idle_timeout 5", "control_idle_timeout", "5" },
	{ "control_request_timeout 100", "control_request_timeout", "100" },
};

/* Every key that needs a restart, set away from its default. */
static const struct sample restart_samples[] = {
	{ "listener 1884 127.0.0.1", "listener", "1884 127.0.0.1" },
	{ "port 1885", "listener", "1885 127.0.0.1" },
	{ "bind_address 0.0.0.0", "listener", "1883 0.0.0.0" },
	{ "workers 997", "workers", "997" },
	{ "max_worker_inbound 100", "max_worker_inbound", "100" },
	{ "memory_limit 1000000", "memory_limit", "1000000" },
	{ "persistence false", "persistence", "false" },
	{ "persistence_location /tmp/elsewhere", "persistence_location", "/tmp/elsewhere" },
	{ "persistence_sync 500", "persistence_sync", "500" },
	{ "persistence_max_size 2097152", "persistence_max_size", "2097152" },
	{ "pid_file /tmp/petrel-reload.pid", "pid_file", "/tmp/petrel-reload.pid" },
	{ "control_socket /tmp/other.sock", "control_socket", "/tmp/other.sock" },
	{ "metrics_listener 127.0.0.1:9999", "metrics_listener", "127.0.0.1:9999" },
	{ "metrics_max_clients 3", "metrics_max_clients", "3" },
	{ "metrics_timeout 5", "metrics_timeout", "5" },
	{ "log_dest file /tmp/petrel-reload.log", "log_dest", "file /tmp/petrel-reload.log" },
#ifdef PETREL_HAVE_DPDK
	{ "dataplane dpdk", "dataplane", "dpdk" },
#endif
	{ "dpdk_eal_args -l 0", "dpdk_eal_args", "-l 0" },
	{ "dpdk_port 1", "dpdk_port", "1" },
	{ "dpdk_address 198.18.1.1/16", "dpdk_address", "198.18.1.1/16" },
	{ "dpdk_gateway 198.18.0.254", "dpdk_gateway", "198.18.0.254" },
	{ "dpdk_mbufs 2048", "dpdk_mbufs", "2048" },
	{ "dpdk_idle_spin_us 500", "dpdk_idle_spin_us", "500" },
	{ "dpdk_arp_entries 4096", "dpdk_arp_entries", "4096" },
	{ "tcp_max_connections 2048", "tcp_max_connections", "2048" },
	{ "tcp_syn_backlog 10", "tcp_syn_backlog", "10" },
	{ "tcp_rcv_buf 65536", "tcp_rcv_buf", "65536" },
	{ "tcp_delayed_ack_ms 0", "tcp_delayed_ack_ms", "0" },
	{ "tcp_rto_min_ms 300", "tcp_rto_min_ms", "300" },
	{ "fault_drop 1", "fault_drop", "1" },
	{ "fault_duplicate 1", "fault_duplicate", "1" },
	{ "fault_reorder 1", "fault_reorder", "1" },
	{ "fault_corrupt 1", "fault_corrupt", "1" },
	{ "fault_seed 9", "fault_seed", "9" },
};

/* Keys that hold no value of their own, and so never appear in a diff. */
static const char *const valueless_keys[] = {
	"include_dir", "log_type", "autosave_interval", "autosave_on_changes",
	"persistence_file", NULL,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The configuration a broker started without -c runs on. */
static void running(struct config *c)
{
	char err[512] = "";

	config_defaults(c);
	cr_assert_eq(config_finalize(c, err, sizeof(err)), 0, "%s", err);
}

/* Reloads <text> as the -c file over <cur>. */
static int reload_text(const struct config *cur, const char *text, struct config *next,
		       struct config_diff *d, char *err, size_t errlen)
{
	char path[64];
	int rc;

	unit_write_temp(text, path, sizeof(path));
	rc = config_reload(cur, path, NULL, next, d, err, errlen);
	unlink(path);
	return rc;
}

static const struct config_key *key_named(const char *name)
{
	for (const struct config_key *k = config_keys; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	cr_assert_fail("no key '%s'", name);
	return NULL;
}

static void render(const struct config *c, const char *name, char *out, size_t outlen)
{
	int rc = config_key_render(c, key_named(name), out, outlen);

	cr_assert_eq(rc, 0, "render %s: %d", name, rc);
}

static bool in_samples(const struct sample *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(s[i].line, name, strlen(name)) == 0 &&
		    s[i].line[strlen(name)] == ' ')
			return true;
	return false;
}

Test(config_reload, every_key_is_classified_and_renders)
{
	struct config c;
	char out[CONFIG_VALUE_TEXT_MAX];

	running(&c);
	for (const struct config_key *k = config_keys; k->name != NULL; k++) {
		bool valueless = false;

		for (size_t i = 0; valueless_keys[i] != NULL; i++)
			valueless |= strcmp(valueless_keys[i], k->name) == 0;
		if (valueless) {
			cr_expect_eq(config_key_render(&c, k, out, sizeof(out)), -ENOENT,
				     "%s should have no value", k->name);
			continue;
		}
		cr_expect_eq(config_key_render(&c, k, out, sizeof(out)), 0,
			     "%s does not render (a setter of its own missing from "
			     "config_reload.c's custom_keys?)", k->name);
		if (config_key_is_live(k))
			cr_expect(in_samples(live_samples, COUNT(live_samples), k->name),
				  "live key %s has no test sample", k->name);
		else
#ifndef PETREL_HAVE_DPDK
		if (strcmp(k->name, "dataplane") != 0)
#endif
			cr_expect(in_samples(restart_samples, COUNT(restart_samples),
					     k->name),
				  "restart key %s has no test sample", k->name);
	}
}

/* The rendered defaults read back through the setters give the same text: what a
 * reload shows is what a file would say. */
Test(config_reload, defaults_render_as_a_file_writes_them)
{
	struct config c, back;
	char out[CONFIG_VALUE_TEXT_MAX], again[CONFIG_VALUE_TEXT_MAX], err[512];

	running(&c);
	for (const struct config_key *k = config_keys; k->name != NULL; k++) {
		if (config_key_render(&c, k, out, sizeof(out)) < 0 || out[0] == '\0')
			continue;
		config_defaults(&back);
		cr_assert_eq(config_set(&back, k->name, out, err, sizeof(err)), 0,
			     "%s '%s': %s", k->name, out, err);
		cr_assert_eq(config_finalize(&back, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(config_key_render(&back, k, again, sizeof(again)), 0);
		cr_expect_str_eq(again, out, "%s", k->name);
	}
	render(&c, "listener", out, sizeof(out));
	cr_expect_str_eq(out, "1883 127.0.0.1");
	render(&c, "persistence_sync", out, sizeof(out));
	cr_expect_str_eq(out, "always");
	render(&c, "log_dest", out, sizeof(out));
	cr_expect_str_eq(out, "stderr");
	render(&c, "persistent_client_expiration", out, sizeof(out));
	cr_expect_str_eq(out, "");
	render(&c, "max_packet_size", out, sizeof(out));
	cr_expect_str_eq(out, "268435460");   /* 0 resolved by finalize */
}

Test(config_reload, nothing_changed_is_an_empty_diff)
{
	struct config cur, next;
	struct config_diff d;
	char err[512] = "";

	running(&cur);
	/* workers 0 resolves to the CPU count in both, memory_limit auto to half
	 * the RAM: neither may look changed. */
	cr_assert_eq(reload_text(&cur, "# nothing\nworkers 0\n", &next, &d, err,
				 sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.n, 0, "first change: %s", d.n ? d.v[0].key : "");
	cr_expect_eq(memcmp(&cur, &next, sizeof(cur)), 0);
	config_diff_free(&d);
	cr_assert_eq(config_reload(&cur, NULL, NULL, &next, &d, err, sizeof(err)), 0);
	cr_expect_eq(d.n, 0);
	config_diff_free(&d);
}

Test(config_reload, each_live_key_is_detected_and_applied)
{
	struct config cur, next;
	char text[256], err[1024], out[CONFIG_VALUE_TEXT_MAX], def[CONFIG_VALUE_TEXT_MAX];

	running(&cur);
	for (size_t i = 0; i < COUNT(live_samples); i++) {
		const struct sample *s = &live_samples[i];
		struct config_diff d;

		snprintf(text, sizeof(text), "%s\n", s->line);
		cr_assert_eq(reload_text(&cur, text, &next, &d, err, sizeof(err)), 0,
			     "%s: %s", s->line, err);
		cr_assert_eq(d.n, 1, "%s: %u changes", s->line, d.n);
		cr_expect_str_eq(d.v[0].key, s->key);
		cr_expect(d.v[0].live, "%s not live", s->key);
		render(&cur, s->key, def, sizeof(def));
		cr_expect_str_eq(d.v[0].from, def);
		cr_expect_str_eq(d.v[0].to, s->to);
		render(&next, s->key, out, sizeof(out));
		cr_expect_str_eq(out, s->to, "%s not applied", s->key);
		config_diff_free(&d);
	}
}

Test(config_reload, each_restart_key_is_reported_and_not_applied)
{
	struct config cur, next;
	char text[256], err[1024], def[CONFIG_VALUE_TEXT_MAX];

	running(&cur);
	for (size_t i = 0; i < COUNT(restart_samples); i++) {
		const struct sample *s = &restart_samples[i];
		struct config_diff d;

		snprintf(text, sizeof(text), "%s\n", s->line);
		cr_assert_eq(reload_text(&cur, text, &next, &d, err, sizeof(err)), 0,
			     "%s: %s", s->line, err);
		cr_assert_eq(d.n, 1, "%s: %u changes (%s)", s->line, d.n,
			     d.n ? d.v[0].key : "");
		cr_expect_str_eq(d.v[0].key, s->key);
		cr_expect_not(d.v[0].live, "%s live", s->key);
		render(&cur, s->key, def, sizeof(def));
		cr_expect_str_eq(d.v[0].from, def);
		cr_expect_str_eq(d.v[0].to, s->to);
		/* Every field the key writes is back at the old value: the whole
		 * configuration is the running one, byte for byte. */
		cr_expect_eq(memcmp(&cur, &next, sizeof(cur)), 0, "%s leaked into the "
			     "new configuration", s->line);
		config_diff_free(&d);
	}
}

Test(config_reload, live_and_restart_changes_together)
{
	struct config cur, next;
	struct config_diff d;
	char err[1024] = "";

	running(&cur);
	cr_assert_eq(reload_text(&cur, "workers 997\nmax_connections 100\n"
				 "listener 1999\nmax_inflight_messages 0\n", &next, &d, err,
				 sizeof(err)), 0, "%s", err);
	/* config_keys order: listener, max_connections, workers; inflight 0 resolves
	 * to 65535. */
	cr_assert_eq(d.n, 4);
	cr_expect_str_eq(d.v[0].key, "listener");
	cr_expect_str_eq(d.v[0].to, "1999 0.0.0.0");
	cr_expect_str_eq(d.v[1].key, "max_connections");
	cr_expect_str_eq(d.v[2].key, "workers");
	cr_expect_str_eq(d.v[3].key, "max_inflight_messages");
	cr_expect_str_eq(d.v[3].to, "65535");
	cr_expect_eq(next.max_connections, 100);
	cr_expect_eq(next.max_inflight_messages, 65535u);
	cr_expect_eq(next.workers, cur.workers);
	cr_expect_eq(next.port, cur.port);
	cr_expect_str_eq(next.bind_address, cur.bind_address);
	config_diff_free(&d);
}

/* Keys whose setter writes several fields: each field goes back. */
Test(config_reload, multi_field_keys)
{
	struct config cur, next;
	struct config_diff d;
	char err[1024] = "";

	running(&cur);
	cr_assert_eq(reload_text(&cur, "persistence_sync 250\n", &next, &d, err,
				 sizeof(err)), 0, "%s", err);
	cr_assert_eq(d.n, 1);
	cr_expect_str_eq(d.v[0].from, "always");
	cr_expect_str_eq(d.v[0].to, "250");
	cr_expect_eq(next.persistence_sync, PERSIST_SYNC_ALWAYS);
	cr_expect_eq(next.persistence_sync_ms, 0u);
	config_diff_free(&d);

	cr_assert_eq(reload_text(&cur, "log_dest file /tmp/x.log\nlog_dest stderr\n", &next,
				 &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(d.n, 1);
	cr_expect_str_eq(d.v[0].to, "stderr, file /tmp/x.log");
	cr_expect(next.log_stderr);
	cr_expect_str_eq(next.log_file, "");
	config_diff_free(&d);

	/* 14 days is shown in the largest unit that divides it. */
	cr_assert_eq(reload_text(&cur, "persistent_client_expiration 14d\n", &next, &d, err,
				 sizeof(err)), 0, "%s", err);
	cr_assert_eq(d.n, 1);
	cr_expect_str_eq(d.v[0].from, "");
	cr_expect_str_eq(d.v[0].to, "2w");
	cr_expect_eq(next.persistent_client_expiration_ms, 14ull * 86400 * 1000);
	config_diff_free(&d);

	/* log_type feeds log_level: the diff names log_level. */
	cr_assert_eq(reload_text(&cur, "log_type all\n", &next, &d, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(d.n, 1);
	cr_expect_str_eq(d.v[0].key, "log_level");
	cr_expect_str_eq(d.v[0].to, "debug");
	config_diff_free(&d);
}

/* The command line's overrides win over the file, as at start-up: "-w 2" keeps
 * workers at 2 whatever the file says. */
Test(config_reload, overrides_apply_after_the_file)
{
	static const char *const overrides[] = { "workers", "2", "port", "0", NULL };
	struct config cur, next;
	struct config_diff d;
	char err[1024] = "", path[64];

	config_defaults(&cur);
	cr_assert_eq(config_set(&cur, "workers", "2", err, sizeof(err)), 0);
	cr_assert_eq(config_set(&cur, "port", "0", err, sizeof(err)), 0);
	cr_assert_eq(config_finalize(&cur, err, sizeof(err)), 0);
	unit_write_temp("workers 5\nlistener 1999 127.0.0.1\nmax_connections 9\n", path,
		   sizeof(path));
	cr_assert_eq(config_reload(&cur, path, overrides, &next, &d, err, sizeof(err)), 0,
		     "%s", err);
	unlink(path);
	cr_assert_eq(d.n, 1, "%u changes, first %s", d.n, d.n ? d.v[0].key : "");
	cr_expect_str_eq(d.v[0].key, "max_connections");
	cr_expect_eq(next.workers, 2u);
	config_diff_free(&d);

	static const char *const bad[] = { "workers", "many", NULL };
	cr_expect_lt(config_reload(&cur, NULL, bad, &next, &d, err, sizeof(err)), 0);
	cr_expect_not_null(strstr(err, "command line: 'workers' expects a whole number"),
			   "%s", err);
	cr_expect_eq(d.n, 0);
}

Test(config_reload, a_bad_file_is_refused_with_every_bad_line)
{
	struct config cur, next;
	struct config_diff d;
	char err[2048] = "", path[64], want[128];

	running(&cur);
	unit_write_temp("max_connections 5\nmax_connections zero\nlog_level loud\nbogus 1\n",
		   path, sizeof(path));
	cr_assert_lt(config_reload(&cur, path, NULL, &next, &d, err, sizeof(err)), 0);
	for (unsigned line = 2; line <= 4; line++) {
		snprintf(want, sizeof(want), "%s:%u: ", path, line);
		cr_expect_not_null(strstr(err, want), "no '%s' in: %s", want, err);
	}
	cr_expect_null(strstr(err, ":1: "), "%s", err);
	cr_expect_eq(d.n, 0);
	cr_expect_null(d.v);
	unlink(path);

	/* A file gone since start-up. */
	cr_assert_lt(config_reload(&cur, path, NULL, &next, &d, err, sizeof(err)), 0);
	cr_expect_not_null(strstr(err, "No such file or directory"), "%s", err);

	/* Lines that each pass but do not fit together (config_finalize). */
	cr_assert_lt(reload_text(&cur, "tcp_max_connections 10\ntcp_syn_backlog 20\n",
				 &next, &d, err, sizeof(err)), 0);
	cr_expect_not_null(strstr(err, "tcp_syn_backlog"), "%s", err);
	cr_expect_eq(d.n, 0);
}
