/* config.c - broker configuration: embedded defaults < a mosquitto-style file of
 * "key value" lines < command-line overrides (main applies those with config_set).
 *
 * Every key lives in ONE table, config_keys[] below: its name, its setter, its
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

#include "petrel/config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
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
#define CONFIG_CONNECT_TIMEOUT_MAX 3600u

/* Where a setting comes from, and what one file (with its include_dir files) has
 * gathered so far. A file line is stricter than the command line (port 0 means "any
 * free port", which only makes sense for tests passing -p 0), and some keys combine
 * across the lines of one file. */
struct config_src {
	bool from_file;
	bool included;			/* a file read through include_dir */
	bool listener_seen;		/* a second "listener" line is refused */
	bool log_level_seen;		/* log_level wins over log_type in a file */
	bool log_type_seen;
	bool log_dest_seen;		/* the first log_dest line replaces the default */
	enum log_level log_type_max;	/* most verbose log_type of the file */
	/* Every bad line is reported, one "path:line: why" per line of <err>. */
	char *err;
	size_t errlen;
	size_t errused;
	unsigned nerr;
	unsigned nerr_dropped;		/* did not fit in <err> */
	int first_rc;
};

/* Mosquitto options that mean something Petrel cannot do yet. Refusing them by name
 * tells the operator exactly which line to remove or wait for. mosquitto.conf(5),
 * version 2.0: general, listener, TLS, websockets, plugin/auth and bridge options.
 * docs/configuration.md lists them all (the unit test checks both ways). */
const char *const config_refused_keys[] = {
	/* general */
	"acl_file", "allow_duplicate_messages", "autosave_interval",
	"autosave_on_changes", "check_retain_source", "clientid_prefixes",
	"connection_messages", "log_facility", "log_timestamp",
	"log_timestamp_format", "max_inflight_bytes", "memory_limit",
	"message_size_limit", "password_file", "per_listener_settings",
	"persistence_file", "persistent_client_expiration", "plugin",
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
	NULL,
};
/* plugin_opt_* and auth_opt_* are families, not single keys. */
const char *const config_refused_prefixes[] = { "plugin_opt_", "auth_opt_", NULL };

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

/* The field of <c> a table entry points at. */
static void *key_field(struct config *c, const struct config_key *k)
{
	return (char *)c + k->off;
}

/* ---- generic setters: the field's type decides, the entry holds the range ---------- */

static int key_bool(struct config *c, const struct config_key *k, const char *value,
		    struct config_src *src, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = one_token(k->name, value, tok, err, errlen);

	(void)src;
	if (rc < 0)
		return rc;
	/* mosquitto accepts exactly these two words; so do we, so a file means the
	 * same to both brokers. */
	if (strcmp(tok[0], "true") == 0)
		*(bool *)key_field(c, k) = true;
	else if (strcmp(tok[0], "false") == 0)
		*(bool *)key_field(c, k) = false;
	else
		return config_fail(err, errlen, -EINVAL,
				   "'%s' expects true or false, got '%s'", k->name, tok[0]);
	return 0;
}

/* Whole number in [k->min, k->max] into *out. */
static int key_number(const struct config_key *k, const char *value, long long *out,
		      char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = one_token(k->name, value, tok, err, errlen);

	if (rc < 0)
		return rc;
	rc = parse_i64(tok[0], k->min, (long long)k->max, out);
	if (rc == -EINVAL)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' expects a whole number, got '%s'", k->name, tok[0]);
	if (rc == -ERANGE)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' must be from %lld to %llu, got '%s'", k->name, k->min,
				   k->max, tok[0]);
	return 0;
}

/* A whole number into an unsigned or int field (KEY_UINT, KEY_INT). The two types
 * have one size, and a signed and an unsigned lvalue may access the same object
 * (C11 6.5p7), so a negative range is the only thing that needs the signed store. */
static int key_whole(struct config *c, const struct config_key *k, const char *value,
		     struct config_src *src, char *err, size_t errlen)
{
	long long v;
	int rc = key_number(k, value, &v, err, errlen);

	(void)src;
	if (rc < 0)
		return rc;
	if (k->min < 0)
		*(int *)key_field(c, k) = (int)v;
	else
		*(unsigned *)key_field(c, k) = (unsigned)v;
	return 0;
}

