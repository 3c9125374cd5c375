/* config.h - broker configuration: embedded defaults, a mosquitto-style file of
 * "key value" lines, then command-line overrides. Read-only once workers start, so any
 * thread may read it without locks. docs/configuration.md documents every key. */
#ifndef PETREL_CONFIG_H
#define PETREL_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum queue_full_policy {
	QUEUE_FULL_DROP_NEW,      /* mosquitto's behaviour: refuse the newest */
	QUEUE_FULL_DROP_OLDEST,   /* evict the oldest queued message */
	QUEUE_FULL_BACKPRESSURE,  /* stop reading publishers until the queue drains */
};

struct config {
	/* listener PORT [BIND_ADDRESS]; default 1883 on 127.0.0.1 */
	char bind_address[64];
	uint16_t port;
	unsigned workers;                 /* 0 = one per online core */
	bool allow_anonymous;             /* default true */
	bool allow_zero_length_clientid;  /* default true */
	char auto_id_prefix[32];          /* default "auto-" */
	unsigned max_inflight_messages;   /* per session, outgoing QoS 1/2; default 20; 0 = 65535 */
	unsigned max_queued_messages;     /* per session, behind the window; default 1000; 0 = unlimited */
	size_t max_queued_bytes;          /* per session payload bytes queued; default 0 = unlimited */
	enum queue_full_policy queue_full_policy;   /* default backpressure */
	bool queue_qos0_messages;         /* queue QoS 0 for offline persistent sessions; default false */
	size_t max_packet_size;           /* bytes incl. fixed header; default 0 = 268435460 (protocol max) */
	int max_connections;              /* default -1 = unlimited */
	unsigned max_keepalive;           /* seconds; 0 = no limit; a 3.1.1 client asking more (or 0) gets CONNACK 2, as in mosquitto; default 0 */
	unsigned connect_timeout;         /* seconds a new connection has to send CONNECT; default 10 */
	size_t max_outgoing_bytes;        /* per connection unsent bytes before it counts as slow; default 1 MiB */
	bool retain_available;            /* default true */
	unsigned max_subscriptions_per_client; /* filters per session; default 10000; 1..UINT_MAX */
	unsigned max_filters_per_subscribe;    /* per SUBSCRIBE packet, rest get 0x80; default 1000 */
	bool persistence;                 /* default false (the persistence issue wires it) */
	char persistence_location[PATH_MAX]; /* default "./data" */
	int log_level;                    /* enum log_level; default LOG_NOTICE */
};

/* Fills <c> with the embedded defaults. */
void config_defaults(struct config *c);

/* Applies one "key value" setting. <value> may contain spaces (e.g. listener).
 * Returns 0, or -EINVAL / -ENOENT (unknown key) with a message in <err>. */
int config_set(struct config *c, const char *key, const char *value, char *err,
	       size_t errlen);

/* Reads a file of "key value" lines; '#' starts a comment line, blank lines are
 * skipped. Stops at the first bad line. Returns 0, or -errno with "<path>:<line>: why"
 * in <err>. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* Resolves derived values (workers = cores when 0, the 0 = unlimited limits) and checks
 * consistency. Returns 0 or -EINVAL with a message in <err>. */
int config_finalize(struct config *c, char *err, size_t errlen);

const char *queue_full_policy_name(enum queue_full_policy p);

#endif
