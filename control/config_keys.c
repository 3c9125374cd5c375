/* config_keys.c - the table of every configuration key (config_keys[]) and the
 * setters of keys with rules of their own. The machinery that reads files and command
 * lines and applies these entries is config.c. Main thread, before workers start. */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "petrel/log.h"

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
	int rc = config_one_token(k->name, value, tok, err, errlen);

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
	int rc = config_one_token(k->name, value, tok, err, errlen);

	if (rc < 0)
		return rc;
	rc = config_parse_i64(tok[0], k->min, (long long)k->max, out);
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
	int rc = config_one_token(k->name, value, tok, err, errlen);

	(void)src;
	if (rc < 0)
		return rc;
	rc = config_parse_u64(tok[0], k->max, &v);
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
	if (config_trim_copy(value, tmp, sizeof(tmp)) < 0 || strlen(tmp) > k->max)
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
	int rc = config_one_token(k->name, value, tok, err, errlen);

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
	int rc = config_parse_i64(s, min, 65535, &v);

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
	if (strlen(s) >= sizeof(c->bind_address) || !config_is_ip_literal(s))
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
	int n = config_split_tokens(value, tok, PATH_MAX, 2, &extra);
	uint16_t port = 0;   /* set by set_port; gcc -O3 cannot see it */
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
	int rc = config_one_token(k->name, value, tok, err, errlen);

	return rc < 0 ? rc : set_port(k->name, tok[0], src, &c->port, err, errlen);
}