static int key_size(struct config *c, const struct config_key *k, const char *value,
		    struct config_src *src, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	unsigned long long v;
	int rc = one_token(k->name, value, tok, err, errlen);

	(void)src;
	if (rc < 0)
		return rc;
	rc = parse_u64(tok[0], k->max, &v);
	if (rc == -EINVAL)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' expects a number of bytes, got '%s'", k->name, tok[0]);
	if (rc == -ERANGE || v < (unsigned long long)k->min)
		return config_fail(err, errlen, -EINVAL,
				   "'%s' must be from %lld to %llu bytes, got '%s'", k->name,
				   k->min, k->max, tok[0]);
	*(size_t *)key_field(c, k) = (size_t)v;
	return 0;
}

/* Free text: the rest of the line, outer blanks removed (paths may contain spaces, as
 * in mosquitto). k->max is the longest value. */
static int key_string(struct config *c, const struct config_key *k, const char *value,
		      struct config_src *src, char *err, size_t errlen)
{
	char tmp[PATH_MAX];

	(void)src;
	if (trim_copy(value, tmp, sizeof(tmp)) < 0 || strlen(tmp) > k->max)
		return config_fail(err, errlen, -EINVAL, "'%s' must be shorter than %llu "
				   "characters", k->name, k->max + 1);
	if (tmp[0] == '\0')
		return config_fail(err, errlen, -EINVAL, "'%s' needs a value", k->name);
	memcpy(key_field(c, k), tmp, strlen(tmp) + 1);
	return 0;
}

/* One of k->words; stores its index into an enum field. */
static int key_enum(struct config *c, const struct config_key *k, const char *value,
		    struct config_src *src, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	char list[256];
	size_t off = 0;
	int rc = one_token(k->name, value, tok, err, errlen);

	(void)src;
	if (rc < 0)
		return rc;
	for (int i = 0; k->words[i] != NULL; i++) {
		if (strcmp(tok[0], k->words[i]) == 0) {
			*(int *)key_field(c, k) = i;
			return 0;
		}
		off += (size_t)snprintf(list + off, off < sizeof(list) ? sizeof(list) - off : 0,
					"%s%s", i == 0 ? "" : k->words[i + 1] ? ", " : " or ",
					k->words[i]);
	}
	return config_fail(err, errlen, -EINVAL, "'%s' expects %s, got '%s'", k->name, list,
			   tok[0]);
}

/* ---- keys with their own rules ------------------------------------------------------ */

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

static int key_listener(struct config *c, const struct config_key *k, const char *value,
			struct config_src *src, char *err, size_t errlen)
{
	char tok[2][PATH_MAX];
	const char *extra = NULL;
	int n = split_tokens(value, tok, PATH_MAX, 2, &extra);
	uint16_t port;
	int rc;

