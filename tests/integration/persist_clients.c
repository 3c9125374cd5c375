/* persist_clients.c - see persist_clients.h. ppub's acknowledgements are recorded on
 * libmosquitto's network thread under ppub.mu; everything else runs on the test's main
 * thread. */
#include "persist_clients.h"

#include <criterion/criterion.h>
#include <mosquitto.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "petrel/mqtt.h"
#include "raw_client.h"

#define PPUB_CONNACK_MS 5000
#define PPUB_CLOSE_MS 2000
/* psub_poll(s, 0, 0) reads at most this many packets. */
#define PSUB_POLL_BATCH 1000
/* mids of one connection must not wrap (libmosquitto counts them from 1). */
#define PPUB_CONN_MAX 65000u

static void pc_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- ppub ---------------------------------------------------------------------- */

static void ppub_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct ppub *p = obj;

	pthread_mutex_lock(&p->mu);
	if (rc == 0)
		p->connected = true;
	else
		p->down = true;
	pthread_mutex_unlock(&p->mu);
	if (rc != 0)
		mosquitto_disconnect(mosq);
}

static void ppub_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct ppub *p = obj;

	(void)rc;
	pthread_mutex_lock(&p->mu);
	p->connected = false;
	p->down = true;
	pthread_mutex_unlock(&p->mu);
	/* No automatic reconnect: the next connection is a new instance, so nothing of
	 * this one is ever sent again. */
	mosquitto_disconnect(mosq);
}

/* PUBACK (QoS 1) or PUBCOMP (QoS 2) for <mid>. */
static void ppub_on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct ppub *p = obj;

	(void)mosq;
	pthread_mutex_lock(&p->mu);
	uint32_t seq = mid > 0 && mid < 65536 ? p->seq_of_mid[mid] : 0;

	if (seq != 0 && !p->acked[seq]) {
		p->acked[seq] = true;
		p->nacked++;
		p->conn_acked++;
	}
	if (seq != 0)
		p->seq_of_mid[mid] = 0;
	pthread_mutex_unlock(&p->mu);
}

void ppub_init(struct ppub *p, const char *id, const char *topic, int qos,
	       size_t payload_len, unsigned window, uint32_t max_seq)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->topic, sizeof(p->topic), "%s", topic);
	cr_assert(qos == 1 || qos == 2, "ppub: QoS %d", qos);
	cr_assert(payload_len >= 10 && payload_len <= 65536, "ppub: payload %zu", payload_len);
	p->qos = qos;
	p->payload_len = payload_len;
	p->window = window ? window : 1;
	p->max_seq = max_seq;
	p->next_seq = 1;
	pthread_mutex_init(&p->mu, NULL);
	p->acked = calloc((size_t)max_seq + 1, sizeof(*p->acked));
	p->seq_of_mid = calloc(65536, sizeof(*p->seq_of_mid));
	cr_assert(p->acked && p->seq_of_mid, "out of memory");
	p->down = true;
}

void ppub_fini(struct ppub *p)
{
	ppub_close(p);
	free(p->acked);
	free(p->seq_of_mid);
	pthread_mutex_destroy(&p->mu);
}

void ppub_connect(struct ppub *p, struct broker *b)
{
	cr_assert_null(p->mosq, "ppub_connect: %s is still connected", p->id);
	p->mosq = mosquitto_new(p->id, true, p);
	cr_assert(p->mosq, "mosquitto_new(%s): %s", p->id, strerror(errno));
	mosquitto_connect_callback_set(p->mosq, ppub_on_connect);
	mosquitto_disconnect_callback_set(p->mosq, ppub_on_disconnect);
	mosquitto_publish_callback_set(p->mosq, ppub_on_publish);
	/* Everything the window allows goes out at once rather than waiting in
	 * libmosquitto's own queue. */
	mosquitto_max_inflight_messages_set(p->mosq, p->window);

	pthread_mutex_lock(&p->mu);
	memset(p->seq_of_mid, 0, 65536 * sizeof(*p->seq_of_mid));
	p->conn_sent = 0;
	p->conn_acked = 0;
	p->connected = false;
	p->down = false;
	pthread_mutex_unlock(&p->mu);

	int rc = mosquitto_connect(p->mosq, harness_host(), b->port, 60);

	cr_assert_eq(rc, MOSQ_ERR_SUCCESS, "mosquitto_connect(%s): %s", p->id,
		     mosquitto_strerror(rc));
	rc = mosquitto_loop_start(p->mosq);
	cr_assert_eq(rc, MOSQ_ERR_SUCCESS, "mosquitto_loop_start: %s", mosquitto_strerror(rc));

	uint64_t deadline = now_ms() + PPUB_CONNACK_MS;
	bool up = false, down = false;

	while (!up && !down && now_ms() < deadline) {
		pc_sleep_ms(5);
		pthread_mutex_lock(&p->mu);
		up = p->connected;
		down = p->down;
		pthread_mutex_unlock(&p->mu);
	}
	if (!up)
		broker_dump_log(b);
	cr_assert(up, "publisher %s: no CONNACK 0 within %d ms", p->id, PPUB_CONNACK_MS);
}

