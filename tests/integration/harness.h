/* harness.h - starts the real petrel binary for integration tests and gives them
 * clients: libmosquitto (Debian's), mosquitto_pub/mosquitto_sub, and raw sockets for
 * bytes no real client would send. Every wait is bounded; every broker is killed at
 * teardown, also when an assertion fails (criterion runs each test in its own process;
 * the harness kills the broker from an atexit handler and a fini). */
#ifndef PETREL_TEST_HARNESS_H
#define PETREL_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <stdio.h>

struct mosquitto;

/* ---- data plane (harness_netns.c) ------------------------------------------------ */

/* PETREL_TEST_DATAPLANE: kernel (unset), tap or af_xdp. In the DPDK modes the test
 * process lives in a network namespace of its own (entered at the harness's first
 * use), the broker runs with dataplane dpdk on a net_tap port (or net_af_xdp on a veth
 * pair) whose kernel side is in that namespace at 198.18.0.2/24, and the broker
 * answers at 198.18.0.1. */
enum harness_dataplane { HARNESS_KERNEL, HARNESS_TAP, HARNESS_AF_XDP };
enum harness_dataplane harness_dataplane(void);
/* The broker's address for clients: 127.0.0.1, or 198.18.0.1 in the DPDK modes. */
const char *harness_host(void);
/* Skips the test (with <why>) unless the harness runs the broker on kernel sockets:
 * for tests about sockets, descriptors or the process's memory only. */
#define harness_kernel_only(why)                                                       \
	do {                                                                           \
		if (harness_dataplane() != HARNESS_KERNEL)                             \
			cr_skip_test("kernel sockets only: %s", why);                  \
	} while (0)
/* The harness's own steps: enter the namespace, write the broker's data plane lines,
 * configure the broker's tap once it exists (true when ready). */
void harness_netns_enter(void);
void harness_netns_config(FILE *conf, unsigned serial);
bool harness_netns_link(unsigned serial);
struct broker;
/* SIGTERM, then checks that the broker's "dpdk totals" shutdown line names every
 * counter of the NULL-terminated <counters> (e.g. "tcp_syn_cookies_sent="). */
void broker_stop_expect_dpdk_totals(struct broker *b, const char *const *counters);

/* Everything broker_start_opts can vary; zero-initialise and set what matters. */
struct broker_opts {
	unsigned workers;            /* "-w N"; 0 = the broker's default */
	const char *extra_config;    /* as for broker_start; may be NULL */
	const char *cwd;             /* the broker's working directory; NULL = the test's */
	unsigned long nofile;        /* RLIMIT_NOFILE, soft and hard; 0 = inherited */
	bool pin;                    /* start with affinity to <cpu> only (taskset -c) */
	int cpu;
	/* persistence_location. NULL: "data" in the broker's own temporary directory,
	 * removed with it after a clean stop, so no two brokers ever share a store and
	 * no test leaves one behind; broker_restart starts it again on the same one.
	 * extra_config may still
	 * override it, or say "persistence false". */
	const char *store_dir;
	/* Start-up is done when the broker log contains this, instead of when the port
	 * accepts a connection from this host: for a data plane the test cannot reach
	 * with a socket (net_memif). NULL: the connection probe. */
	const char *ready_log;
};

struct broker {
	pid_t pid;
	uint16_t port;
	char conf_path[256];     /* config file written for this run */
	char log_path[256];      /* broker's stderr goes here; dumped on failure */
	char store_dir[256];     /* its persistence_location (see broker_opts.store_dir) */
	char ctl_path[108];      /* its control_socket, in the same directory */
	/* What broker_restart needs to start the same broker again. */
	struct broker_opts opts; /* as started (extra_config is in the config file) */
	unsigned serial;         /* its port in the DPDK modes (harness_netns_config) */
	unsigned runs;           /* processes started on this config so far */
};

/* Starts $PETREL_BIN on 127.0.0.1 (or DPDK: harness_dataplane) and a free port with "-w <workers>" and the given
 * extra config lines (may be NULL, e.g. "max_inflight_messages 2\nqueue_full_policy
 * drop_oldest\n"). Waits (<= 10 s) until the port accepts connections. Asserts on
 * failure. */