	(void)k;
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

/* mosquitto's deprecated default-listener port: changes the port only. */
static int key_port(struct config *c, const struct config_key *k, const char *value,
		    struct config_src *src, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = one_token(k->name, value, tok, err, errlen);

	return rc < 0 ? rc : set_port(k->name, tok[0], src, &c->port, err, errlen);
}

static int key_bind_address(struct config *c, const struct config_key *k,
			    const char *value, struct config_src *src, char *err,
			    size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = one_token(k->name, value, tok, err, errlen);

	(void)src;
	return rc < 0 ? rc : set_bind_address(k->name, tok[0], c, err, errlen);
}

static int key_max_packet_size(struct config *c, const struct config_key *k,
			       const char *value, struct config_src *src, char *err,
			       size_t errlen)
{
	size_t before = c->max_packet_size;
	int rc = key_size(c, k, value, src, err, errlen);

	if (rc < 0)
		return rc;
	if (c->max_packet_size != 0 && c->max_packet_size < CONFIG_PACKET_SIZE_MIN) {
		rc = config_fail(err, errlen, -EINVAL, "'max_packet_size' must be 0 "
				 "(protocol maximum) or from %u to %u bytes, got '%zu'",
				 CONFIG_PACKET_SIZE_MIN, CONFIG_PACKET_SIZE_MAX,
				 c->max_packet_size);
		c->max_packet_size = before;
	}
	return rc;
}

static int key_max_connections(struct config *c, const struct config_key *k,
			       const char *value, struct config_src *src, char *err,
			       size_t errlen)
{
	int before = c->max_connections;
	int rc = key_whole(c, k, value, src, err, errlen);

	if (rc == 0 && c->max_connections == 0) {
		c->max_connections = before;
		return config_fail(err, errlen, -EINVAL, "'max_connections 0' would refuse "
				   "every client; use -1 for no limit");
	}
	return rc;
}

/* Persistence is not built yet. "true" must not load and then keep nothing: refuse it
 * by name, as the other mosquitto options Petrel lacks. */
static int key_persistence(struct config *c, const struct config_key *k,
			   const char *value, struct config_src *src, char *err,
			   size_t errlen)
{
	int rc = key_bool(c, k, value, src, err, errlen);

	if (rc == 0 && c->persistence) {
		c->persistence = false;
		return config_fail(err, errlen, -ENOENT, "'persistence true' is not supported "
				   "yet: Petrel keeps sessions and retained messages in memory "
				   "only, and they do not survive a restart; remove the line or "
				   "write 'persistence false'");
	}
	return rc;
}

static int key_log_type(struct config *c, const struct config_key *k, const char *value,
			struct config_src *src, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	enum log_level l;
	int rc = one_token(k->name, value, tok, err, errlen);

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

static int key_log_level(struct config *c, const struct config_key *k, const char *value,
			 struct config_src *src, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	enum log_level l;
	int rc = one_token(k->name, value, tok, err, errlen);

	if (rc < 0)
		return rc;
	if (log_level_parse(tok[0], &l) < 0)
		return config_fail(err, errlen, -EINVAL, "'log_level' expects one of error, "
				   "warning, notice, info, debug; got '%s'", tok[0]);
	c->log_level = (int)l;
	src->log_level_seen = true;
	return 0;
}

/* log_dest stderr | file PATH, as in mosquitto: the lines add up, and the first one
 * of a file replaces the default (stderr), so "log_dest file X" alone logs to X only.
 * The file is opened for appending at start-up (main). */
static int key_log_dest(struct config *c, const struct config_key *k, const char *value,
			struct config_src *src, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	char path[PATH_MAX];
	const char *rest = NULL;
	int n = split_tokens(value, tok, PATH_MAX, 1, &rest);

	(void)k;
	if (n == 0)
		return config_fail(err, errlen, -EINVAL, "'log_dest' needs a value");
	if (n == -ENAMETOOLONG)
		return config_fail(err, errlen, -EINVAL, "'log_dest': value too long");
	if (strcmp(tok[0], "stderr") != 0 && strcmp(tok[0], "file") != 0)
		return config_fail(err, errlen, -ENOENT, "'log_dest %s' is a mosquitto "
				   "option Petrel does not support yet (Petrel logs to stderr "
				   "or a file)", tok[0]);
	if (strcmp(tok[0], "stderr") == 0 && n == -E2BIG)
		return config_fail(err, errlen, -EINVAL, "'log_dest stderr' takes no "
				   "value, but '%s' follows it", rest);
	if (strcmp(tok[0], "file") == 0) {
		if (n != -E2BIG || trim_copy(rest, path, sizeof(path)) < 0)
			return config_fail(err, errlen, -EINVAL, "'log_dest file' needs a "
					   "path (shorter than %d characters)", PATH_MAX);
		if (src->log_dest_seen && c->log_file[0] != '\0' &&
		    strcmp(c->log_file, path) != 0)
			return config_fail(err, errlen, -EINVAL, "a second 'log_dest file' "
					   "is not supported; Petrel logs to one file");
	}
	if (src->from_file && !src->log_dest_seen) {
		c->log_stderr = false;
		c->log_file[0] = '\0';
	}
	src->log_dest_seen = true;
	if (strcmp(tok[0], "stderr") == 0)
		c->log_stderr = true;
	else
		memcpy(c->log_file, path, strlen(path) + 1);
	return 0;
}

static int config_load_path(struct config *c, const char *path, struct config_src *src);

static int include_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 5 && strcmp(d->d_name + len - 5, ".conf") == 0;
}

/* Sorted as mosquitto.conf(5) says: case-sensitive, capitals first; that is strcmp,
 * not the locale's collation alphasort() would use. */
static int include_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* include_dir DIR: reads DIR's *.conf files in sorted order, after the lines before
 * it, as mosquitto does. Their bad lines are reported in the same error list. As in
 * mosquitto it is processed only in the main file. */
static int key_include_dir(struct config *c, const struct config_key *k,
			   const char *value, struct config_src *src, char *err,
			   size_t errlen)
{
	char dir[PATH_MAX];
	struct dirent **names;
	bool was_included = src->included;
	int n, rc = 0;

	if (!src->from_file || src->included)
		return config_fail(err, errlen, -EINVAL, "'include_dir' is only read in the "
				   "main configuration file");
	if (trim_copy(value, dir, sizeof(dir)) < 0 || dir[0] == '\0')
		return config_fail(err, errlen, -EINVAL, "'%s' needs a directory", k->name);
	n = scandir(dir, &names, include_filter, include_cmp);
	if (n < 0)
		return config_fail(err, errlen, -errno, "'include_dir %s': %s", dir,
				   strerror(errno));
	src->included = true;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (rc == 0 && (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
						names[i]->d_name) >= sizeof(path))
			rc = config_fail(err, errlen, -ENAMETOOLONG, "'include_dir %s': path "
					 "of %s too long", dir, names[i]->d_name);
		else if (rc == 0)
			config_load_path(c, path, src);
		free(names[i]);
	}
	free(names);
	src->included = was_included;
	return rc;
}

