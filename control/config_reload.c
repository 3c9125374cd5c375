/* config_reload.c - reading the configuration again on a running broker (issue 9):
 * each key's value as text, the difference of two configurations key by key, and the
 * reload itself (docs/configuration.md "Reload").
 *
 * A reload reads defaults < file < command-line overrides exactly as start-up did,
 * then compares. Only keys listed in live_keys[] take effect: the workers read them
 * through worker->cfg on every use (and the control plane through cplane_config), so
 * swapping the configuration is enough. Every other key (sockets, threads, the store,
 * DPDK) was consumed at start-up; a change to one is reported and its old value is
 * copied back into the new configuration, so what the workers are handed only ever
 * differs in keys they can apply. */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* Keys a running broker applies (docs/configuration.md "Reload" lists the same). */
static const char *const live_keys[] = {
	"max_connections", "connect_timeout", "max_outgoing_bytes", "allow_anonymous",
	"allow_zero_length_clientid", "auto_id_prefix", "max_keepalive",
	"max_packet_size", "retain_available", "max_subscriptions_per_client",
	"max_filters_per_subscribe", "max_inflight_messages", "max_queued_messages",
	"max_queued_bytes", "queue_full_policy", "queue_qos0_messages",
	"backpressure_timeout", "slow_subscriber_policy", "max_held_input_bytes",
	"max_outgoing_control_bytes", "persistent_client_expiration",
	"persistence_max_parked_bytes", "persistence_max_pending_bytes", "log_level",
	"sys_interval", "control_max_clients", "control_max_line", "control_max_output",
	"control_idle_timeout", "control_request_timeout",
	NULL,
};

/* A stretch of struct config one key writes. */
struct field {
	size_t off;
	size_t size;
};
#define FIELD(f) { offsetof(struct config, f), sizeof(((struct config *)0)->f) }

typedef int render_fn(const struct config *c, char *out, size_t outlen);

/* A key with a setter of its own: the fields it writes and how its value reads. */
struct custom_key {
	const char *name;
	render_fn *render;         /* NULL: no value of its own (-ENOENT) */
	bool shown_by_listener;   /* port, bind_address: listener's diff shows them */
	struct field fields[2];   /* size 0 ends the list */
};

/* snprintf's result as 0 / -ENOSPC. */
static int render_done(int n, size_t outlen)
{
	return n >= 0 && (size_t)n < outlen ? 0 : -ENOSPC;
}

static int render_listener(const struct config *c, char *out, size_t outlen)
{
	return render_done(snprintf(out, outlen, "%u %s", c->port, c->bind_address), outlen);
}

static int render_port(const struct config *c, char *out, size_t outlen)
{
	return render_done(snprintf(out, outlen, "%u", c->port), outlen);
}

static int render_bind_address(const struct config *c, char *out, size_t outlen)
{
	return render_done(snprintf(out, outlen, "%s", c->bind_address), outlen);
}

static int render_max_connections(const struct config *c, char *out, size_t outlen)
{
	return render_done(snprintf(out, outlen, "%d", c->max_connections), outlen);
}

static int render_max_packet_size(const struct config *c, char *out, size_t outlen)
{
	return render_done(snprintf(out, outlen, "%zu", c->max_packet_size), outlen);
}

static int render_memory_limit(const struct config *c, char *out, size_t outlen)
{
	return render_done(snprintf(out, outlen, "%zu", c->memory_limit), outlen);
}

static int render_persistence_sync(const struct config *c, char *out, size_t outlen)
{
	if (c->persistence_sync == PERSIST_SYNC_ALWAYS)
		return render_done(snprintf(out, outlen, "always"), outlen);
	if (c->persistence_sync == PERSIST_SYNC_NEVER)
		return render_done(snprintf(out, outlen, "never"), outlen);
	return render_done(snprintf(out, outlen, "%u", c->persistence_sync_ms), outlen);
}

/* The largest of the setter's units that divides the duration exactly, so "14d"
 * reads back as "14d" (and "336h" as "2w": the same duration). */
static int render_expiration(const struct config *c, char *out, size_t outlen)
{
	static const struct { char unit; unsigned long long s; } units[] = {
		{ 'y', 365 * 86400 }, { 'm', 30 * 86400 }, { 'w', 7 * 86400 },
		{ 'd', 86400 }, { 'h', 3600 },
	};
	unsigned long long s = c->persistent_client_expiration_ms / 1000u;

	if (s == 0)
		return render_done(snprintf(out, outlen, "%s", ""), outlen);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (s % units[i].s == 0)
			return render_done(snprintf(out, outlen, "%llu%c", s / units[i].s,
						    units[i].unit), outlen);
	return render_done(snprintf(out, outlen, "%llus", s), outlen);
}