static int key_bind_address(struct config *c, const struct config_key *k,
			    const char *value, struct config_src *src, char *err,
			    size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = config_one_token(k->name, value, tok, err, errlen);

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

/* ---- persistence ------------------------------------------------------------------ */

/* persistence_sync always | never | <ms>: when a commit reaches the disk (the promise
 * of each is docs/operations.md "Persistence"). k->min..k->max bound the interval. */
static int key_persistence_sync(struct config *c, const struct config_key *k,
				const char *value, struct config_src *src, char *err,
				size_t errlen)
{
	char tok[1][PATH_MAX];
	long long ms;
	int rc = config_one_token(k->name, value, tok, err, errlen);

	(void)src;
	if (rc < 0)
		return rc;
	if (strcmp(tok[0], "always") == 0) {
		c->persistence_sync = PERSIST_SYNC_ALWAYS;
		c->persistence_sync_ms = 0;
		return 0;
	}
	if (strcmp(tok[0], "never") == 0) {
		c->persistence_sync = PERSIST_SYNC_NEVER;
		c->persistence_sync_ms = 0;
		return 0;
	}
	if (config_parse_i64(tok[0], k->min, (long long)k->max, &ms) < 0)
		return config_fail(err, errlen, -EINVAL, "'%s' expects always, never or a "
				   "number of milliseconds from %lld to %llu, got '%s'",
				   k->name, k->min, k->max, tok[0]);
	c->persistence_sync = PERSIST_SYNC_INTERVAL;
	c->persistence_sync_ms = (unsigned)ms;
	return 0;
}

/* Longest persistent_client_expiration: 100 years, past any real deployment, and far
 * from overflowing the milliseconds in 64 bits. */
#define CONFIG_EXPIRATION_MAX_S (100ull * 365 * 86400)

/* persistent_client_expiration <N><unit>: mosquitto's units h d w m y with its
 * lengths (a month is 30 days, a year 365), plus s (seconds, Petrel's extension so
 * that tests need not wait an hour). N is a whole number from 1, as mosquitto
 * refuses a duration of 0. */
static int key_persistent_client_expiration(struct config *c, const struct config_key *k,
					    const char *value, struct config_src *src,
					    char *err, size_t errlen)
{
	static const struct { char unit; unsigned long long s; } units[] = {
		{ 's', 1 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 7 * 86400 },
		{ 'm', 30 * 86400 }, { 'y', 365 * 86400 },
	};
	char tok[1][PATH_MAX];
	char given[PATH_MAX];
	unsigned long long n, mult = 0;
	size_t len;
	int rc = config_one_token(k->name, value, tok, err, errlen);

	(void)src;
	if (rc < 0)
		return rc;
	len = strlen(tok[0]);
	memcpy(given, tok[0], len + 1);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (len > 1 && tok[0][len - 1] == units[i].unit)
			mult = units[i].s;
	if (mult == 0)
		return config_fail(err, errlen, -EINVAL, "'%s' expects a number followed by "
				   "s, h, d, w, m (30 days) or y (365 days), such as 14d; got "
				   "'%s'", k->name, tok[0]);
	tok[0][len - 1] = '\0';
	rc = config_parse_u64(tok[0], CONFIG_EXPIRATION_MAX_S / mult, &n);
	if (rc == -EINVAL || (rc == 0 && n == 0))
		return config_fail(err, errlen, -EINVAL, "'%s' expects a whole number from "
				   "1 before the unit, got '%s'", k->name, tok[0]);
	if (rc == -ERANGE)
		return config_fail(err, errlen, -EINVAL, "'%s' must be at most 100 years, "
				   "got '%s'", k->name, given);
	c->persistent_client_expiration_ms = n * mult * 1000u;
	return 0;
}

/* mosquitto's snapshot keys: Petrel has no snapshot, it commits every change, so they
 * have nothing to set. Accepted (a mosquitto.conf must still load) with one warning
 * per line saying what Petrel does instead; the value must still be well-formed. */
static int key_mosquitto_snapshot(struct config *c, const struct config_key *k,
				  const char *value, struct config_src *src, char *err,
				  size_t errlen)
{
	char tok[1][PATH_MAX];
	char where[PATH_MAX + 16] = "";
	long long n;
	int rc = config_one_token(k->name, value, tok, err, errlen);

	(void)c;
	if (rc < 0)
		return rc;
	if (strcmp(k->name, "autosave_interval") == 0 &&
	    config_parse_i64(tok[0], 0, INT_MAX, &n) < 0)
		return config_fail(err, errlen, -EINVAL, "'%s' expects a whole number of "
				   "seconds, got '%s'", k->name, tok[0]);
	if (strcmp(k->name, "autosave_on_changes") == 0 && strcmp(tok[0], "true") != 0 &&
	    strcmp(tok[0], "false") != 0)
		return config_fail(err, errlen, -EINVAL, "'%s' expects true or false, got "
				   "'%s'", k->name, tok[0]);
	if (src->path != NULL)
		snprintf(where, sizeof(where), "%s:%u: ", src->path, src->line);
	if (strcmp(k->name, "persistence_file") == 0)
		log_warn("%s'persistence_file %s' ignored: Petrel's store is the LMDB file "
			 "data.mdb (with lock.mdb) in persistence_location", where, tok[0]);
	else
		log_warn("%s'%s' ignored: Petrel saves no snapshots, it commits every change "
			 "to the store as it happens (persistence_sync says when it reaches "
			 "the disk)", where, k->name);
	return 0;
}

static int key_log_type(struct config *c, const struct config_key *k, const char *value,
			struct config_src *src, char *err, size_t errlen)
{
	char tok[1][PATH_MAX];
	enum log_level l;
	int rc = config_one_token(k->name, value, tok, err, errlen);

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
	int rc = config_one_token(k->name, value, tok, err, errlen);

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
	int n = config_split_tokens(value, tok, PATH_MAX, 1, &rest);

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
		if (n != -E2BIG || config_trim_copy(rest, path, sizeof(path)) < 0)
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
	if (config_trim_copy(value, dir, sizeof(dir)) < 0 || dir[0] == '\0')
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

/* ---- the DPDK data plane ---------------------------------------------------------- */

static const char *const dataplane_words[] = {
	[DATAPLANE_KERNEL] = "kernel",
	[DATAPLANE_DPDK] = "dpdk",
	NULL,
};

/* dataplane kernel|dpdk. A broker built without DPDK refuses dpdk here, at the line
 * that asks for it, rather than starting on kernel sockets the operator did not want. */
static int key_dataplane(struct config *c, const struct config_key *k, const char *value,
			 struct config_src *src, char *err, size_t errlen)
{
	enum dataplane before = c->dataplane;
	int rc = key_enum(c, k, value, src, err, errlen);

	if (rc < 0)
		return rc;
#ifndef PETREL_HAVE_DPDK
	if (c->dataplane == DATAPLANE_DPDK) {
		c->dataplane = before;
		return config_fail(err, errlen, -EINVAL, "'dataplane dpdk': this petrel "
				   "was built without DPDK (meson -Ddpdk=disabled or no "
				   "libdpdk-dev); only 'dataplane kernel' is available");
	}
#else
	(void)before;
#endif
	return 0;
}

/* A unicast IPv4 address we may own or route through: not 0.0.0.0/8 (RFC 1122
 * 3.2.1.3: "this host"), loopback (127/8), multicast or reserved (224/3). */
static bool ipv4_is_host(uint32_t a)
{
	return (a >> 24) != 0 && (a >> 24) != 127 && (a >> 29) != 7;
}

/* Reads "A.B.C.D" into <out> (host byte order). */
static int parse_ipv4(const char *key, const char *s, uint32_t *out, char *err,
		      size_t errlen)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return config_fail(err, errlen, -EINVAL, "'%s' expects an IPv4 address "
				   "such as 198.18.0.1, got '%s'", key, s);
	*out = ntohl(a.s_addr);
	if (!ipv4_is_host(*out))
		return config_fail(err, errlen, -EINVAL, "'%s': %s is not a unicast host "
				   "address", key, s);
	return 0;
}

/* dpdk_address A.B.C.D/LEN: the address the DPDK port answers on and its on-link
 * prefix. The network and broadcast addresses of the prefix are refused (RFC 1122
 * 3.2.1.3: a host must not take them), except for /31 and /32 which have neither. */
static int key_dpdk_address(struct config *c, const struct config_key *k,
			    const char *value, struct config_src *src, char *err,
			    size_t errlen)
{
	char tok[1][PATH_MAX];
	char *slash;
	long long len;
	uint32_t ip = 0, host; /* gcc -O3 cannot see parse_ipv4 set it */
	int rc = config_one_token(k->name, value, tok, err, errlen);

	(void)src;
	if (rc < 0)
		return rc;
	slash = strchr(tok[0], '/');
	if (slash == NULL)
		return config_fail(err, errlen, -EINVAL, "'%s' expects ADDRESS/PREFIX such "
				   "as 198.18.0.1/24, got '%s'", k->name, tok[0]);
	*slash = '\0';
	if (config_parse_i64(slash + 1, 1, 32, &len) < 0)
		return config_fail(err, errlen, -EINVAL, "'%s': the prefix length must be "
				   "from 1 to 32, got '%s'", k->name, slash + 1);
	rc = parse_ipv4(k->name, tok[0], &ip, err, errlen);
	if (rc < 0)
		return rc;
	host = len == 32 ? 0 : 0xffffffffu >> len;
	if (len < 31 && ((ip & host) == 0 || (ip & host) == host))
		return config_fail(err, errlen, -EINVAL, "'%s': %s is the network or "
				   "broadcast address of /%lld", k->name, tok[0], len);
	c->dpdk_ip = ip;
	c->dpdk_prefix_len = (unsigned)len;
	return 0;
}

static int key_dpdk_gateway(struct config *c, const struct config_key *k,
			    const char *value, struct config_src *src, char *err,
			    size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = config_one_token(k->name, value, tok, err, errlen);

	(void)src;
	return rc < 0 ? rc : parse_ipv4(k->name, tok[0], &c->dpdk_gateway, err, errlen);
}

/* control_socket PATH | none: "" stores none (ctl_listen then binds nothing). */
static int key_control_socket(struct config *c, const struct config_key *k,
			      const char *value, struct config_src *src, char *err,
			      size_t errlen)
{
	char tmp[PATH_MAX];

	if (config_trim_copy(value, tmp, sizeof(tmp)) == 0 && strcmp(tmp, "none") == 0) {
		c->control_socket[0] = '\0';
		return 0;
	}
	return key_string(c, k, value, src, err, errlen);
}

/* ---- the table -------------------------------------------------------------------- */

/* memory_limit: bytes, or "auto" for half of the RAM (resolved by config_finalize). */
static int key_memory_limit(struct config *c, const struct config_key *k,
			    const char *value, struct config_src *src, char *err,
			    size_t errlen)
{
	char tok[1][PATH_MAX];
	int rc = config_one_token(k->name, value, tok, err, errlen);

	if (rc < 0)
		return rc;
	if (strcmp(tok[0], "auto") == 0) {
		c->memory_limit = CONFIG_MEMORY_LIMIT_AUTO;
		return 0;
	}
	return key_size(c, k, value, src, err, errlen);
}

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

static const char *const slow_policy_words[] = {
	[SLOW_DROP_NEW] = "drop_new",
	[SLOW_DROP_OLDEST] = "drop_oldest",
	[SLOW_DISCONNECT] = "disconnect",
	NULL,
};

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
	/* subscriptions */
	KEY_UINT(max_subscriptions_per_client, 1, UINT_MAX, "10000",
		 "filters one session may hold; a new one beyond it gets SUBACK 0x80"),
	KEY_UINT(max_filters_per_subscribe, 1, UINT_MAX, "1000",
		 "filters handled per SUBSCRIBE; the rest get SUBACK 0x80"),
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
	/* flow control */
	KEY_UINT(backpressure_timeout, 1, CONFIG_BP_TIMEOUT_MAX, "2000",
		 "ms a congested session may hold its publishers back before it is slow"),
	KEY_ENUM(slow_subscriber_policy, slow_policy_words, "drop_new",
		 "what a slow session does with new messages: drop_new, drop_oldest, disconnect"),
	KEY_UINT(max_worker_inbound, 1, UINT_MAX / 2, "65536",
		 "deliveries waiting in one worker's inbound queue before publishers wait"),
	KEY_SIZE(max_held_input_bytes, 1, CONFIG_HELD_INPUT_MAX, "1048576",
		 "bytes of packets a held-back connection may have read but not handled"),
	KEY_SIZE(max_outgoing_control_bytes, 1, SIZE_MAX, "1048576",
		 "unsent acks and other control bytes per connection before it is closed"),
	/* memory */
	KEY_CUSTOM_FIELD(memory_limit, size_t, key_memory_limit, 0, SIZE_MAX - 1, "auto",
			 "bytes clients may make the broker hold; auto = half the RAM, 0 = no limit"),
	/* persistence */
	KEY_BOOL(persistence, "true",
		 "store cleanSession=0 sessions and retained messages on disk"),
	KEY_STRING(persistence_location, "./data",
		   "directory of the store (data.mdb), created if missing"),
	KEY_CUSTOM("persistence_sync", key_persistence_sync, 1, CONFIG_SYNC_MS_MAX,
		   "always", "when commits reach the disk: always, never, or every N ms"),
	KEY_CUSTOM("persistent_client_expiration", key_persistent_client_expiration, 0, 0,
		   NULL, "offline persistent sessions older than this end (14d; s h d w m y)"),
	KEY_SIZE(persistence_max_parked_bytes, 1, SIZE_MAX, "65536",
		 "output per connection waiting for a commit before it is not read"),
	KEY_SIZE(persistence_max_pending_bytes, 1, SIZE_MAX, "268435456",
		 "changes not yet committed before publishers of stored messages wait"),
	KEY_SIZE(persistence_max_size, CONFIG_STORE_SIZE_MIN, CONFIG_STORE_SIZE_MAX,
		 "68719476736", "largest size of the store (LMDB map size)"),
	KEY_CUSTOM("autosave_interval", key_mosquitto_snapshot, 0, 0, NULL,
		   "mosquitto's snapshot period: ignored with a warning"),
	KEY_CUSTOM("autosave_on_changes", key_mosquitto_snapshot, 0, 0, NULL,
		   "mosquitto's snapshot trigger: ignored with a warning"),
	KEY_CUSTOM("persistence_file", key_mosquitto_snapshot, 0, 0, NULL,
		   "mosquitto's snapshot file name: ignored with a warning"),
	/* process */
	KEY_STRING(pid_file, NULL, "file to write the broker's process id to"),
	KEY_CUSTOM("include_dir", key_include_dir, 0, 0, NULL,
		   "directory whose *.conf files are read, in sorted order"),
	/* control and observation */
	KEY_CUSTOM_FIELD(control_socket, char *, key_control_socket, 1,
			 sizeof(((struct config *)0)->control_socket) - 1, "./petrel.sock",
			 "Unix socket petrelctl talks to (mode 0600); none = no control socket"),
	KEY_UINT(control_max_clients, 1, 4096, "16",
		 "control connections at once; more are closed at once"),
	KEY_SIZE(control_max_line, 64, 1 << 30, "65536",
		 "longest control request line; longer: an error and the connection closed"),
	KEY_SIZE(control_max_output, 4096, SIZE_MAX, "67108864",
		 "unsent reply bytes per control connection before it is closed; a longer "
		 "single reply gets a too_large error instead"),
	KEY_UINT(control_idle_timeout, 1, 86400, "60",
		 "seconds a control connection may stay silent with no request pending"),
	KEY_UINT(control_request_timeout, 10, 600000, "5000",
		 "ms the control plane waits for the workers' answers to a request"),
	KEY_UINT(sys_interval, 0, 86400, "10",
		 "seconds between $SYS/broker/... publications; 0 = none"),
	KEY_STRING(metrics_listener, NULL,
		   "ADDR:PORT serving Prometheus metrics over HTTP; unset = off"),
	KEY_UINT(metrics_max_clients, 1, 1024, "16",
		 "HTTP connections at once on metrics_listener"),
	KEY_UINT(metrics_timeout, 1, 3600, "10",
		 "seconds an idle HTTP connection on metrics_listener stays open"),
	/* logging */
	KEY_CUSTOM("log_level", key_log_level, 0, 0, "notice",
		   "most verbose level printed: error, warning, notice, info, debug"),
	KEY_CUSTOM("log_type", key_log_type, 0, 0, NULL,
		   "mosquitto's message classes; the most verbose one becomes the level"),
	KEY_CUSTOM("log_dest", key_log_dest, 0, 0, "stderr",
		   "where log lines go: stderr, or file PATH (appended)"),
	/* DPDK data plane */
	{ "dataplane", key_dataplane, CONFIG_FIELD(dataplane, enum dataplane), 0, 0,
	  dataplane_words, "kernel",
	  "what carries MQTT: kernel (sockets) or dpdk (our TCP on a DPDK port)" },
	KEY_STRING(dpdk_eal_args, NULL, "EAL arguments, split like a shell"),
	KEY_UINT(dpdk_port, 0, 65535, "0", "DPDK port id the broker serves"),
	KEY_CUSTOM("dpdk_address", key_dpdk_address, 0, 0, "198.18.0.1/24",
		   "IPv4 address/prefix of the DPDK port"),
	KEY_CUSTOM("dpdk_gateway", key_dpdk_gateway, 0, 0, NULL,
		   "IPv4 next hop for off-link peers; none = on-link peers only"),
	KEY_UINT(dpdk_mbufs, CONFIG_DPDK_MBUFS_MIN, CONFIG_DPDK_MBUFS_MAX, "8192",
		 "packet buffers in each worker's pool"),
	KEY_UINT(dpdk_idle_spin_us, 0, 1000000, "200",
		 "us a worker keeps polling after its last frame before it may sleep"),
	KEY_UINT(dpdk_arp_entries, 1, 65536, "256",
		 "ARP cache entries per worker (neighbours: clients on the link, gateway)"),
	/* our TCP, per worker */
	KEY_UINT(tcp_max_connections, 1, CONFIG_TCP_CONNS_MAX, "65536",
		 "TCP connections per worker in every state but LISTEN; over it: RST"),
	KEY_UINT(tcp_syn_backlog, 1, CONFIG_TCP_CONNS_MAX, "1024",
		 "half-open connections per worker before SYN cookies"),
	KEY_SIZE(tcp_rcv_buf, CONFIG_TCP_RCV_BUF_MIN, CONFIG_TCP_RCV_BUF_MAX, "262144",
		 "received bytes kept per connection (the largest window offered)"),
	KEY_UINT(tcp_delayed_ack_ms, 0, 499, "40",
		 "ms an ACK may wait for data to ride on; 0 = ACK at once"),
	KEY_UINT(tcp_rto_min_ms, 1, 60000, "200", "smallest retransmission timeout, ms"),
	/* fault injection */
	KEY_UINT(fault_drop, 0, 100, "0", "percent of frames dropped, each direction"),
	KEY_UINT(fault_duplicate, 0, 100, "0",
		 "percent of frames sent twice, each direction"),
	KEY_UINT(fault_reorder, 0, 100, "0",
		 "percent of frames held back behind the next, each direction"),
	KEY_UINT(fault_corrupt, 0, 100, "0",
		 "percent of frames with one byte flipped, each direction"),
	KEY_UINT(fault_seed, 0, UINT_MAX, "1", "seed of the fault injector's generator"),
	{ NULL, NULL, 0, 0, 0, NULL, NULL, NULL },
};