/* ---- the table -------------------------------------------------------------------- */

/* offsetof(struct config, f), refusing to compile unless the field has type T, so a
 * KEY_UINT can never point at a size_t. */
#define CONFIG_FIELD(f, T)                                                             \
	(offsetof(struct config, f) +                                                  \
	 0 * sizeof(char[_Generic(((struct config *)0)->f, T: 1)]))

#define KEY_BOOL(f, def, help)                                                         \
	{ #f, key_bool, CONFIG_FIELD(f, bool), 0, 1, NULL, def, help }
#define KEY_UINT(f, lo, hi, def, help)                                                 \
	{ #f, key_whole, CONFIG_FIELD(f, unsigned), lo, hi, NULL, def, help }
#define KEY_INT(f, lo, hi, def, help)                                                  \
	{ #f, key_whole, CONFIG_FIELD(f, int), lo, hi, NULL, def, help }
#define KEY_SIZE(f, lo, hi, def, help)                                                 \
	{ #f, key_size, CONFIG_FIELD(f, size_t), lo, hi, NULL, def, help }
#define KEY_STRING(f, def, help)                                                       \
	{ #f, key_string, CONFIG_FIELD(f, char *), 1,                                  \
	  sizeof(((struct config *)0)->f) - 1, NULL, def, help }
/* <words>: NULL-terminated; the i-th word stores i, so list them in enum order. */
#define KEY_ENUM(f, words, def, help)                                                  \
	{ #f, key_enum, offsetof(struct config, f) +                                   \
	  0 * sizeof(char[sizeof(((struct config *)0)->f) == sizeof(int) ? 1 : -1]),   \
	  0, 0, words, def, help }
/* A key with rules of its own: <fn> is its setter. */
#define KEY_CUSTOM(name, fn, lo, hi, def, help)                                        \
	{ name, fn, 0, lo, hi, NULL, def, help }
/* The same for a field of type T that <fn> reads with a generic setter first. */
#define KEY_CUSTOM_FIELD(f, T, fn, lo, hi, def, help)                                  \
	{ #f, fn, CONFIG_FIELD(f, T), lo, hi, NULL, def, help }

static const char *const queue_full_policy_words[] = {
	[QUEUE_FULL_DROP_NEW] = "drop_new",
	[QUEUE_FULL_DROP_OLDEST] = "drop_oldest",
	[QUEUE_FULL_BACKPRESSURE] = "backpressure",
	NULL,
};

/* Every key Petrel has, in the order of docs/configuration.md.
 *
 * Adding a key is one line here plus its row in docs/configuration.md (the unit test
 * test_config.c fails until both exist): a field in struct config, then
 *     KEY_UINT(my_field, MIN, MAX, "DEFAULT", "one-line help"),
 * with KEY_BOOL, KEY_INT (int), KEY_SIZE (size_t bytes), KEY_STRING (char array,
 * rest of the line), KEY_ENUM (words in enum order) chosen by the field's type; the
 * key's name is the field's name, the default is written as in a file and applied by
 * config_defaults() through the same setter (NULL: no default, field stays 0), and
 * the range is checked on every line. Cross-key checks go in config_finalize().
 * KEY_CUSTOM takes a setter of its own when a key needs more (see the ones above).
 * If the key used to be a refused mosquitto option, drop it from
 * config_refused_keys[] (and move it in the docs). */
const struct config_key config_keys[] = {
	/* network */
	KEY_CUSTOM("listener", key_listener, 1, 65535, NULL,
		   "port and optional address to accept MQTT on; once per file"),
	KEY_CUSTOM("port", key_port, 1, 65535, "1883",
		   "port only (deprecated mosquitto alias)"),
	KEY_CUSTOM("bind_address", key_bind_address, 0, 0, "127.0.0.1",
		   "address only, an IPv4 or IPv6 literal"),
	KEY_CUSTOM_FIELD(max_connections, int, key_max_connections, -1, INT_MAX, "-1",
			 "most client connections at once; -1 = no limit"),
	KEY_UINT(connect_timeout, 1, CONFIG_CONNECT_TIMEOUT_MAX, "10",
		 "seconds a new connection has to send CONNECT"),
	KEY_SIZE(max_outgoing_bytes, 1, SIZE_MAX, "1048576",
		 "unsent bytes per connection above which it counts as slow"),
	/* threads */
	KEY_UINT(workers, 0, CONFIG_WORKERS_MAX, "0",
		 "worker threads; 0 = one per CPU the process may run on"),
	/* clients and sessions */
	KEY_BOOL(allow_anonymous, "true", "let clients connect without a user name"),
	KEY_BOOL(allow_zero_length_clientid, "true",
		 "accept an empty client id (clean session) and generate one"),
	KEY_STRING(auto_id_prefix, "auto-", "prefix of generated client ids"),
	KEY_UINT(max_keepalive, 0, CONFIG_KEEPALIVE_MAX, "0",
		 "largest keep-alive a client may ask for; 0 = no limit"),
	KEY_CUSTOM_FIELD(max_packet_size, size_t, key_max_packet_size, 0,
			 CONFIG_PACKET_SIZE_MAX, "0",
			 "largest packet accepted, fixed header included; 0 = protocol max"),
	KEY_BOOL(retain_available, "true", "support retained messages"),
	/* delivery and queues */
	KEY_UINT(max_inflight_messages, 0, CONFIG_INFLIGHT_MAX, "20",
		 "outgoing QoS 1/2 messages per session awaiting ack; 0 = 65535"),
	KEY_UINT(max_queued_messages, 0, UINT_MAX, "1000",
		 "QoS 1/2 messages queued per session; 0 = no limit"),
	KEY_SIZE(max_queued_bytes, 0, SIZE_MAX, "0",
		 "payload bytes queued per session; 0 = no limit"),
	KEY_ENUM(queue_full_policy, queue_full_policy_words, "backpressure",
		 "what a full session queue does: drop_new, drop_oldest, backpressure"),
	KEY_BOOL(queue_qos0_messages, "false",
		 "also queue QoS 0 for offline persistent sessions"),
	/* persistence */
	KEY_CUSTOM_FIELD(persistence, bool, key_persistence, 0, 1, "false",
			 "only false: persistence is not built yet"),
	KEY_STRING(persistence_location, "./data", "directory of the store (unused yet)"),
	/* process */
	KEY_STRING(pid_file, NULL, "file to write the broker's process id to"),
	KEY_CUSTOM("include_dir", key_include_dir, 0, 0, NULL,
		   "directory whose *.conf files are read, in sorted order"),
	/* logging */
	KEY_CUSTOM("log_level", key_log_level, 0, 0, "notice",
		   "most verbose level printed: error, warning, notice, info, debug"),
	KEY_CUSTOM("log_type", key_log_type, 0, 0, NULL,
		   "mosquitto's message classes; the most verbose one becomes the level"),
	KEY_CUSTOM("log_dest", key_log_dest, 0, 0, "stderr",
		   "where log lines go: stderr, or file PATH (appended)"),
	{ NULL, NULL, 0, 0, 0, NULL, NULL, NULL },
};

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
static int config_load_path(struct config *c, const char *path, struct config_src *src)
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
		while (len > 0 && is_blank(line[len - 1]))
			line[--len] = '\0';
		if ((size_t)len != strlen(line)) {
			config_report(src, -EINVAL, "%s:%u: NUL byte in line", path, lineno);
			continue;
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
	if ((unsigned)p < sizeof(queue_full_policy_words) / sizeof(queue_full_policy_words[0]) - 1)
		return queue_full_policy_words[p];
	return "unknown";
}
