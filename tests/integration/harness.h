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

struct mosquitto;

struct broker {
	pid_t pid;
	uint16_t port;
	char conf_path[256];     /* config file written for this run */
	char log_path[256];      /* broker's stderr goes here; dumped on failure */
};

/* Starts $PETREL_BIN on 127.0.0.1 and a free port with "-w <workers>" and the given
 * extra config lines (may be NULL, e.g. "max_inflight_messages 2\nqueue_full_policy
 * drop_oldest\n"). Waits (<= 10 s) until the port accepts connections. Asserts on
 * failure. */
void broker_start(struct broker *b, unsigned workers, const char *extra_config);
/* SIGTERM, wait <= 5 s, then SIGKILL. Returns the exit status as waitpid gives it. */
int broker_stop(struct broker *b);
/* True while the broker process is alive (no crash). */
bool broker_alive(struct broker *b);
/* True if the broker log contains <needle>. */
bool broker_log_contains(struct broker *b, const char *needle);

/* ---- libmosquitto clients -------------------------------------------------------- */

/* A received message, copied out of libmosquitto's callback. */
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
 * cleanSession; keepalive in seconds). Waits <= 5 s for CONNACK. Returns the client
 * even if refused; client_connack_rc() tells the code (-1 if none arrived). */
struct client *client_new(struct broker *b, const char *id, bool clean, int keepalive);
/* As client_new, with a will set before connecting. */
struct client *client_new_will(struct broker *b, const char *id, bool clean,
			       int keepalive, const char *will_topic,
			       const char *will_payload, int will_qos, bool will_retain);
/* Sets protocol version (MQTT_PROTOCOL_V31 / V311) before connect; use with
 * client_create + client_connect for special cases. */
struct client *client_create(const char *id, bool clean);
int client_connect(struct client *c, struct broker *b, int keepalive);
int client_connack_rc(struct client *c);
bool client_session_present(struct client *c);
struct mosquitto *client_mosq(struct client *c);

/* Subscribes and waits <= 5 s for SUBACK; returns the granted QoS (0x80 on failure),
 * or -1 on timeout. */
int client_subscribe(struct client *c, const char *filter, int qos);
int client_unsubscribe(struct client *c, const char *filter);
/* Publishes; for QoS > 0 waits <= 5 s until libmosquitto reports it acknowledged
 * (PUBACK / PUBCOMP). Returns 0 or -1. */
int client_publish(struct client *c, const char *topic, const void *payload, int len,
		   int qos, bool retain);
/* Waits <= timeout_ms for the next received message. Returns true and fills <out>. */
bool client_wait_msg(struct client *c, struct rx_msg *out, int timeout_ms);
/* Number of messages received so far and not yet taken by client_wait_msg. */
int client_pending(struct client *c);
/* True once the broker closed the connection (or it failed). */
bool client_wait_disconnect(struct client *c, int timeout_ms);
/* Sends DISCONNECT and closes cleanly. */
void client_disconnect(struct client *c);
/* Drops the TCP connection without DISCONNECT (will must fire). */
void client_drop(struct client *c);
void client_free(struct client *c);

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

/* ---- command line clients -------------------------------------------------------- */

/* Runs a shell command with a hard time limit (seconds), capturing stdout into <out>
 * (NUL terminated, truncated to cap). Returns the exit status, or -1 on timeout. */
int run_cmd(const char *cmd, int timeout_s, char *out, size_t cap);

/* Milliseconds on a monotonic clock. */
uint64_t now_ms(void);

#endif
