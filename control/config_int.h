/* config_int.h - private to control/config.c and control/config_keys.c: the parsing
 * helpers the key setters share, and where a setting comes from. */
#ifndef PETREL_CONFIG_INT_H
#define PETREL_CONFIG_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "petrel/config.h"
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
/* backpressure_timeout: one hour; longer is a stuck publisher, not flow control. */
#define CONFIG_BP_TIMEOUT_MAX 3600000u

/* dpdk_mbufs per worker: below 1024 a burst of 32 per queue plus the TCP stack's
 * segments in flight starve at once; above 16 Mi one pool outgrows a 1 GiB hugepage. */
#define CONFIG_DPDK_MBUFS_MIN 1024u
#define CONFIG_DPDK_MBUFS_MAX (16u << 20)
/* tcp_max_connections / tcp_syn_backlog per worker: 16 Mi TCBs is past any port's
 * RSS-spread share and keeps TCB indexes in 32 bits with room. */
#define CONFIG_TCP_CONNS_MAX (16u << 20)
/* tcp_rcv_buf: one MSS at least; at most 2^30, the largest window window scaling can
 * express (RFC 7323 2.3: shift at most 14, window field 16 bits). */
#define CONFIG_TCP_RCV_BUF_MIN 1460u
#define CONFIG_TCP_RCV_BUF_MAX (1u << 30)

/* max_held_input_bytes: a connection's held packets are counted in 32 bits (struct
 * mqtt_conn is kept small for a million connections): 1 GiB plus one packet of at
 * most 256 MiB, doubled by the buffer's growth, stays below 4 GiB. */
#define CONFIG_HELD_INPUT_MAX ((size_t)1 << 30)

/* persistence_sync <ms>: at most a day; a longer interval is "never" in practice. */
#define CONFIG_SYNC_MS_MAX 86400000u
/* persistence_max_size: LMDB's map size. 1 MiB holds a few thousand small sessions,
 * enough for a test of a full store; 2^50 (1 PiB) keeps the page rounding of
 * config_finalize far from overflow. */
#define CONFIG_STORE_SIZE_MIN (1ull << 20)
#define CONFIG_STORE_SIZE_MAX (1ull << 50)

/* Where a setting comes from, and what one file (with its include_dir files) has
 * gathered so far. A file line is stricter than the command line (port 0 means "any
 * free port", which only makes sense for tests passing -p 0), and some keys combine
 * across the lines of one file. */
struct config_src {
	bool from_file;
	const char *path;		/* the file of the line being applied; NULL: command line */
	unsigned line;			/* its line number */
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

/* printf into <err>, tolerating a NULL or zero-sized buffer. Returns <rc>. */
int config_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool config_is_blank(char ch);
/* Splits <value> into at most <max> whitespace-separated tokens written to <tok>
 * (each at most toklen-1 chars). Returns the number of tokens, or -E2BIG if there are
 * more than <max> (then <tok>[max] is not written; <extra> points at the first extra
 * token), or -ENAMETOOLONG if one token does not fit. */
int config_split_tokens(const char *value, char tok[][PATH_MAX], size_t toklen, int max,
			const char **extra);
/* The value with surrounding whitespace removed, copied into <out>. */
int config_trim_copy(const char *value, char *out, size_t outlen);
/* All of <s> as a decimal integer in [min, max]: -EINVAL or -ERANGE otherwise. */
int config_parse_i64(const char *s, long long min, long long max, long long *out);
int config_parse_u64(const char *s, unsigned long long max, unsigned long long *out);
bool config_is_ip_literal(const char *s);
/* Reads the single token of <value> into <tok> or explains why not. */
int config_one_token(const char *key, const char *value, char tok[][PATH_MAX],
		     char *err, size_t errlen);
/* Reads one file into <c>, reporting every bad line into <src> (include_dir). */
int config_load_path(struct config *c, const char *path, struct config_src *src);

/* What kind of field a key's generic setter writes (config_keys.c); CUSTOM: a setter
 * of its own, whose fields config_reload.c knows by the key's name. */
enum config_key_kind {
	CONFIG_KIND_BOOL, CONFIG_KIND_UINT, CONFIG_KIND_INT, CONFIG_KIND_SIZE,
	CONFIG_KIND_STRING, CONFIG_KIND_ENUM, CONFIG_KIND_CUSTOM,
};
enum config_key_kind config_key_kind(const struct config_key *k);

#endif