unsigned ppub_step(struct ppub *p)
{
	char *buf = malloc(p->payload_len);
	unsigned n = 0;

	cr_assert(buf, "out of memory");
	memset(buf, 'x', p->payload_len);
	pthread_mutex_lock(&p->mu);
	while (p->mosq && p->connected && !p->down && p->next_seq <= p->max_seq &&
	       p->conn_sent < PPUB_CONN_MAX && p->conn_sent - p->conn_acked < p->window) {
		int mid = 0;
		int len = snprintf(buf, p->payload_len, "%u", (unsigned)p->next_seq);

		buf[len] = 'x';
		/* Under p->mu, so on_publish cannot look the mid up before it is recorded.
		 * libmosquitto calls on_publish without its own message locks held, and
		 * mosquitto_publish takes none that on_publish's thread holds. */
		int rc = mosquitto_publish(p->mosq, &mid, p->topic, (int)p->payload_len, buf,
					   p->qos, false);

		if (rc != MOSQ_ERR_SUCCESS)
			break;
		cr_assert(mid > 0 && mid < 65536 && p->seq_of_mid[mid] == 0,
			  "publisher %s: mid %d reused on one connection", p->id, mid);
		p->seq_of_mid[mid] = p->next_seq++;
		p->conn_sent++;
		n++;
	}
	pthread_mutex_unlock(&p->mu);
	free(buf);
	return n;
}

bool ppub_wait_acked(struct ppub *p, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		bool done = p->conn_acked == p->conn_sent;

		pthread_mutex_unlock(&p->mu);
		if (done)
			return true;
		if (now_ms() >= deadline)
			return false;
		pc_sleep_ms(5);
	}
}

void ppub_close(struct ppub *p)
{
	if (p->mosq == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	bool down = p->down;

	pthread_mutex_unlock(&p->mu);
	if (!down)
		mosquitto_disconnect(p->mosq);

	/* After a kill -9 on kernel sockets the FIN or RST comes at once; a DPDK broker
	 * dies with its TCP stack and sends nothing, so the wait is bounded and the
	 * network thread is cancelled if it still waits. */
	uint64_t deadline = now_ms() + PPUB_CLOSE_MS;

	while (!down && now_ms() < deadline) {
		pc_sleep_ms(5);
		pthread_mutex_lock(&p->mu);
		down = p->down;
		pthread_mutex_unlock(&p->mu);
	}
	mosquitto_loop_stop(p->mosq, !down);
	mosquitto_destroy(p->mosq);
	pthread_mutex_lock(&p->mu);
	p->mosq = NULL;
	p->connected = false;
	p->down = true;
	pthread_mutex_unlock(&p->mu);
}

bool ppub_is_up(struct ppub *p)
{
	pthread_mutex_lock(&p->mu);
	bool up = p->mosq != NULL && p->connected && !p->down;

	pthread_mutex_unlock(&p->mu);
	return up;
}

uint32_t ppub_acked_count(struct ppub *p)
{
	pthread_mutex_lock(&p->mu);
	uint32_t n = p->nacked;

	pthread_mutex_unlock(&p->mu);
	return n;
}

uint32_t ppub_sent_count(struct ppub *p)
{
	pthread_mutex_lock(&p->mu);
	uint32_t n = p->next_seq - 1;

	pthread_mutex_unlock(&p->mu);
	return n;
}

bool ppub_is_acked(struct ppub *p, uint32_t seq)
{
	if (seq == 0 || seq > p->max_seq)
		return false;
	pthread_mutex_lock(&p->mu);
	bool a = p->acked[seq];

	pthread_mutex_unlock(&p->mu);
	return a;
}

/* ---- psub ---------------------------------------------------------------------- */

void psub_init(struct psub *s, const char *id, const char *const *topics, uint32_t max_seq)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->fd = -1;
	s->max_seq = max_seq;
	for (unsigned t = 0; t < PSUB_TOPICS && topics[t] != NULL; t++) {
		s->topics[t] = topics[t];
		s->count[t] = calloc((size_t)max_seq + 1, sizeof(*s->count[t]));
		cr_assert(s->count[t], "out of memory");
	}
}

void psub_fini(struct psub *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	for (unsigned t = 0; t < PSUB_TOPICS; t++)
		free(s->count[t]);
}

bool psub_connect(struct psub *s, struct broker *b)
{
	bool present = false;

	cr_assert_lt(s->fd, 0, "psub_connect: %s is connected", s->id);
	s->fd = raw_session(b, s->id, false, &present);
	if (!present)
		memset(s->awaiting_rel, 0, sizeof(s->awaiting_rel));
	return present;
}

void psub_subscribe(struct psub *s, uint16_t id, const char *filter, uint8_t qos)
{
	uint8_t granted = tx_subscribe(s->fd, id, filter, qos);

	cr_assert_eq(granted, qos, "%s: SUBACK for %s granted 0x%02x, asked %u", s->id, filter,
		     granted, qos);
}

