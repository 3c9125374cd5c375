/* config.c - broker configuration: embedded defaults < a mosquitto-style file of
 * "key value" lines < command-line overrides (main applies those with config_set).
 *
 * Key names follow mosquitto.conf(5) where the meaning is the same, so that a plain
 * mosquitto.conf for one listener loads unchanged. Mosquitto options Petrel does not
 * implement yet are recognised and refused by name, never silently ignored: an
 * operator who sets password_file must not end up with an open broker.
 * docs/configuration.md documents every key; keep the two in step.
 *
 * Runs on the main thread before any worker starts; owns no global state. */

#include "petrel/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petrel/log.h"

/* MQTT 3.1.1 2.2.3: a Remaining Length of at most 268,435,455 plus the largest fixed
 * header (1 type byte + 4 length bytes) = the largest packet the protocol can carry. */
#define CONFIG_PACKET_SIZE_MAX 268435460u
/* Smallest max_packet_size we accept: a CONNECT with an empty client id and no flags
 * is 14 bytes; below 20 no real client could even connect. */
#define CONFIG_PACKET_SIZE_MIN 20u
/* Packet identifiers are 16 bits and 0 is not allowed (MQTT-2.3.1-1). */
#define CONFIG_INFLIGHT_MAX 65535u
/* Keep Alive is a 16-bit field of seconds (MQTT 3.1.2.10). */
#define CONFIG_KEEPALIVE_MAX 65535u
#define CONFIG_WORKERS_MAX 1024u
#define CONFIG_CONNECT_TIMEOUT_MAX 3600u

/* Where a setting comes from. A file line is stricter than the command line (port 0
 * means "any free port", which only makes sense for tests passing -p 0), and some
 * keys combine across the lines of one file. */
struct config_src {
	bool from_file;
	bool listener_seen;		/* a second "listener" line is refused */
	bool log_level_seen;		/* log_level wins over log_type in a file */
	bool log_type_seen;
	enum log_level log_type_max;	/* most verbose log_type of the file */
};

/* Mosquitto options that mean something Petrel cannot do yet. Refusing them by name
 * tells the operator exactly which line to remove or wait for. mosquitto.conf(5),
 * version 2.0: general, listener, TLS, websockets, plugin/auth and bridge options. */
static const char *const config_mosquitto_unsupported[] = {
	/* general */
	"acl_file", "allow_duplicate_messages", "autosave_interval",
	"autosave_on_changes", "check_retain_source", "clientid_prefixes",
	"connection_messages", "include_dir", "log_facility", "log_timestamp",
	"log_timestamp_format", "max_inflight_bytes", "memory_limit",
	"message_size_limit", "password_file", "per_listener_settings",
	"persistence_file", "persistent_client_expiration", "pid_file", "plugin",
	"auth_plugin", "auth_plugin_deny_special_chars", "global_plugin", "psk_file",
	"psk_hint", "retry_interval", "set_tcp_nodelay", "sys_interval",
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
};

/* printf into <err>, tolerating a NULL or zero-sized buffer. Returns <rc>. */
static int config_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int config_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' ||
	       ch == '\f';
}

/* Splits <value> into at most <max> whitespace-separated tokens written to <tok>
 * (each at most toklen-1 chars). Returns the number of tokens, or -E2BIG if there are
 * more than <max> (then <tok>[max] is not written; <extra> points at the first extra
 * token), or -ENAMETOOLONG if one token does not fit. */
