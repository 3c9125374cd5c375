/* config.h - broker configuration: embedded defaults, a mosquitto-style file of
 * "key value" lines, then command-line overrides. Read-only once workers start, so any
 * thread may read it without locks. docs/configuration.md documents every key. */
#ifndef PETREL_CONFIG_H
#define PETREL_CONFIG_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum queue_full_policy {
	QUEUE_FULL_DROP_NEW,      /* mosquitto's behaviour: refuse the newest */
	QUEUE_FULL_DROP_OLDEST,   /* evict the oldest queued message */
	QUEUE_FULL_BACKPRESSURE,  /* stop reading publishers until the queue drains */
};

/* memory_limit before config_finalize when the file did not set it: half of RAM. */
#define CONFIG_MEMORY_LIMIT_AUTO SIZE_MAX

/* What a session marked slow (congested past backpressure_timeout) does with a new
 * message that finds its queue full. */
enum slow_policy {
	SLOW_DROP_NEW,            /* refuse the newest (counted), keep the queue */
	SLOW_DROP_OLDEST,         /* evict the oldest queued message */
	SLOW_DISCONNECT,          /* close the subscriber's connection */
};

/* Which data plane carries the MQTT bytes (docs/configuration.md "DPDK data plane"). */
enum dataplane {
	DATAPLANE_KERNEL,         /* kernel sockets, epoll (transport_kernel.c) */
	DATAPLANE_DPDK,           /* DPDK port and our TCP/IP stack (transport_dpdk.c) */
};

/* Longest dpdk_eal_args value. */
#define CONFIG_EAL_ARGS_MAX 1024u

/* persistence_sync (store.h, cplane.h) */
enum persist_sync {
	PERSIST_SYNC_ALWAYS,     /* every commit synced before its acks go out */
	PERSIST_SYNC_INTERVAL,   /* synced every persistence_sync_ms */
	PERSIST_SYNC_NEVER,      /* left to the OS */
};

