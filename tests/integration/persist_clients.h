/* persist_clients.h - the two clients the persistence suites (test_persist*.c) check
 * the broker's promise with (issue 8, docs/operations.md):
 *
 *   ppub: a libmosquitto publisher that keeps publishing QoS 1 or 2 messages numbered
 *         1, 2, 3... without waiting for each acknowledgement (a window of them in
 *         flight, so a kill -9 lands in the middle of flows) and records which were
 *         acknowledged (on_publish: PUBACK for QoS 1, PUBCOMP for QoS 2). The numbering
 *         goes on across connections; each connection is a new cleanSession=1 client
 *         instance, so a message is never sent twice: what the broker delivers twice
 *         it duplicated itself.
 *   psub: a raw-socket subscriber (raw_client.h) that acknowledges everything and
 *         records every delivery, per publisher topic, in arrival order. It keeps the
 *         client's half of the session state across reconnects as MQTT 3.1.1 section
 *         4.1 asks: the ids of QoS 2 messages received whose PUBREL has not come yet.
 *         A QoS 2 PUBLISH whose id is among them is a resend (MQTT-4.3.3-2, method A
 *         delivery: the message was handed on when it first came) and is not counted
 *         again. libmosquitto 2.0 forgets that state with its instance, which is why
 *         the suites do not use it as a subscriber across a crash.
 *
 * Both are driven from the test's main thread (psub entirely; ppub's acknowledgements
 * arrive on libmosquitto's network thread). Every wait is bounded. */
#ifndef PETREL_TEST_PERSIST_CLIENTS_H
#define PETREL_TEST_PERSIST_CLIENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

struct mosquitto;

/* ---- ppub ---------------------------------------------------------------------- */

struct ppub {
	char id[64];
	char topic[128];
	int qos;
	size_t payload_len;          /* payloads are "<seq>" padded with 'x' to this */
	unsigned window;             /* most messages in flight at once */
	uint32_t max_seq;            /* the most it will ever publish */
	uint32_t next_seq;           /* the next message's number (from 1) */

	pthread_mutex_t mu;          /* protects what on_publish touches: */
	bool *acked;                 /* [max_seq + 1]: acknowledged */
	uint32_t nacked;             /* how many acknowledged, all connections */
	uint32_t *seq_of_mid;        /* [65536]: this connection's mids */
	uint32_t conn_sent;          /* published on this connection */
	uint32_t conn_acked;         /* acknowledged on this connection */
	bool connected;
	bool down;                   /* the connection ended (or never came up) */

	struct mosquitto *mosq;      /* NULL between connections */
};

/* Sets <p> up for up to <max_seq> messages of <payload_len> bytes (>= 10) on <topic>
 * at <qos> (1 or 2), at most <window> in flight. Not connected yet. */
void ppub_init(struct ppub *p, const char *id, const char *topic, int qos,
	       size_t payload_len, unsigned window, uint32_t max_seq);
void ppub_fini(struct ppub *p);
/* A new cleanSession=1 connection (the previous one must be down); waits <= 5 s for
 * CONNACK 0 and asserts it. */
void ppub_connect(struct ppub *p, struct broker *b);
/* Publishes as many next messages as the window allows, without waiting. Returns how
 * many it published (0 once down, or the window is full, or max_seq is reached). */
unsigned ppub_step(struct ppub *p);
/* Waits <= timeout_ms until every message of this connection is acknowledged; returns
 * true if so. */
bool ppub_wait_acked(struct ppub *p, int timeout_ms);
/* Ends this connection: DISCONNECT if it is still up, else just notices it is down
 * (the broker was killed). Messages not acknowledged by now stay unacknowledged. */
void ppub_close(struct ppub *p);
/* True while the connection is up (CONNACK came, no disconnect since). */
bool ppub_is_up(struct ppub *p);
uint32_t ppub_acked_count(struct ppub *p);
uint32_t ppub_sent_count(struct ppub *p);     /* published, all connections */
bool ppub_is_acked(struct ppub *p, uint32_t seq);

/* ---- psub ---------------------------------------------------------------------- */

#define PSUB_TOPICS 4

struct psub {
	char id[64];
	int fd;                      /* -1 while offline */
	uint32_t max_seq;
	/* Per publisher topic: deliveries of each seq, the highest new seq so far, and
	 * the first order violation seen (a new seq below that), for the report. */
	const char *topics[PSUB_TOPICS];
	uint16_t *count[PSUB_TOPICS];           /* [max_seq + 1] */
	uint32_t high[PSUB_TOPICS];
	uint32_t order_bad_seq[PSUB_TOPICS];    /* 0 = in order so far */
	uint32_t order_bad_after[PSUB_TOPICS];
	uint32_t delivered;                     /* every delivery counted */
	uint32_t dup_flagged;                   /* PUBLISHes with DUP 1 */
	uint32_t unknown;                       /* PUBLISHes on no known topic */
	/* QoS 2 ids received, PUBREL not yet (the client's session state, 4.1). */
	uint8_t awaiting_rel[65536 / 8];
};

/* <topics> (NULL terminated, <= PSUB_TOPICS) are the publishers' topics it records;
 * payloads start with the decimal seq (ppub's). */
void psub_init(struct psub *s, const char *id, const char *const *topics, uint32_t max_seq);
void psub_fini(struct psub *s);
/* Connects with cleanSession 0; asserts CONNACK 0. Returns session present. A new
 * session (present 0) starts with no QoS 2 ids awaiting PUBREL. */
bool psub_connect(struct psub *s, struct broker *b);
/* Subscribes (asserts SUBACK with <qos> granted). Only on a session with nothing
 * queued: the SUBACK must be the next packet. */
void psub_subscribe(struct psub *s, uint16_t id, const char *filter, uint8_t qos);
/* Reads and acknowledges what the broker sends, for up to <ms>, or until it was
 * silent for <quiet_ms> (0: only <ms>); with <ms> 0, what has arrived already. Notices
 * EOF (fd -1). Returns packets read. */
unsigned psub_poll(struct psub *s, int ms, int quiet_ms);
/* Waits <= ms until one of the <n> subscribers (offline ones skipped) has something
 * to read; then psub_poll(s, 0, 0) takes what is there. Returns how many are ready. */
unsigned psub_wait_any(struct psub *const *subs, size_t n, int ms);
/* Reads whatever the broker sent before it went away, until EOF (<= timeout_ms). */
void psub_drain_to_eof(struct psub *s, int timeout_ms);
/* DISCONNECT and close: the session stays. */
void psub_disconnect(struct psub *s);
/* Deliveries of <seq> from publisher topic <t>. */
unsigned psub_count(const struct psub *s, unsigned t, uint32_t seq);

#endif