void broker_start(struct broker *b, unsigned workers, const char *extra_config);
/* broker_start with the options above. */
void broker_start_opts(struct broker *b, const struct broker_opts *o);
/* SIGTERM, wait <= 5 s, then SIGKILL. Returns the exit status as waitpid gives it. */
int broker_stop(struct broker *b);
/* broker_stop, then asserts the broker shut down cleanly on SIGTERM (exit 0): a crash
 * or a sanitizer report at exit must fail the test that provoked it. */
void broker_stop_clean(struct broker *b);
/* Stops the broker (SIGTERM) and asserts its shutdown totals line (logged at exit)
 * contains <counter> ("name=" or "name=value"), then that it exited cleanly. */
void broker_stop_expect_total(struct broker *b, const char *counter);
/* Persistence tests: end the broker without losing its files (config, log,
 * persistence_location), then start it again on them. While ended, <pid> stays that of
 * the ended process: broker_alive() is false, broker_stop() just cleans up, and the
 * files are removed at the end of the test (harness_fini) if it is not restarted. */
/* SIGKILL, as a crash would (nothing flushed, no shutdown). Asserts it was alive. */
void broker_kill(struct broker *b);
/* SIGTERM, wait <= 5 s (then SIGKILL); returns the wait status. Keeps the files. */
int broker_stop_keep(struct broker *b);
/* broker_stop_keep, asserting a clean exit (0). */
void broker_stop_keep_clean(struct broker *b);
/* Starts the ended broker again with the same config file, port, workers, data plane
 * port and persistence_location; its stderr goes to a new log (broker-<run>.log,
 * <log_path> names it). Waits <= 10 s until it accepts connections; asserts. */
void broker_restart(struct broker *b);
/* True while the broker process is alive (no crash). */
bool broker_alive(struct broker *b);
/* True if the broker log contains <needle>. */
bool broker_log_contains(struct broker *b, const char *needle);
/* Waits <= timeout_ms until the broker log contains <needle>. broker_start returns
 * once the first listener accepts, which can be before every worker runs. */
bool broker_wait_log(struct broker *b, const char *needle, int timeout_ms);
/* A field in KiB of the broker's /proc/<pid>/status ("VmRSS", "VmHWM"), or -1. */
long broker_status_kb(struct broker *b, const char *field);
/* Brokers started after this keep at most 8 MB of freed memory in ASan's quarantine
 * (256 MB by default), so a memory bound measures what the broker holds. Harmless for
 * a build without ASan, which ignores ASAN_OPTIONS. */
void harness_small_asan_quarantine(void);
/* The petrel-bench to run: $PETREL_BENCH_BIN, else the one built beside the test
 * binary (tests/bench). Asserts it can find its own path. */
void harness_bench_bin(char *out, size_t cap);
/* How many lines of the broker log contain <needle>. */
int broker_log_count(struct broker *b, const char *needle);
/* Prints the last few KiB of the broker log to stderr (done automatically when a
 * harness wait that should not time out does). */
void broker_dump_log(struct broker *b);
/* Kills (SIGKILL) every broker and background command this test process started and
 * has not stopped yet. Meant as a suite's fini, so a failed assertion never leaves a
 * broker behind: TestSuite(connect, .fini = harness_fini). An atexit handler does the
 * same, and each child also gets PR_SET_PDEATHSIG so a killed test takes it along. */
void harness_fini(void);

/* ---- libmosquitto clients -------------------------------------------------------- */

/* A received message, copied out of libmosquitto's callback. <payload_len> is the real
 * length; <payload> holds its first min(payload_len, sizeof payload) bytes, and one NUL
 * after them when there is room, so short text payloads can be compared as strings. */
struct rx_msg {
	char topic[256];
	uint8_t payload[1024];
	int payload_len;
	int qos;
	bool retain;
	int mid;
};

struct client;   /* a libmosquitto client driven by its own network thread (loop_start) */

/* Creates and connects a client (id may be NULL for an empty client id; clean selects
 * cleanSession; keepalive in seconds, libmosquitto refuses 1..4: use raw sockets for
 * short keepalives). Waits <= 5 s for CONNACK. Returns the client even if refused;
 * client_connack_rc() tells the code (-1 if none arrived). A client never reconnects
 * by itself: once the connection ends (refused, closed by the broker, dropped), it
 * stays disconnected, so a taken-over client does not take the session back. */
struct client *client_new(struct broker *b, const char *id, bool clean, int keepalive);
/* As client_new, with a will set before connecting. */
struct client *client_new_will(struct broker *b, const char *id, bool clean,
			       int keepalive, const char *will_topic,
			       const char *will_payload, int will_qos, bool will_retain);
