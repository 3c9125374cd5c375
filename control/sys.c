/* sys.c - $SYS/broker/... (mosquitto(8) "BROKER STATUS": the same topic names and
 * meanings where Petrel has the figure). Every sys_interval seconds the control plane
 * hands the whole set to worker 0 in one ADMIN_SYS_PUBLISH call; the worker publishes
 * each as a retained QoS 0 message from the broker itself, never stored on disk.
 * Values are text, as mosquitto sends them: counts in decimal, loads with two
 * decimals (per minute), uptime as "N seconds". Control plane thread. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "petrel/admin.h"
#include "petrel/broker.h"
#include "petrel/config.h"
#include "petrel/cplane.h"
#include "petrel/log.h"
#include "petrel/router.h"
#include "petrel/store.h"

#include "metrics_int.h"

/* A tick may come a little early: an interval is due within half a tick of it. */
#define SYS_SLACK_MS 500u

static int add(json_t *list, const char *topic, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int add(json_t *list, const char *topic, const char *fmt, ...)
{
	char t[128], payload[64];
	va_list ap;

	snprintf(t, sizeof(t), "$SYS/broker/%s", topic);
	va_start(ap, fmt);
	vsnprintf(payload, sizeof(payload), fmt, ap);
	va_end(ap);
	return json_array_append_new(list, json_pack("{ss ss}", "topic", t, "payload", payload));
}

static void add_u64(json_t *list, const char *topic, uint64_t v)
{
	add(list, topic, "%llu", (unsigned long long)v);
}

static void add_loads(json_t *list, const struct metrics *m)
{
	static const char *const window[3] = { "1min", "5min", "15min" };
	char topic[96];

	for (int k = 0; k < LOAD_KINDS; k++) {
		for (int j = 0; j < 3; j++) {
			snprintf(topic, sizeof(topic), "load/%s/%s", metrics_load_topics[k],
				 window[j]);
			add(list, topic, "%.2f", m->load[k][j]);
		}
	}
}

/* The whole set, mosquitto's meanings: clients/total counts every session the broker
 * knows (connected or persistent and offline), messages/... every MQTT packet,
 * publish/messages/... PUBLISH packets only. */
static json_t *sys_messages(struct metrics *m)
{
	const struct worker_stats *s = &metrics_fresh(m)->sum;
	struct store *st = cplane_store(m->cp);
	uint64_t online;
	json_t *list = json_array();
	struct store_stats ss;

	if (list == NULL)
		return NULL;
	metrics_refresh(m);
	online = s->sessions_online;
	add(list, "version", "petrel version %s", m->version);
	add(list, "uptime", "%llu seconds", (unsigned long long)metrics_uptime_s(m));
	add_u64(list, "clients/connected", online);
	add_u64(list, "clients/disconnected", s->sessions > online ? s->sessions - online : 0);
	add_u64(list, "clients/total", s->sessions);
	add_u64(list, "clients/maximum", m->clients_max);
	add_u64(list, "clients/expired", s->sessions_expired);
	add_u64(list, "messages/received", s->packets_in);
	add_u64(list, "messages/sent", s->packets_out);
	add_u64(list, "publish/messages/received", s->publish_in);
	add_u64(list, "publish/messages/sent", s->publish_out);
	add_u64(list, "publish/messages/dropped", metrics_drops_total(s));
	add_u64(list, "bytes/received", s->bytes_in);
	add_u64(list, "bytes/sent", s->bytes_out);
	add_loads(list, m);
	add_u64(list, "subscriptions/count", router_count(m->b->router));
	add_u64(list, "retained messages/count", metrics_retained(m));
	if (st != NULL && store_stats(st, &ss) == 0)
		add_u64(list, "store/messages/count", ss.msgs);
	return list;
}

static void sys_done(struct admin_call *call, void *arg)
{
	struct metrics *m = arg;
	const struct admin_msg *r = admin_call_count(call) > 0 ? admin_call_reply(call, 0) : NULL;
	int status = r != NULL ? r->status : -ECANCELED;

	m->sys_in_flight = false;
	if (status == 0) {
		m->sys_retained = m->sys_sending;
		if (m->sys_failed_logged)
			log_notice("$SYS: publishing again");
		m->sys_failed_logged = false;
	} else if (status != -ECANCELED && !m->sys_failed_logged) {
		/* (Cancelled: the broker is stopping.) */
		log_warn("$SYS: worker 0 did not publish: %s", strerror(-status));
		m->sys_failed_logged = true;
	}
}

void metrics_sys_tick(struct metrics *m, uint64_t now_ms)
{
	unsigned interval = cplane_config(m->cp)->sys_interval;
	struct admin_call *call;
	json_t *list;

	if (interval == 0 || m->sys_in_flight || m->nworkers == 0)
		return;
	if (m->sys_started && now_ms + SYS_SLACK_MS < m->sys_last_ms + interval * 1000ull)
		return;
	list = sys_messages(m);
	if (list == NULL)
		return;
	call = admin_call_new(m->cp, ADMIN_SYS_PUBLISH, json_pack("{so}", "messages", list),
			      sys_done, m);
	if (call == NULL)
		return;
	m->sys_started = true;
	m->sys_last_ms = now_ms;
	m->sys_in_flight = true;
	m->sys_sending = json_array_size(list);
	admin_call_send(call, 0, NULL);
}