struct config {
	/* listener PORT [BIND_ADDRESS]; default 1883 on 127.0.0.1 */
	char bind_address[64];
	uint16_t port;
	unsigned workers;                 /* 0 = one per CPU in the inherited affinity mask */
	bool allow_anonymous;             /* default true */
	bool allow_zero_length_clientid;  /* default true */
	char auto_id_prefix[32];          /* default "auto-" */
	unsigned max_inflight_messages;   /* per session, outgoing QoS 1/2; default 20; 0 = 65535 */
	unsigned max_queued_messages;     /* per session, behind the window; default 1000; 0 = unlimited */
	size_t max_queued_bytes;          /* per session payload bytes queued; default 0 = unlimited */
	enum queue_full_policy queue_full_policy;   /* default backpressure */
	bool queue_qos0_messages;         /* queue QoS 0 for offline persistent sessions; default false */
	/* Flow control (docs/architecture.md "Backpressure"). */
	unsigned backpressure_timeout;    /* ms a congested session may hold publishers; default 2000 */
	enum slow_policy slow_subscriber_policy;   /* default drop_new */
	size_t max_held_input_bytes;      /* per paused connection, packets held unread; default 1 MiB */
	unsigned max_worker_inbound;      /* deliveries waiting in one worker's inbound queue; default 65536 */
	size_t max_outgoing_control_bytes;/* per connection unsent acks etc. before it is closed; default 1 MiB */
	size_t max_packet_size;           /* bytes incl. fixed header; default 0 = 268435460 (protocol max) */
	int max_connections;              /* default -1 = unlimited */
	unsigned max_keepalive;           /* seconds; 0 = no limit; a 3.1.1 client asking more (or 0) gets CONNACK 2, as in mosquitto; default 0 */
	unsigned connect_timeout;         /* seconds a new connection has to send CONNECT; default 10 */
	size_t max_outgoing_bytes;        /* per connection unsent bytes before it counts as slow; default 1 MiB */
	size_t memory_limit;              /* bytes clients can make us hold (budget.h); 0 = none; default half of RAM */
	bool retain_available;            /* default true */
	bool persistence;                 /* store cleanSession=0 sessions and retained messages (store.h) */
	char persistence_location[PATH_MAX]; /* directory of the store; default "./data" */
	enum persist_sync persistence_sync;  /* when commits reach the disk; default always */
	unsigned persistence_sync_ms;     /* PERSIST_SYNC_INTERVAL: sync every this many ms */
	uint64_t persistent_client_expiration_ms; /* offline clean=0 sessions older go; 0 = never */
	size_t persistence_max_parked_bytes;  /* per connection output waiting for a commit before it is not read; default 65536 */
	size_t persistence_max_pending_bytes; /* records queued for the control plane before publishers wait; default 256 MiB */
	size_t persistence_max_size;      /* LMDB map size: the store's largest size; default 64 GiB */
	char pid_file[PATH_MAX];          /* "" = none; written at start, removed at exit */
	/* Control and observation (docs/operations.md "Control socket", issue 9). */
	char control_socket[108];         /* Unix socket path (sun_path's size); "" = none; default "./petrel.sock" */
	unsigned control_max_clients;     /* control connections at once; default 16 */
	size_t control_max_line;          /* longest request line, bytes; default 65536 */
	size_t control_max_output;        /* unsent reply bytes per control connection before it is closed; default 64 MiB */
	unsigned control_idle_timeout;    /* seconds a control connection may stay silent with nothing pending; default 60 */
	unsigned control_request_timeout; /* ms the control plane waits for the workers' answers; default 5000 */
	unsigned sys_interval;            /* seconds between $SYS publications; 0 = none; default 10 */
	char metrics_listener[64];        /* ADDR:PORT of the Prometheus endpoint; "" = off (default) */
	unsigned metrics_max_clients;     /* HTTP connections at once on metrics_listener; default 16 */
	unsigned metrics_timeout;         /* seconds an HTTP connection on metrics_listener may stay idle; default 10 */
	unsigned max_subscriptions_per_client; /* filters per session; default 10000; 1..UINT_MAX */
	unsigned max_filters_per_subscribe;    /* per SUBSCRIBE packet, rest get 0x80; default 1000 */
	int log_level;                    /* enum log_level; default LOG_NOTICE */
	bool log_stderr;                  /* log_dest stderr; default true */
	char log_file[PATH_MAX];          /* log_dest file PATH; "" = none */
	/* DPDK data plane (dataplane/port.c, dataplane/transport_dpdk.c). */
	enum dataplane dataplane;         /* default kernel; --dpdk */
	char dpdk_eal_args[CONFIG_EAL_ARGS_MAX]; /* EAL arguments, split like a shell; "" = none */
	unsigned dpdk_port;               /* DPDK port id; default 0 */
	uint32_t dpdk_ip;                 /* dpdk_address, host byte order; default 198.18.0.1 */
	unsigned dpdk_prefix_len;         /* dpdk_address's prefix; default 24 */
	uint32_t dpdk_gateway;            /* host byte order; 0 = none (default) */
	unsigned dpdk_mbufs;              /* mbufs per worker pool; default 8192 */
	unsigned dpdk_idle_spin_us;       /* polling after the last frame before a sleep */
	unsigned dpdk_arp_entries;        /* ARP cache slots per worker; default 256 */
	/* Our TCP, per worker (tcp_params in tcp.h). */
	unsigned tcp_max_connections;     /* TCBs per worker, every state but LISTEN; default 65536 */
	unsigned tcp_syn_backlog;         /* SYN_RECEIVED TCBs per worker before SYN cookies; default 1024 */
	size_t tcp_rcv_buf;               /* bytes kept per connection = largest window; default 262144 */
	unsigned tcp_delayed_ack_ms;      /* default 40; 0 = ACK every segment at once */
	unsigned tcp_rto_min_ms;          /* default 200 */
	/* Fault injection between port and stack (faultinj.h), percent per direction. */
	unsigned fault_drop, fault_duplicate, fault_reorder, fault_corrupt;
	unsigned fault_seed;              /* default 1 */
};

/* Most workers: the one limit of config, broker and docs ("workers"). */
#define CONFIG_WORKERS_MAX 1024u

struct config_src;   /* private to config.c: where a setting comes from */
struct config_key;

/* Reads <value> into the setting <k> stands for. Returns 0, or -EINVAL / -ENOENT with
 * a message in <err>; on failure the setting keeps its previous value. */
typedef int config_set_fn(struct config *c, const struct config_key *k,
			  const char *value, struct config_src *src, char *err,
			  size_t errlen);

/* One configuration key: the single source of its name, parser, default and range.
 * docs/configuration.md documents each (checked by tests/unit/test_config.c). */
struct config_key {
	const char *name;
	config_set_fn *set;
	size_t off;                  /* offsetof(struct config, field), generic setters */
	long long min;               /* numbers: the accepted range */
	unsigned long long max;      /* numbers: the range; strings: longest length */
	const char *const *words;    /* enum keys: words[i] stores i; NULL-terminated */
	const char *def;             /* default as a file writes it; NULL = none */
	const char *help;            /* one line */
};