/* Sets protocol version (MQTT_PROTOCOL_V31 / V311) before connect; use with
 * client_create + client_connect for special cases. */
struct client *client_create(const char *id, bool clean);
/* Connects a client made by client_create (once per client) and waits <= 5 s for
 * CONNACK. Returns the CONNACK return code (for MQTT 5 clients, libmosquitto's reason
 * code), or -1 if the TCP connect failed or no CONNACK came. */
int client_connect(struct client *c, struct broker *b, int keepalive);
int client_connack_rc(struct client *c);
bool client_session_present(struct client *c);
struct mosquitto *client_mosq(struct client *c);

/* Subscribes and waits <= 5 s for SUBACK; returns the granted QoS (0x80 on failure),
 * or -1 on timeout. */
int client_subscribe(struct client *c, const char *filter, int qos);
int client_unsubscribe(struct client *c, const char *filter);
/* Waits <= 5 s for an UNSUBSCRIBE round trip on a filter nobody uses. The broker handles
 * a connection's packets in order, so afterwards it has processed everything this
 * client sent before, e.g. the PUBACKs libmosquitto queued for received messages (do
 * this before a takeover, or unacknowledged messages are rightly sent again). Returns
 * 0 or -1. */
int client_sync(struct client *c);
/* Publishes; for QoS > 0 waits <= 5 s until libmosquitto reports it acknowledged
 * (PUBACK / PUBCOMP). QoS 0 returns once libmosquitto queued it: call client_sync()
 * before client_drop() if that message must have reached the broker. Returns 0 or -1. */
int client_publish(struct client *c, const char *topic, const void *payload, int len,
		   int qos, bool retain);
/* Waits <= timeout_ms for the next received message. Returns true and fills <out>. */
bool client_wait_msg(struct client *c, struct rx_msg *out, int timeout_ms);
/* Number of messages received so far and not yet taken by client_wait_msg. */
int client_pending(struct client *c);
/* True once the broker closed the connection (or it failed). */
bool client_wait_disconnect(struct client *c, int timeout_ms);
/* True while the client has a CONNACK 0 and no disconnect since. */
bool client_is_connected(struct client *c);
/* Sends DISCONNECT and closes cleanly. */
void client_disconnect(struct client *c);
/* Drops the TCP connection without DISCONNECT (will must fire). */
void client_drop(struct client *c);
void client_free(struct client *c);
/* client_new (keepalive 60) asserting CONNACK 0, for clients whose connecting is not
 * what the test is about. */
struct client *connected_client(struct broker *b, const char *id, bool clean);
/* client_disconnect, then client_free. */
void client_close(struct client *c);
/* True if <m>'s payload is exactly the bytes of <s> (its NUL not included). */
bool msg_payload_is(const struct rx_msg *m, const char *s);
/* <m>'s payload read as a whole decimal number (sequence numbers), or -1 if it is
 * anything else. */
int msg_payload_int(const struct rx_msg *m);

/* ---- raw sockets ----------------------------------------------------------------- */

/* Connects a blocking TCP socket to the broker; returns the fd. Asserts on failure. */
int raw_connect(struct broker *b);
/* Writes all bytes. Returns 0 or -1. */
int raw_send(int fd, const void *buf, size_t len);
/* Reads exactly <len> bytes within timeout_ms. Returns bytes read (< len on timeout
 * or EOF). */
ssize_t raw_recv(int fd, void *buf, size_t len, int timeout_ms);
/* True if the peer closed the connection (EOF or reset) within timeout_ms; bytes that
 * arrive first are discarded. */
bool raw_wait_closed(int fd, int timeout_ms);
/* Sends a valid 3.1.1 CONNECT with <client_id> (clean session, keepalive 60) and reads
 * the CONNACK; returns its return code or -1. */
int raw_mqtt_connect(int fd, const char *client_id);

/* Reads everything until the peer closes or timeout_ms passes. Keeps the first <cap>
 * bytes in <buf> (may be NULL), sets *closed, returns how many bytes arrived in all. */
size_t raw_drain(int fd, void *buf, size_t cap, int timeout_ms, bool *closed);
/* Reads one whole MQTT packet (fixed header, remaining length, body) within
 * timeout_ms. Returns its total size, or -1 on timeout, EOF, a remaining length over
 * 4 bytes or a packet larger than <cap>. */
