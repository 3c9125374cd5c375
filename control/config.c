/* config.c - broker configuration: embedded defaults < a mosquitto-style file of
 * "key value" lines < command-line overrides (main applies those with config_set).
 *
 * Every key lives in ONE table, config_keys[] in config_keys.c: its name, its setter, its
 * default (written as in a file; config_defaults() applies it through the setter) and
 * a one-line help. tests/unit/test_config.c checks that table against
 * docs/configuration.md both ways, so a key cannot be added without documenting it.
 *
 * Key names follow mosquitto.conf(5) where the meaning is the same, so that a plain
 * mosquitto.conf for one listener loads unchanged. Mosquitto options Petrel does not
 * implement yet are recognised and refused by name, never silently ignored: an
 * operator who sets password_file must not end up with an open broker.
 *
 * Runs on the main thread before any worker starts; owns no global state. */

#include "config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petrel/log.h"

/* Mosquitto options that mean something Petrel cannot do yet. Refusing them by name
 * tells the operator exactly which line to remove or wait for. mosquitto.conf(5),
 * version 2.0: general, listener, TLS, websockets, plugin/auth and bridge options.
 * docs/configuration.md lists them all (the unit test checks both ways). */
const char *const config_refused_keys[] = {
	/* general */
	"acl_file", "allow_duplicate_messages", "check_retain_source", "clientid_prefixes",
	"connection_messages", "log_facility", "log_timestamp",
	"log_timestamp_format", "max_inflight_bytes",
	"message_size_limit", "password_file", "per_listener_settings",
	"plugin",
	"auth_plugin", "auth_plugin_deny_special_chars", "global_plugin", "psk_file",
	"psk_hint", "retry_interval", "set_tcp_nodelay",
	"upgrade_outgoing_qos", "user", "enable_control_api", "max_qos",
	"max_topic_alias", "accept_protocol_versions",
	/* listener */
	"bind_interface", "http_dir", "mount_point", "protocol", "socket_domain",
	"use_username_as_clientid", "websockets_log_level", "websockets_headers_size",
	"websockets_origin",
	/* TLS */
	"cafile", "capath", "certfile", "keyfile", "ciphers", "ciphers_tls1.3",
	"crlfile", "dhparamfile", "require_certificate", "tls_engine",
	"tls_engine_kpass_sha1", "tls_keyform", "tls_version",
	"use_identity_as_username", "use_subject_as_username",
	/* bridges */
	"connection", "address", "addresses", "bridge_attempt_unsubscribe",
	"bridge_bind_address", "bridge_cafile", "bridge_capath", "bridge_certfile",
	"bridge_keyfile", "bridge_alpn", "bridge_ciphers", "bridge_identity",
	"bridge_insecure", "bridge_max_packet_size", "bridge_outgoing_retain",
	"bridge_protocol_version", "bridge_psk", "bridge_require_ocsp",
	"bridge_tls_version", "bridge_reload_type", "cleansession", "clientid",
	"idle_timeout", "keepalive_interval", "local_cleansession", "local_clientid",
	"local_password", "local_username", "notifications",
	"notifications_local_only", "notification_topic", "remote_clientid",
	"remote_password", "remote_username", "restart_timeout", "round_robin",
	"start_type", "threshold", "topic", "try_private",
	NULL,
};
/* plugin_opt_* and auth_opt_* are families, not single keys. */
const char *const config_refused_prefixes[] = { "plugin_opt_", "auth_opt_", NULL };

/* printf into <err>, tolerating a NULL or zero-sized buffer. Returns <rc>. */
int config_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

bool config_is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' ||
	       ch == '\f';
}

/* Splits <value> into at most <max> whitespace-separated tokens written to <tok>
 * (each at most toklen-1 chars). Returns the number of tokens, or -E2BIG if there are
 * more than <max> (then <tok>[max] is not written; <extra> points at the first extra
 * token), or -ENAMETOOLONG if one token does not fit. */