const char *slow_policy_name(enum slow_policy p)
{
	if ((unsigned)p < sizeof(slow_policy_words) / sizeof(slow_policy_words[0]) - 1)
		return slow_policy_words[p];
	return "unknown";
}

const char *dataplane_name(enum dataplane d)
{
	if ((unsigned)d < sizeof(dataplane_words) / sizeof(dataplane_words[0]) - 1)
		return dataplane_words[d];
	return "unknown";
}

const char *queue_full_policy_name(enum queue_full_policy p)
{
	if ((unsigned)p < sizeof(queue_full_policy_words) / sizeof(queue_full_policy_words[0]) - 1)
		return queue_full_policy_words[p];
	return "unknown";
}

/* The field type behind a generic setter; config_reload.c renders and copies fields by
 * it. A key with a setter of its own is CONFIG_KIND_CUSTOM. */
enum config_key_kind config_key_kind(const struct config_key *k)
{
	if (k->set == key_bool)
		return CONFIG_KIND_BOOL;
	if (k->set == key_whole)
		return k->min < 0 ? CONFIG_KIND_INT : CONFIG_KIND_UINT;
	if (k->set == key_size)
		return CONFIG_KIND_SIZE;
	if (k->set == key_string)
		return CONFIG_KIND_STRING;
	if (k->set == key_enum)
		return CONFIG_KIND_ENUM;
	return CONFIG_KIND_CUSTOM;
}