ssize_t raw_recv_packet(int fd, uint8_t *buf, size_t cap, int timeout_ms);
/* Sends PINGREQ and expects PINGRESP as the next packet within timeout_ms. */
bool raw_ping(int fd, int timeout_ms);

/* Packets built by hand, byte by byte, so tests can make them as wrong as they like:
 * append the body, then raw_pkt_finish() puts the fixed header in front. */
struct raw_pkt {
	uint8_t body[16384];
	size_t len;
	bool overflow;           /* an append did not fit; finish then fails */
};
void raw_pkt_init(struct raw_pkt *p);
void raw_pkt_u8(struct raw_pkt *p, uint8_t v);
void raw_pkt_u16(struct raw_pkt *p, uint16_t v);     /* big endian */
void raw_pkt_bytes(struct raw_pkt *p, const void *data, size_t len);
/* An MQTT string: 2-byte length, then the bytes as given (no validation). */
void raw_pkt_str(struct raw_pkt *p, const char *s);
void raw_pkt_lstr(struct raw_pkt *p, const void *s, size_t len);
/* Writes <first_byte>, the remaining length (= body length) and the body to <out>.
 * Returns the bytes written, or 0 if <cap> is too small or the body overflowed. */
size_t raw_pkt_finish(const struct raw_pkt *p, uint8_t first_byte, uint8_t *out,
		      size_t cap);
/* raw_pkt_finish + raw_send. Returns 0 or -1. */
int raw_pkt_send(int fd, const struct raw_pkt *p, uint8_t first_byte);

/* Every field of a hand-built CONNECT. Zero-initialise and set what matters. */
struct raw_connect_opts {
	const char *client_id;       /* NULL sends a zero-length client id */
	bool clean;
	uint16_t keepalive;
	uint8_t level;               /* 0 = 4 (3.1.1); 3 writes "MQIsdp"; 5 adds an empty
	                              * MQTT 5 property block as a real v5 client would */
	const char *protocol_name;   /* NULL = what <level> implies; e.g. "MQTX" */
	const char *will_topic;      /* non-NULL sets the will flag */
	const char *will_payload;    /* NULL = empty */
	uint8_t will_qos;            /* written as given, 3 included */
	bool will_retain;
	const char *username;        /* non-NULL sets the username flag */
	const char *password;        /* non-NULL sets the password flag, even without a
	                              * username (malformed on purpose) */
	uint8_t extra_flags;         /* ORed into the connect flags, e.g. 0x01 (reserved) */
};
/* Builds the CONNECT into <out>. Returns its size, or 0 if it does not fit. */
size_t raw_build_connect(uint8_t *out, size_t cap, const struct raw_connect_opts *o);
/* Sends that CONNECT and reads the reply within 5 s. Returns the CONNACK return code
 * (and *session_present if not NULL), or -1 if the reply was not a CONNACK. */
int raw_mqtt_connect_opts(int fd, const struct raw_connect_opts *o,
			  bool *session_present);

/* ---- command line clients -------------------------------------------------------- */

/* Runs a shell command with a hard time limit (seconds), capturing stdout into <out>
 * (NUL terminated, truncated to cap). Returns the exit status, or -1 on timeout. */
int run_cmd(const char *cmd, int timeout_s, char *out, size_t cap);

/* A shell command running in the background (same hard time limit through coreutils'
 * timeout), its stdout going to a file the test can watch, e.g. a mosquitto_sub that
 * must be subscribed before the publisher starts. */
struct bg_cmd {
	pid_t pid;
	int timeout_s;
	uint64_t started_ms;
	char out_path[256];
};
void run_cmd_bg(struct bg_cmd *bc, const char *cmd, int timeout_s);
/* Waits <= timeout_ms until the command's stdout so far contains <needle>. */
bool bg_cmd_wait_output(struct bg_cmd *bc, const char *needle, int timeout_ms);
/* Waits for the command to end (at most its time limit plus a little), copies its
 * stdout to <out> like run_cmd and returns its exit status, or -1 on timeout. */
int bg_cmd_finish(struct bg_cmd *bc, char *out, size_t cap);

/* Removes <dir> and everything under it (rm -rf), e.g. a test's own store directory. */
void harness_remove_tree(const char *dir);

/* Milliseconds on a monotonic clock. */
uint64_t now_ms(void);

#endif