int config_split_tokens(const char *value, char tok[][PATH_MAX], size_t toklen,
			int max, const char **extra)
{
	const char *p = value;
	int n = 0;

	for (;;) {
		const char *start;
		size_t len;

		while (*p != '\0' && config_is_blank(*p))
			p++;
		if (*p == '\0')
			return n;
		if (n == max) {
			*extra = p;
			return -E2BIG;
		}
		start = p;
		while (*p != '\0' && !config_is_blank(*p))
			p++;
		len = (size_t)(p - start);
		if (len >= toklen)
			return -ENAMETOOLONG;
		memcpy(tok[n], start, len);
		tok[n][len] = '\0';
		n++;
	}
}

/* Returns the value with surrounding whitespace removed, copied into <out>. For keys
 * whose value is free text (paths may contain spaces, as in mosquitto). */
int config_trim_copy(const char *value, char *out, size_t outlen)
{
	const char *end;
	size_t len;

	while (*value != '\0' && config_is_blank(*value))
		value++;
	end = value + strlen(value);
	while (end > value && config_is_blank(end[-1]))
		end--;
	len = (size_t)(end - value);
	if (len >= outlen)
		return -ENAMETOOLONG;
	memcpy(out, value, len);
	out[len] = '\0';
	return 0;
}

/* Parses all of <s> as a decimal integer in [min, max]. Signs, blanks, hex and
 * trailing garbage are refused, so "10k" or "1e3" never silently become 10 or 1. */
int config_parse_i64(const char *s, long long min, long long max, long long *out)
{
	const char *p = s;
	bool neg = false;
	unsigned long long v;
	char *end;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v > (unsigned long long)LLONG_MAX)
		return -ERANGE;
	*out = neg ? -(long long)v : (long long)v;
	if (*out < min || *out > max)
		return -ERANGE;
	return 0;
}

/* Unsigned variant for sizes, whose range may exceed LLONG_MAX. */
int config_parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || *out > max)
		return -ERANGE;
	return 0;
}