static void psub_close_fd(struct psub *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Unchecked: a broker killed a moment ago cannot take it, and EOF shows on the next
 * read anyway. */
static void psub_ack(struct psub *s, enum mqtt_type type, uint16_t id)
{
	uint8_t buf[4];
	size_t n = mqtt_encode_ack(buf, type, id);

	(void)raw_send(s->fd, buf, n);
}

static uint32_t psub_payload_seq(const struct rpkt *p)
{
	uint32_t v = 0;
	size_t i = 0;

	for (; i < p->payload_len && i < 10 && p->payload[i] >= '0' && p->payload[i] <= '9'; i++)
		v = v * 10 + (uint32_t)(p->payload[i] - '0');
	return i == 0 ? 0 : v;
}

/* One delivery handed to the application. */
static void psub_record(struct psub *s, const struct rpkt *p)
{
	unsigned t = 0;

	while (t < PSUB_TOPICS && (s->topics[t] == NULL || strcmp(s->topics[t], p->topic) != 0))
		t++;

	uint32_t seq = psub_payload_seq(p);

	if (t == PSUB_TOPICS || seq == 0 || seq > s->max_seq) {
		s->unknown++;
		return;
	}
	s->delivered++;
	if (s->count[t][seq] < UINT16_MAX)
		s->count[t][seq]++;
	if (s->count[t][seq] > 1)
		return;      /* a re-delivery: order is judged on first deliveries */
	/* MQTT 4.6.0: a publisher's messages reach a subscription in the order sent; a
	 * seq new to us below one already seen broke it (the broker lost nothing in
	 * between that it still delivers later). */
	if (seq < s->high[t] && s->order_bad_seq[t] == 0) {
		s->order_bad_seq[t] = seq;
		s->order_bad_after[t] = s->high[t];
	}
	if (seq > s->high[t])
		s->high[t] = seq;
}

static void psub_handle(struct psub *s, const struct rpkt *p)
{
	switch (p->type) {
	case MQTT_PUBLISH:
		if (p->dup)
			s->dup_flagged++;
		if (p->qos == 2) {
			uint8_t bit = (uint8_t)(1u << (p->id & 7));
			bool seen = (s->awaiting_rel[p->id >> 3] & bit) != 0;

			/* MQTT-4.3.3-2 (method A): handed on at the first PUBLISH of
			 * this id; until PUBREL, a PUBLISH with it is the same message. */
			if (!seen) {
				s->awaiting_rel[p->id >> 3] |= bit;
				psub_record(s, p);
			}
			psub_ack(s, MQTT_PUBREC, p->id);
		} else {
			psub_record(s, p);
			if (p->qos == 1)
				psub_ack(s, MQTT_PUBACK, p->id);
		}
		break;
	case MQTT_PUBREL:
		s->awaiting_rel[p->id >> 3] &= (uint8_t)~(1u << (p->id & 7));
		psub_ack(s, MQTT_PUBCOMP, p->id);
		break;
	default:
		break;      /* SUBACK, PINGRESP: nothing to do */
	}
}

unsigned psub_poll(struct psub *s, int ms, int quiet_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(ms > 0 ? ms : 0);
	unsigned n = 0;

	while (s->fd >= 0) {
		uint64_t now = now_ms();
		int left = now >= deadline ? 0 : (int)(deadline - now);
		int wait = quiet_ms > 0 && quiet_ms < left ? quiet_ms : left;
		struct rpkt p;
		int r = rx_packet(s->fd, &p, wait);

		if (r < 0) {
			psub_close_fd(s);
			break;
		}
		if (r == 0) {
			if (quiet_ms > 0 || left == 0)
				break;
			continue;
		}
		psub_handle(s, &p);
		n++;
		/* ms 0: what is there, bounded so a busy connection cannot keep the
		 * caller here. */
		if ((ms > 0 && now_ms() >= deadline) || (ms <= 0 && n >= PSUB_POLL_BATCH))
			break;
	}
	return n;
}

unsigned psub_wait_any(struct psub *const *subs, size_t n, int ms)
{
	struct pollfd pfd[8];
	size_t np = 0;
	unsigned ready = 0;

	cr_assert_leq(n, 8, "psub_wait_any: %zu subscribers", n);
	for (size_t i = 0; i < n; i++)
		if (subs[i]->fd >= 0)
			pfd[np++] = (struct pollfd){ .fd = subs[i]->fd, .events = POLLIN };
	if (np == 0) {
		pc_sleep_ms((unsigned)(ms > 0 ? ms : 0));
		return 0;
	}
	if (poll(pfd, (nfds_t)np, ms) > 0)
		for (size_t i = 0; i < np; i++)
			ready += (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
	return ready;
}

void psub_drain_to_eof(struct psub *s, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	while (s->fd >= 0 && now_ms() < deadline)
		psub_poll(s, 50, 0);
	psub_close_fd(s);
}

void psub_disconnect(struct psub *s)
{
	if (s->fd >= 0)
		tx_disconnect(s->fd);
	s->fd = -1;
}

unsigned psub_count(const struct psub *s, unsigned t, uint32_t seq)
{
	if (t >= PSUB_TOPICS || s->count[t] == NULL || seq == 0 || seq > s->max_seq)
		return 0;
	return s->count[t][seq];
}