static int render_log_level(const struct config *c, char *out, size_t outlen)
{
	static const char *const names[] = {
		[LOG_ERR] = "error", [LOG_WARN] = "warning", [LOG_NOTICE] = "notice",
		[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
	};

	if (c->log_level < LOG_ERR || c->log_level > LOG_DEBUG)
		return render_done(snprintf(out, outlen, "%d", c->log_level), outlen);
	return render_done(snprintf(out, outlen, "%s", names[c->log_level]), outlen);
}

/* The log_dest lines of a file, joined: "stderr", "file PATH" or both. */
static int render_log_dest(const struct config *c, char *out, size_t outlen)
{
	const char *sep = c->log_stderr && c->log_file[0] != '\0' ? ", " : "";

	return render_done(snprintf(out, outlen, "%s%s%s%s", c->log_stderr ? "stderr" : "",
				    sep, c->log_file[0] != '\0' ? "file " : "",
				    c->log_file), outlen);
}

static int render_dataplane(const struct config *c, char *out, size_t outlen)
{
	return render_done(snprintf(out, outlen, "%s", dataplane_name(c->dataplane)), outlen);
}

static int render_ipv4(uint32_t a, char *out, size_t outlen)
{
	return render_done(snprintf(out, outlen, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
				    (a >> 8) & 255, a & 255), outlen);
}

static int render_dpdk_address(const struct config *c, char *out, size_t outlen)
{
	int rc = render_ipv4(c->dpdk_ip, out, outlen);
	size_t len = strlen(out);

	if (rc < 0)
		return rc;
	return render_done(snprintf(out + len, outlen - len, "/%u", c->dpdk_prefix_len),
			   outlen - len);
}

static int render_dpdk_gateway(const struct config *c, char *out, size_t outlen)
{
	if (c->dpdk_gateway == 0)
		return render_done(snprintf(out, outlen, "%s", ""), outlen);
	return render_ipv4(c->dpdk_gateway, out, outlen);
}

/* "" is how the config holds control_socket none. */
static int render_control_socket(const struct config *c, char *out, size_t outlen)
{
	const char *s = c->control_socket[0] != '\0' ? c->control_socket : "none";

	return render_done(snprintf(out, outlen, "%s", s), outlen);
}

/* Every key whose setter is its own (config_keys.c's KEY_CUSTOM*), and control_socket
 * whose "none" is stored as "". tests/unit/test_config_reload.c fails for a custom key
 * missing here. */
static const struct custom_key custom_keys[] = {
	{ "listener", render_listener, false, { FIELD(port), FIELD(bind_address) } },
	{ "port", render_port, true, { FIELD(port) } },
	{ "bind_address", render_bind_address, true, { FIELD(bind_address) } },
	{ "max_connections", render_max_connections, false, { FIELD(max_connections) } },
	{ "max_packet_size", render_max_packet_size, false, { FIELD(max_packet_size) } },
	{ "memory_limit", render_memory_limit, false, { FIELD(memory_limit) } },
	{ "persistence_sync", render_persistence_sync, false,
	  { FIELD(persistence_sync), FIELD(persistence_sync_ms) } },
	{ "persistent_client_expiration", render_expiration, false,
	  { FIELD(persistent_client_expiration_ms) } },
	{ "autosave_interval", NULL, false, { { 0, 0 } } },
	{ "autosave_on_changes", NULL, false, { { 0, 0 } } },
	{ "persistence_file", NULL, false, { { 0, 0 } } },
	{ "include_dir", NULL, false, { { 0, 0 } } },
	/* log_type only feeds log_level, which shows the result. */
	{ "log_type", NULL, false, { { 0, 0 } } },
	{ "log_level", render_log_level, false, { FIELD(log_level) } },
	{ "log_dest", render_log_dest, false, { FIELD(log_stderr), FIELD(log_file) } },
	{ "dataplane", render_dataplane, false, { FIELD(dataplane) } },
	{ "dpdk_address", render_dpdk_address, false,
	  { FIELD(dpdk_ip), FIELD(dpdk_prefix_len) } },
	{ "dpdk_gateway", render_dpdk_gateway, false, { FIELD(dpdk_gateway) } },
	{ "control_socket", render_control_socket, false, { FIELD(control_socket) } },
	{ NULL, NULL, false, { { 0, 0 } } },
};

static const struct custom_key *custom_key_find(const struct config_key *k)
{
	for (const struct custom_key *ck = custom_keys; ck->name != NULL; ck++)
		if (strcmp(ck->name, k->name) == 0)
			return ck;
	return NULL;
}

/* The field a generic setter writes (size 0 for a custom key). */
static struct field generic_field(const struct config_key *k)
{
	struct field f = { k->off, 0 };

	switch (config_key_kind(k)) {
	case CONFIG_KIND_BOOL: f.size = sizeof(bool); break;
	case CONFIG_KIND_UINT: f.size = sizeof(unsigned); break;
	case CONFIG_KIND_INT: f.size = sizeof(int); break;
	case CONFIG_KIND_ENUM: f.size = sizeof(int); break;
	case CONFIG_KIND_SIZE: f.size = sizeof(size_t); break;
	case CONFIG_KIND_STRING: f.size = (size_t)k->max + 1; break;
	case CONFIG_KIND_CUSTOM: break;
	}
	return f;
}

int config_key_render(const struct config *c, const struct config_key *k, char *out,
		      size_t outlen)
{
	const struct custom_key *ck = custom_key_find(k);
	const char *field = (const char *)c + k->off;
	int n = -1;

	if (outlen == 0)
		return -ENOSPC;
	out[0] = '\0';
	if (ck != NULL)
		return ck->render != NULL ? ck->render(c, out, outlen) : -ENOENT;
	switch (config_key_kind(k)) {
	case CONFIG_KIND_BOOL:
		n = snprintf(out, outlen, "%s", *(const bool *)field ? "true" : "false");
		break;
	case CONFIG_KIND_UINT:
		n = snprintf(out, outlen, "%u", *(const unsigned *)field);
		break;
	case CONFIG_KIND_INT:
		n = snprintf(out, outlen, "%d", *(const int *)field);
		break;
	case CONFIG_KIND_SIZE:
		n = snprintf(out, outlen, "%zu", *(const size_t *)field);
		break;
	case CONFIG_KIND_STRING:
		n = snprintf(out, outlen, "%.*s", (int)k->max, field);
		break;
	case CONFIG_KIND_ENUM: {
		int i = *(const int *)field, count = 0;

		while (k->words[count] != NULL)
			count++;
		n = i >= 0 && i < count ? snprintf(out, outlen, "%s", k->words[i])
					: snprintf(out, outlen, "%d", i);
		break;
	}
	case CONFIG_KIND_CUSTOM:
		/* A setter of its own not in custom_keys[]: the unit test names it. */
		return -ENOENT;
	}
	return render_done(n, outlen);
}

bool config_key_is_live(const struct config_key *k)
{
	for (size_t i = 0; live_keys[i] != NULL; i++)
		if (strcmp(live_keys[i], k->name) == 0)
			return true;
	return false;
}

void config_diff_free(struct config_diff *d)
{
	for (unsigned i = 0; i < d->n; i++) {
		free(d->v[i].from);
		free(d->v[i].to);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

int config_diff(const struct config *from, const struct config *to,
		struct config_diff *d)
{
	size_t nkeys = 0;

	d->n = 0;
	for (const struct config_key *k = config_keys; k->name != NULL; k++)
		nkeys++;
	d->v = calloc(nkeys, sizeof(*d->v));
	if (d->v == NULL)
		return -ENOMEM;
	for (const struct config_key *k = config_keys; k->name != NULL; k++) {
		const struct custom_key *ck = custom_key_find(k);
		char old[CONFIG_VALUE_TEXT_MAX], new[CONFIG_VALUE_TEXT_MAX];
		struct config_change *ch;

		if (ck != NULL && ck->shown_by_listener)
			continue;
		if (config_key_render(from, k, old, sizeof(old)) < 0 ||
		    config_key_render(to, k, new, sizeof(new)) < 0 || strcmp(old, new) == 0)
			continue;
		ch = &d->v[d->n++];
		ch->key = k->name;
		ch->live = config_key_is_live(k);
		ch->from = strdup(old);
		ch->to = strdup(new);
		if (ch->from == NULL || ch->to == NULL) {
			config_diff_free(d);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Puts <from>'s value of every key that needs a restart into <to>. */
static void keep_restart_keys(const struct config *from, struct config *to)
{
	for (const struct config_key *k = config_keys; k->name != NULL; k++) {
		const struct custom_key *ck = custom_key_find(k);
		struct field one[2] = { generic_field(k), { 0, 0 } };
		const struct field *f = ck != NULL ? ck->fields : one;

		if (config_key_is_live(k))
			continue;
		for (size_t i = 0; i < 2 && f[i].size != 0; i++)
			memcpy((char *)to + f[i].off, (const char *)from + f[i].off, f[i].size);
	}
}

int config_reload(const struct config *cur, const char *path,
		  const char *const *overrides, struct config *next,
		  struct config_diff *d, char *err, size_t errlen)
{
	int rc;

	if (d != NULL) {
		d->n = 0;
		d->v = NULL;
	}
	config_defaults(next);
	if (path != NULL) {
		rc = config_load_file(next, path, err, errlen);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; overrides != NULL && overrides[i] != NULL; i += 2) {
		char msg[512];

		rc = config_set(next, overrides[i], overrides[i + 1], msg, sizeof(msg));
		if (rc < 0)
			return config_fail(err, errlen, rc, "command line: %s", msg);
	}
	rc = config_finalize(next, err, errlen);
	if (rc < 0)
		return rc;
	if (d != NULL && config_diff(cur, next, d) < 0)
		return config_fail(err, errlen, -ENOMEM, "reload: out of memory");
	keep_restart_keys(cur, next);
	return 0;
}