bool config_is_ip_literal(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

/* Reads the single token of <value> into <tok> or explains why not. */
int config_one_token(const char *key, const char *value, char tok[][PATH_MAX],
		     char *err, size_t errlen)
{
	const char *extra = NULL;
	int n = config_split_tokens(value, tok, PATH_MAX, 1, &extra);

	if (n == -E2BIG)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' takes one value, but '%s' follows it", key, extra);
	if (n < 0)
		return config_fail(err, errlen, -EINVAL, "'%s': value too long", key);
	if (n == 0)
		return config_fail(err, errlen, -EINVAL, "'%s' needs a value", key);
	return 0;
}

/* ---- applying settings ------------------------------------------------------------ */

/* Returns 0, -EINVAL, or -ENOENT for a key Petrel does not have (unknown, or a
 * mosquitto option not supported yet: both are "no such key here", and the message
 * tells them apart). */
static int config_apply(struct config *c, const char *key, const char *value,
			struct config_src *src, char *err, size_t errlen)
{
	for (size_t i = 0; config_refused_keys[i] != NULL; i++) {
		if (strcmp(key, config_refused_keys[i]) == 0)
			return config_fail(err, errlen, -ENOENT, "'%s' is a mosquitto "
					   "option Petrel does not support yet", key);
	}
	for (size_t i = 0; config_refused_prefixes[i] != NULL; i++) {
		const char *pre = config_refused_prefixes[i];

		if (strncmp(key, pre, strlen(pre)) == 0)
			return config_fail(err, errlen, -ENOENT, "'%s' is a mosquitto "
					   "option Petrel does not support yet", key);
	}
	if (value == NULL)
		value = "";
	for (const struct config_key *k = config_keys; k->name != NULL; k++) {
		if (strcmp(key, k->name) == 0)
			return k->set(c, k, value, src, err, errlen);
	}
	return config_fail(err, errlen, -ENOENT, "unknown option '%s'", key);
}

void config_defaults(struct config *c)
{
	struct config_src src = { .from_file = false };
	char err[256];

	memset(c, 0, sizeof(*c));
	for (const struct config_key *k = config_keys; k->name != NULL; k++) {
		/* A default that its own setter refuses is a bug in the table, caught
		 * by the first test that runs; never a runtime condition. */
		if (k->def != NULL && k->set(c, k, k->def, &src, err, sizeof(err)) < 0) {
			fprintf(stderr, "petrel: bad default of %s: %s\n", k->name, err);
			abort();
		}
	}
}

int config_set(struct config *c, const char *key, const char *value, char *err,
	       size_t errlen)
{
	struct config_src src = { .from_file = false };

	if (key == NULL || key[0] == '\0')
		return config_fail(err, errlen, -EINVAL, "empty option name");
	return config_apply(c, key, value, &src, err, errlen);
}

/* Adds one "where: why" line to the file's error list. */
static void config_report(struct config_src *src, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void config_report(struct config_src *src, int rc, const char *fmt, ...)
{
	char line[PATH_MAX + 600];
	size_t len;
	va_list ap;

	if (src->nerr++ == 0)
		src->first_rc = rc;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (src->err == NULL || src->errlen == 0)
		return;
	len = strlen(line);
	if (src->errused == 0) {
		/* The first line always goes in, truncated if it must. */
		snprintf(src->err, src->errlen, "%s", line);
		src->errused = strlen(src->err);
		return;
	}
	if (src->errused + 1 + len >= src->errlen) {
		src->nerr_dropped++;
		return;
	}
	src->err[src->errused++] = '\n';
	memcpy(src->err + src->errused, line, len + 1);
	src->errused += len;
}

/* Reads one file's lines into <c>; every bad line is reported into <src> and reading
 * goes on. Returns 0 once the file was read, or -errno if it could not be. */
int config_load_path(struct config *c, const char *path, struct config_src *src)
{
	char msg[PATH_MAX + 300];
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t len;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		config_report(src, rc, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *key;
		char *value;
		char *p;

		lineno++;
		/* Trailing blanks and a CR (files edited on Windows) are not part of
		 * the value. */
		while (len > 0 && config_is_blank(line[len - 1]))
			line[--len] = '\0';
		if ((size_t)len != strlen(line)) {
			config_report(src, -EINVAL, "%s:%u: NUL byte in line", path, lineno);
			continue;
		}
		key = line;
		while (*key != '\0' && config_is_blank(*key))
			key++;
		/* As in mosquitto, '#' comments a whole line only: "port 1883 # x"
		 * is an error (extra token), not a comment. */
		if (*key == '\0' || *key == '#')
			continue;
		p = key;
		while (*p != '\0' && !config_is_blank(*p))
			p++;
		value = p;
		if (*p != '\0') {
			*p = '\0';
			value = p + 1;
		}
		src->path = path;
		src->line = lineno;
		rc = config_apply(c, key, value, src, msg, sizeof(msg));
		if (rc < 0)
			config_report(src, rc, "%s:%u: %s", path, lineno, msg);
	}
	rc = 0;
	if (ferror(f)) {
		rc = -EIO;
		config_report(src, rc, "%s: read error after line %u", path, lineno);
	}
	free(line);
	fclose(f);
	return rc;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct config_src src = { .from_file = true, .err = err, .errlen = errlen };

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	config_load_path(c, path, &src);
	if (src.nerr_dropped > 0 && src.err != NULL) {
		char more[64];
		size_t n = (size_t)snprintf(more, sizeof(more), "\n(%u more errors)",
					    src.nerr_dropped);

		if (src.errused + n < src.errlen)
			memcpy(src.err + src.errused, more, n + 1);
	}
	if (src.nerr > 0)
		return src.first_rc;
	/* log_level is explicit and ours; the log_type lines only decide when it is
	 * absent. */
	if (src.log_type_seen && !src.log_level_seen)
		c->log_level = (int)src.log_type_max;
	return 0;
}

/* CPUs this process may run on (taskset, cpusets, isolcpus), or 0 if unknown. */
static unsigned config_allowed_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	return (unsigned)CPU_COUNT(&set);
}

/* <n> rounded up to a multiple of the OS page size: LMDB wants its map size so
 * (lmdb.h, mdb_env_set_mapsize). */
static size_t config_page_round(size_t n)
{
	long psz = sysconf(_SC_PAGESIZE);
	size_t page = psz > 0 ? (size_t)psz : 4096;

	return (n + page - 1) / page * page;
}

int config_finalize(struct config *c, char *err, size_t errlen)
{
	if (c->workers == 0) {
		unsigned n = config_allowed_cpus();

		c->workers = n < 1 ? 1 : n;
		if (c->workers > CONFIG_WORKERS_MAX)
			c->workers = CONFIG_WORKERS_MAX;
	}
	if (c->workers > CONFIG_WORKERS_MAX)
		return config_fail(err, errlen, -EINVAL, "workers must be at most %u, got %u",
				   CONFIG_WORKERS_MAX, c->workers);
	if (c->max_inflight_messages == 0)
		c->max_inflight_messages = CONFIG_INFLIGHT_MAX;
	if (c->memory_limit == CONFIG_MEMORY_LIMIT_AUTO) {
		/* Half the machine: room for the broker's own structures and the kernel's
		 * socket buffers beside what clients make it hold. */
		long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

		c->memory_limit = pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz / 2 : 0;
	}
	if (c->max_inflight_messages > CONFIG_INFLIGHT_MAX)
		return config_fail(err, errlen, -EINVAL, "max_inflight_messages must be at "
				   "most %u (packet ids are 16 bits), got %u",
				   CONFIG_INFLIGHT_MAX, c->max_inflight_messages);
	if (c->max_packet_size == 0)
		c->max_packet_size = CONFIG_PACKET_SIZE_MAX;
	if (c->max_packet_size < CONFIG_PACKET_SIZE_MIN ||
	    c->max_packet_size > CONFIG_PACKET_SIZE_MAX)
		return config_fail(err, errlen, -EINVAL, "max_packet_size must be from %u "
				   "to %u, got %zu", CONFIG_PACKET_SIZE_MIN,
				   CONFIG_PACKET_SIZE_MAX, c->max_packet_size);
	if (memchr(c->bind_address, '\0', sizeof(c->bind_address)) == NULL ||
	    !config_is_ip_literal(c->bind_address))
		return config_fail(err, errlen, -EINVAL, "bind_address must be an IPv4 or "
				   "IPv6 address, got '%.*s'", (int)sizeof(c->bind_address),
				   c->bind_address);
	if (memchr(c->auto_id_prefix, '\0', sizeof(c->auto_id_prefix)) == NULL)
		return config_fail(err, errlen, -EINVAL, "auto_id_prefix is not terminated");
	if (memchr(c->persistence_location, '\0', sizeof(c->persistence_location)) == NULL)
		return config_fail(err, errlen, -EINVAL,
				   "persistence_location is not terminated");
	if (c->persistence && c->persistence_location[0] == '\0')
		return config_fail(err, errlen, -EINVAL, "persistence is on but "
				   "persistence_location is empty");
	if (c->persistence_sync == PERSIST_SYNC_INTERVAL &&
	    (c->persistence_sync_ms == 0 || c->persistence_sync_ms > CONFIG_SYNC_MS_MAX))
		return config_fail(err, errlen, -EINVAL, "persistence_sync must be from 1 to "
				   "%u ms, got %u", CONFIG_SYNC_MS_MAX, c->persistence_sync_ms);
	if (c->persistence_max_size < CONFIG_STORE_SIZE_MIN ||
	    c->persistence_max_size > CONFIG_STORE_SIZE_MAX)
		return config_fail(err, errlen, -EINVAL, "persistence_max_size must be from "
				   "%llu to %llu bytes, got %zu", CONFIG_STORE_SIZE_MIN,
				   CONFIG_STORE_SIZE_MAX, c->persistence_max_size);
	c->persistence_max_size = config_page_round(c->persistence_max_size);
	if (c->queue_full_policy != QUEUE_FULL_DROP_NEW &&
	    c->queue_full_policy != QUEUE_FULL_DROP_OLDEST &&
	    c->queue_full_policy != QUEUE_FULL_BACKPRESSURE)
		return config_fail(err, errlen, -EINVAL, "queue_full_policy %d is not a "
				   "policy", (int)c->queue_full_policy);
	if (c->max_connections == 0 || c->max_connections < -1)
		return config_fail(err, errlen, -EINVAL, "max_connections must be -1 (no "
				   "limit) or positive, got %d", c->max_connections);
	if (c->max_keepalive > CONFIG_KEEPALIVE_MAX)
		return config_fail(err, errlen, -EINVAL, "max_keepalive must be at most %u "
				   "seconds, got %u", CONFIG_KEEPALIVE_MAX, c->max_keepalive);
	if (c->connect_timeout == 0 || c->connect_timeout > CONFIG_CONNECT_TIMEOUT_MAX)
		return config_fail(err, errlen, -EINVAL, "connect_timeout must be from 1 to "
				   "%u seconds, got %u", CONFIG_CONNECT_TIMEOUT_MAX,
				   c->connect_timeout);
	if (c->max_outgoing_bytes == 0)
		return config_fail(err, errlen, -EINVAL, "max_outgoing_bytes must be at "
				   "least 1");
	if (c->dpdk_gateway != 0 && c->dpdk_prefix_len < 32 &&
	    (c->dpdk_gateway ^ c->dpdk_ip) >> (32 - c->dpdk_prefix_len) != 0)
		return config_fail(err, errlen, -EINVAL, "dpdk_gateway %u.%u.%u.%u is not "
				   "on the link of dpdk_address %u.%u.%u.%u/%u",
				   c->dpdk_gateway >> 24, (c->dpdk_gateway >> 16) & 255,
				   (c->dpdk_gateway >> 8) & 255, c->dpdk_gateway & 255,
				   c->dpdk_ip >> 24, (c->dpdk_ip >> 16) & 255,
				   (c->dpdk_ip >> 8) & 255, c->dpdk_ip & 255,
				   c->dpdk_prefix_len);
	if (c->dpdk_gateway != 0 && c->dpdk_gateway == c->dpdk_ip)
		return config_fail(err, errlen, -EINVAL, "dpdk_gateway is dpdk_address "
				   "itself");
	if (c->tcp_syn_backlog > c->tcp_max_connections)
		return config_fail(err, errlen, -EINVAL, "tcp_syn_backlog (%u) must not "
				   "exceed tcp_max_connections (%u)", c->tcp_syn_backlog,
				   c->tcp_max_connections);
	if (c->log_level < LOG_ERR || c->log_level > LOG_DEBUG)
		return config_fail(err, errlen, -EINVAL, "log_level %d is not a level",
				   c->log_level);
	/* Legal but without effect: a policy that only acts on a full queue, with no
	 * limit that could ever fill it. Say so rather than refuse. */
	if (c->queue_full_policy != QUEUE_FULL_DROP_NEW && c->max_queued_messages == 0 &&
	    c->max_queued_bytes == 0)
		log_warn("queue_full_policy %s has no effect: max_queued_messages and "
			 "max_queued_bytes are both 0 (unlimited)",
			 queue_full_policy_name(c->queue_full_policy));
	return 0;
}

struct config_ref *config_ref_new(const struct config *c)
{
	struct config_ref *r = malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	atomic_init(&r->refs, 1);
	r->cfg = *c;
	return r;
}

void config_ref_get(struct config_ref *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void config_ref_put(struct config_ref *r)
{
	if (r != NULL && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		free(r);
}