/* Every key, ending with a NULL name. */
extern const struct config_key config_keys[];
/* Mosquitto options refused by name (NULL-terminated), and option families refused by
 * prefix (plugin_opt_*, auth_opt_*). */
extern const char *const config_refused_keys[];
extern const char *const config_refused_prefixes[];

/* Fills <c> with the embedded defaults. */
void config_defaults(struct config *c);

/* Applies one "key value" setting. <value> may contain spaces (e.g. listener).
 * Returns 0, or -EINVAL / -ENOENT (unknown key) with a message in <err>. */
int config_set(struct config *c, const char *key, const char *value, char *err,
	       size_t errlen);

/* Reads a file of "key value" lines (and the files of its include_dir lines); '#'
 * starts a comment line, blank lines are skipped. Every line is read: <err> gets one
 * "<path>:<line>: why" line per bad line, separated by '\n' (as many as fit). Returns
 * 0, or the -errno of the first bad line. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* Resolves derived values (workers = CPUs the process may run on when 0, the
 * 0 = unlimited limits) and checks
 * consistency. Returns 0 or -EINVAL with a message in <err>. */
int config_finalize(struct config *c, char *err, size_t errlen);

/* A configuration shared by reference (reload, issue 9): the control plane makes one
 * from the re-read file and posts it to every worker, which points worker->cfg at it
 * and drops the one it had. The last reference frees it. Any thread. */
struct config_ref {
	atomic_uint refs;
	struct config cfg;
};
/* A copy of <c> with one reference (the caller's), or NULL. */
struct config_ref *config_ref_new(const struct config *c);
void config_ref_get(struct config_ref *r);
void config_ref_put(struct config_ref *r);

/* ---- reload (control/config_reload.c, issue 9) ------------------------------------
 * A reload reads the configuration again as start-up did and compares it with the one
 * in force, key by key. Keys docs/configuration.md marks "live" take effect; every
 * other changed key is reported as needing a restart and keeps its old value, so
 * workers never see a change they cannot apply. Control plane thread (any thread
 * for the pure functions). */

/* Longest text config_key_render writes: a path (log_dest file, pid_file) plus the
 * words around it. */
#define CONFIG_VALUE_TEXT_MAX (PATH_MAX + 16)

/* The value of <k> in <c>, written as a file line would give it ("1883 127.0.0.1"
 * for listener, "always" / "never" / "500" for persistence_sync, "14d" for
 * persistent_client_expiration, "stderr, file PATH" for log_dest); "" for a key that
 * is unset (pid_file, dpdk_gateway, persistent_client_expiration). Returns 0, or
 * -ENOENT for a key that holds no value of its own (include_dir, log_type, mosquitto's
 * autosave_interval / autosave_on_changes / persistence_file). */
int config_key_render(const struct config *c, const struct config_key *k, char *out,
		      size_t outlen);
/* Whether a change of <k> takes effect on a running broker. */
bool config_key_is_live(const struct config_key *k);

/* One key whose rendered value differs. */
struct config_change {
	const char *key;             /* the config_keys entry's name */
	bool live;                   /* applied; false: needs a restart, not applied */
	char *from;                  /* config_key_render of the old value (owned) */
	char *to;                    /* of the new one (owned) */
};
struct config_diff {
	unsigned n;
	struct config_change *v;     /* in config_keys order */
};
/* Every key whose value differs between <from> and <to>, in config_keys order. Keys
 * another key shows entirely (port and bind_address: listener) are not listed on
 * their own. Returns 0 or -ENOMEM (<d> then empty). */
int config_diff(const struct config *from, const struct config *to,
		struct config_diff *d);
void config_diff_free(struct config_diff *d);

/* The reload: embedded defaults, then the file <path> (NULL: none), then <overrides>
 * ("key", "value", ..., NULL: the command line's, as main applied them), then
 * config_finalize, into <next>; then every key that needs a restart gets <cur>'s
 * value back in <next>, and <d> (may be NULL) lists what changed. Returns 0, or
 * -errno with one "path:line: why" line per problem in <err> (the same lines start-up
 * prints); then <next> is unspecified and <d> empty: nothing may be applied. */
int config_reload(const struct config *cur, const char *path,
		  const char *const *overrides, struct config *next,
		  struct config_diff *d, char *err, size_t errlen);

const char *queue_full_policy_name(enum queue_full_policy p);
const char *slow_policy_name(enum slow_policy p);
const char *dataplane_name(enum dataplane d);

#endif