static int split_tokens(const char *value, char tok[][PATH_MAX], size_t toklen,
			int max, const char **extra)
{
	const char *p = value;
	int n = 0;

	for (;;) {
		const char *start;
		size_t len;

		while (*p != '\0' && is_blank(*p))
			p++;
		if (*p == '\0')
			return n;
		if (n == max) {
			*extra = p;
			return -E2BIG;
		}
		start = p;
		while (*p != '\0' && !is_blank(*p))
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
static int trim_copy(const char *value, char *out, size_t outlen)
{
	const char *end;
	size_t len;

	while (*value != '\0' && is_blank(*value))
		value++;
	end = value + strlen(value);
	while (end > value && is_blank(end[-1]))
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
static int parse_i64(const char *s, long long min, long long max, long long *out)
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
static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
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

static bool is_ip_literal(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

/* Reads the single token of <value> into <tok> or explains why not. */
static int one_token(const char *key, const char *value, char tok[][PATH_MAX],
		     char *err, size_t errlen)
{
	const char *extra = NULL;
	int n = split_tokens(value, tok, PATH_MAX, 1, &extra);

	if (n == -E2BIG)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' takes one value, but '%s' follows it", key, extra);
	if (n < 0)
		return config_fail(err, errlen, -EINVAL, "'%s': value too long", key);
	if (n == 0)
		return config_fail(err, errlen, -EINVAL, "'%s' needs a value", key);
	return 0;
}

static int set_bool(const char *key, const char *value, bool *out, char *err,
		    size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = one_token(key, value, tok, err, errlen);

	if (rc < 0)
		return rc;
	/* mosquitto accepts exactly these two words; so do we, so a file means the
	 * same to both brokers. */
	if (strcmp(tok[0], "true") == 0)
		*out = true;
	else if (strcmp(tok[0], "false") == 0)
		*out = false;
	else
		return config_fail(err, errlen, -EINVAL,
				   "'%s' expects true or false, got '%s'", key, tok[0]);
	return 0;
}

static int set_int(const char *key, const char *value, long long min, long long max,
		   long long *out, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = one_token(key, value, tok, err, errlen);

	if (rc < 0)
		return rc;
	rc = parse_i64(tok[0], min, max, out);
	if (rc == -EINVAL)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' expects a whole number, got '%s'", key, tok[0]);
	if (rc == -ERANGE)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' must be from %lld to %lld, got '%s'", key, min, max,
				   tok[0]);
	return 0;
}

static int set_size(const char *key, const char *value, unsigned long long min,
		    unsigned long long max, size_t *out, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	unsigned long long v;
	int rc = one_token(key, value, tok, err, errlen);

	if (rc < 0)
		return rc;
	rc = parse_u64(tok[0], max, &v);
	if (rc == -EINVAL)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' expects a number of bytes, got '%s'", key, tok[0]);
	if (rc == -ERANGE || v < min)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' must be from %llu to %llu bytes, got '%s'", key, min,
				   max, tok[0]);
	*out = (size_t)v;
	return 0;
}

static int set_port(const char *key, const char *s, const struct config_src *src,
		    uint16_t *out, char *err, size_t errlen)
{
	long long min = src->from_file ? 1 : 0;
	long long v;
	int rc = parse_i64(s, min, 65535, &v);

	if (rc == -EINVAL)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' expects a port number, got '%s'", key, s);
	if (rc == -ERANGE)
		return config_fail(err, errlen, -EINVAL, "'%s': port must be from %lld to "
				   "65535, got '%s'", key, min, s);
	*out = (uint16_t)v;
	return 0;
}

static int set_bind_address(const char *key, const char *s, struct config *c,
			    char *err, size_t errlen)
{
	/* A literal only: resolving names would make start-up depend on DNS, and
	 * the listener binds exactly one address. */
	if (strlen(s) >= sizeof(c->bind_address) || !is_ip_literal(s))
		return config_fail(err, errlen, -EINVAL,
				   "'%s' expects an IPv4 or IPv6 address such as 127.0.0.1 "
				   "or ::1, got '%s'", key, s);
	snprintf(c->bind_address, sizeof(c->bind_address), "%s", s);
	return 0;
}

static int set_listener(struct config *c, const char *value, struct config_src *src,
			char *err, size_t errlen)
{
	char tok[2][PATH_MAX];
	const char *extra = NULL;
	int n = split_tokens(value, tok, PATH_MAX, 2, &extra);
	uint16_t port;
	int rc;

	if (n == -E2BIG)
		return config_fail(err, errlen, -EINVAL, "'listener' takes a port and an "
				   "optional address, but '%s' follows them", extra);
	if (n < 0)
		return config_fail(err, errlen, -EINVAL, "'listener': value too long");
	if (n == 0)
		return config_fail(err, errlen, -EINVAL, "'listener' needs a port");
	if (src->listener_seen)
		return config_fail(err, errlen, -EINVAL, "a second 'listener' is not "
				   "supported yet; Petrel serves one listener");
	rc = set_port("listener", tok[0], src, &port, err, errlen);
	if (rc < 0)
		return rc;
	/* As in mosquitto, a listener without an address listens on every interface.
	 * (mosquitto also opens IPv6; write "listener PORT ::" for that.) */
	rc = set_bind_address("listener", n == 2 ? tok[1] : "0.0.0.0", c, err, errlen);
	if (rc < 0)
		return rc;
	c->port = port;
	if (src->from_file)
		src->listener_seen = true;
	return 0;
}

static int set_log_type(struct config *c, const char *value, struct config_src *src,
			char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	enum log_level l;
	int rc = one_token("log_type", value, tok, err, errlen);

	if (rc < 0)
		return rc;
	/* mosquitto's log_type selects message classes and may be repeated; our
	 * levels nest, so the most verbose class named wins. "none" would silence
	 * mosquitto; we still print errors, which an operator always needs. */
	if (strcmp(tok[0], "all") == 0)
		l = LOG_DEBUG;
	else if (strcmp(tok[0], "none") == 0)
		l = LOG_ERR;
	else if (strcmp(tok[0], "info") == 0 || log_level_parse(tok[0], &l) < 0)
		/* "info" is our log_level spelling, not a mosquitto log_type. */
		return config_fail(err, errlen, -EINVAL, "'log_type' expects one of error, "
				   "warning, notice, information, debug, all, none; got '%s'",
				   tok[0]);
	if (!src->from_file) {
		c->log_level = (int)l;
		return 0;
	}
	if (!src->log_type_seen || l > src->log_type_max)
		src->log_type_max = l;
	src->log_type_seen = true;
	return 0;
}

static int set_log_level(struct config *c, const char *value, struct config_src *src,
			 char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	enum log_level l;
	int rc = one_token("log_level", value, tok, err, errlen);

	if (rc < 0)
		return rc;
	if (log_level_parse(tok[0], &l) < 0)
		return config_fail(err, errlen, -EINVAL, "'log_level' expects one of error, "
				   "warning, notice, info, debug; got '%s'", tok[0]);
	c->log_level = (int)l;
	src->log_level_seen = true;
	return 0;
}

static int set_string(const char *key, const char *value, char *out, size_t outlen,
		      char *err, size_t errlen)
{
	char tmp[PATH_MAX];

	if (trim_copy(value, tmp, sizeof(tmp)) < 0 || strlen(tmp) >= outlen)
		return config_fail(err, errlen, -EINVAL, "'%s' must be shorter than %zu "
				   "characters", key, outlen);
	if (tmp[0] == '\0')
		return config_fail(err, errlen, -EINVAL, "'%s' needs a value", key);
	memcpy(out, tmp, strlen(tmp) + 1);
	return 0;
}

/* The one place that knows every key. Returns 0, -EINVAL, or -ENOENT for a key
 * Petrel does not have (unknown, or a mosquitto option not supported yet: both are
 * "no such key here", and the message tells them apart). */
static int config_apply(struct config *c, const char *key, const char *value,
			struct config_src *src, char *err, size_t errlen)
{
	long long v;
	int rc;

	for (size_t i = 0; i < sizeof(config_mosquitto_unsupported) /
				   sizeof(config_mosquitto_unsupported[0]); i++) {
		if (strcmp(key, config_mosquitto_unsupported[i]) == 0)
			return config_fail(err, errlen, -ENOENT, "'%s' is a mosquitto "
					   "option Petrel does not support yet", key);
	}
	/* plugin_opt_* and auth_opt_* are families, not single keys. */
	if (strncmp(key, "plugin_opt_", 11) == 0 || strncmp(key, "auth_opt_", 9) == 0)
		return config_fail(err, errlen, -ENOENT, "'%s' is a mosquitto option "
				   "Petrel does not support yet", key);

	if (value == NULL)
		value = "";

	if (strcmp(key, "listener") == 0)
		return set_listener(c, value, src, err, errlen);
	if (strcmp(key, "port") == 0) {
		/* mosquitto's deprecated default-listener port: changes the port only. */
		char tok[1][PATH_MAX];

		rc = one_token(key, value, tok, err, errlen);
		return rc < 0 ? rc : set_port(key, tok[0], src, &c->port, err, errlen);
	}
	if (strcmp(key, "bind_address") == 0) {
		char tok[1][PATH_MAX];

		rc = one_token(key, value, tok, err, errlen);
		return rc < 0 ? rc : set_bind_address(key, tok[0], c, err, errlen);
	}
	if (strcmp(key, "workers") == 0) {
		rc = set_int(key, value, 0, CONFIG_WORKERS_MAX, &v, err, errlen);
		if (rc == 0)
			c->workers = (unsigned)v;
		return rc;
	}
	if (strcmp(key, "allow_anonymous") == 0)
		return set_bool(key, value, &c->allow_anonymous, err, errlen);
	if (strcmp(key, "allow_zero_length_clientid") == 0)
		return set_bool(key, value, &c->allow_zero_length_clientid, err, errlen);
	if (strcmp(key, "auto_id_prefix") == 0)
		return set_string(key, value, c->auto_id_prefix, sizeof(c->auto_id_prefix),
				  err, errlen);
	if (strcmp(key, "max_inflight_messages") == 0) {
		rc = set_int(key, value, 0, CONFIG_INFLIGHT_MAX, &v, err, errlen);
		if (rc == 0)
			c->max_inflight_messages = (unsigned)v;
		return rc;
	}
	if (strcmp(key, "max_queued_messages") == 0) {
		rc = set_int(key, value, 0, UINT_MAX, &v, err, errlen);
		if (rc == 0)
			c->max_queued_messages = (unsigned)v;
		return rc;
	}
	if (strcmp(key, "max_queued_bytes") == 0)
		return set_size(key, value, 0, SIZE_MAX, &c->max_queued_bytes, err, errlen);
	if (strcmp(key, "queue_full_policy") == 0) {
		char tok[1][PATH_MAX];

		rc = one_token(key, value, tok, err, errlen);
		if (rc < 0)
			return rc;
		if (strcmp(tok[0], "drop_new") == 0)
			c->queue_full_policy = QUEUE_FULL_DROP_NEW;
		else if (strcmp(tok[0], "drop_oldest") == 0)
			c->queue_full_policy = QUEUE_FULL_DROP_OLDEST;
		else if (strcmp(tok[0], "backpressure") == 0)
			c->queue_full_policy = QUEUE_FULL_BACKPRESSURE;
		else
			return config_fail(err, errlen, -EINVAL, "'queue_full_policy' "
					   "expects drop_new, drop_oldest or backpressure, "
					   "got '%s'", tok[0]);
		return 0;
	}
	if (strcmp(key, "queue_qos0_messages") == 0)
		return set_bool(key, value, &c->queue_qos0_messages, err, errlen);
	if (strcmp(key, "max_packet_size") == 0) {
		size_t sz;

		rc = set_size(key, value, 0, CONFIG_PACKET_SIZE_MAX, &sz, err, errlen);
		if (rc < 0)
			return rc;
		if (sz != 0 && sz < CONFIG_PACKET_SIZE_MIN)
			return config_fail(err, errlen, -EINVAL, "'max_packet_size' must "
					   "be 0 (protocol maximum) or from %u to %u bytes, "
					   "got '%zu'", CONFIG_PACKET_SIZE_MIN,
					   CONFIG_PACKET_SIZE_MAX, sz);
		c->max_packet_size = sz;
		return 0;
	}
	if (strcmp(key, "max_connections") == 0) {
		rc = set_int(key, value, -1, INT_MAX, &v, err, errlen);
		if (rc < 0)
			return rc;
		if (v == 0)
			return config_fail(err, errlen, -EINVAL, "'max_connections 0' would "
					   "refuse every client; use -1 for no limit");
		c->max_connections = (int)v;
		return 0;
	}
	if (strcmp(key, "max_keepalive") == 0) {
		rc = set_int(key, value, 0, CONFIG_KEEPALIVE_MAX, &v, err, errlen);
		if (rc == 0)
			c->max_keepalive = (unsigned)v;
		return rc;
	}
	if (strcmp(key, "connect_timeout") == 0) {
		rc = set_int(key, value, 1, CONFIG_CONNECT_TIMEOUT_MAX, &v, err, errlen);
		if (rc == 0)
			c->connect_timeout = (unsigned)v;
		return rc;
	}
	if (strcmp(key, "max_outgoing_bytes") == 0)
		return set_size(key, value, 1, SIZE_MAX, &c->max_outgoing_bytes, err, errlen);
	if (strcmp(key, "retain_available") == 0)
		return set_bool(key, value, &c->retain_available, err, errlen);
	/* Subscription bounds (issue 6): no "unlimited", memory stays bounded. */
	if (strcmp(key, "max_subscriptions_per_client") == 0) {
		rc = set_int(key, value, 1, UINT_MAX, &v, err, errlen);
		if (rc == 0)
			c->max_subscriptions_per_client = (unsigned)v;
		return rc;
	}
	if (strcmp(key, "max_filters_per_subscribe") == 0) {
		rc = set_int(key, value, 1, UINT_MAX, &v, err, errlen);
		if (rc == 0)
			c->max_filters_per_subscribe = (unsigned)v;
		return rc;
	}
	if (strcmp(key, "persistence") == 0)
		return set_bool(key, value, &c->persistence, err, errlen);
	if (strcmp(key, "persistence_location") == 0)
		return set_string(key, value, c->persistence_location,
				  sizeof(c->persistence_location), err, errlen);
	if (strcmp(key, "log_type") == 0)
		return set_log_type(c, value, src, err, errlen);
	if (strcmp(key, "log_level") == 0)
		return set_log_level(c, value, src, err, errlen);
	if (strcmp(key, "log_dest") == 0) {
		/* Petrel logs to stderr only; accept the one mosquitto destination that
		 * means the same, refuse the rest by name. */
		char tok[1][PATH_MAX];
		const char *extra = NULL;
		int n = split_tokens(value, tok, PATH_MAX, 1, &extra);

		if (n == 0)
			return config_fail(err, errlen, -EINVAL, "'log_dest' needs a value");
		if (n == 1 && strcmp(tok[0], "stderr") == 0)
			return 0;
		return config_fail(err, errlen, -ENOENT, "'log_dest %s' is a mosquitto "
				   "option Petrel does not support yet (Petrel logs to "
				   "stderr)", n == -ENAMETOOLONG ? "..." : tok[0]);
	}
	return config_fail(err, errlen, -ENOENT, "unknown option '%s'", key);
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->bind_address, sizeof(c->bind_address), "%s", "127.0.0.1");
	c->port = 1883;
	c->workers = 0;
	c->allow_anonymous = true;
	c->allow_zero_length_clientid = true;
	snprintf(c->auto_id_prefix, sizeof(c->auto_id_prefix), "%s", "auto-");
	c->max_inflight_messages = 20;
	c->max_queued_messages = 1000;
	c->max_queued_bytes = 0;
	c->queue_full_policy = QUEUE_FULL_BACKPRESSURE;
	c->queue_qos0_messages = false;
	c->max_packet_size = 0;
	c->max_connections = -1;
	c->max_keepalive = 0;
	c->connect_timeout = 10;
	c->max_outgoing_bytes = 1024 * 1024;
	c->retain_available = true;
	c->max_subscriptions_per_client = 10000;
	c->max_filters_per_subscribe = 1000;
	c->persistence = false;
	snprintf(c->persistence_location, sizeof(c->persistence_location), "%s", "./data");
	c->log_level = LOG_NOTICE;
}

int config_set(struct config *c, const char *key, const char *value, char *err,
	       size_t errlen)
{
	struct config_src src = { .from_file = false };

	if (key == NULL || key[0] == '\0')
		return config_fail(err, errlen, -EINVAL, "empty option name");
	return config_apply(c, key, value, &src, err, errlen);
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct config_src src = { .from_file = true };
	char msg[512];
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t len;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		return config_fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *key;
		char *value;
		char *p;

		lineno++;
		/* Trailing blanks and a CR (files edited on Windows) are not part of
		 * the value. */
		while (len > 0 && is_blank(line[len - 1]))
			line[--len] = '\0';
		if ((size_t)len != strlen(line)) {
			rc = config_fail(err, errlen, -EINVAL, "%s:%u: NUL byte in line",
					 path, lineno);
			goto out;
		}
		key = line;
		while (*key != '\0' && is_blank(*key))
			key++;
		/* As in mosquitto, '#' comments a whole line only: "port 1883 # x"
		 * is an error (extra token), not a comment. */
		if (*key == '\0' || *key == '#')
			continue;
		p = key;
		while (*p != '\0' && !is_blank(*p))
			p++;
		value = p;
		if (*p != '\0') {
			*p = '\0';
			value = p + 1;
		}
		rc = config_apply(c, key, value, &src, msg, sizeof(msg));
		if (rc < 0) {
			config_fail(err, errlen, rc, "%s:%u: %s", path, lineno, msg);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = config_fail(err, errlen, -EIO, "%s: read error after line %u", path,
				 lineno);
		goto out;
	}
	/* log_level is explicit and ours; the log_type lines only decide when it is
	 * absent. */
	if (src.log_type_seen && !src.log_level_seen)
		c->log_level = (int)src.log_type_max;
out:
	free(line);
	fclose(f);
	return rc;
}

int config_finalize(struct config *c, char *err, size_t errlen)
{
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c->workers = n < 1 ? 1 : (unsigned)n;
		if (c->workers > CONFIG_WORKERS_MAX)
			c->workers = CONFIG_WORKERS_MAX;
	}
	if (c->workers > CONFIG_WORKERS_MAX)
		return config_fail(err, errlen, -EINVAL, "workers must be at most %u, got %u",
				   CONFIG_WORKERS_MAX, c->workers);
	if (c->max_inflight_messages == 0)
		c->max_inflight_messages = CONFIG_INFLIGHT_MAX;
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
	    !is_ip_literal(c->bind_address))
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

const char *queue_full_policy_name(enum queue_full_policy p)
{
	switch (p) {
	case QUEUE_FULL_DROP_NEW:
		return "drop_new";
	case QUEUE_FULL_DROP_OLDEST:
		return "drop_oldest";
	case QUEUE_FULL_BACKPRESSURE:
		return "backpressure";
	}
	return "unknown";
}
