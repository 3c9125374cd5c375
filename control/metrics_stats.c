/* metrics_stats.c - every worker_stats field (stats.h) by name, with what it means on a
 * Prometheus HELP line. The fields come from WORKER_STATS_FIELDS itself so none can be
 * missed; a field added without a line here has a NULL help, which the unit suite
 * (test_metrics) refuses. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "metrics_int.h"

static const struct {
	const char *name;
	const char *help;
} stat_help[] = {
	{ "conn_accepted", "TCP connections accepted" },
	{ "accept_no_fd", "Accepts failed for want of a descriptor or kernel memory" },
	{ "accept_paused", "Episodes of accepting paused by accept failures" },
	{ "accept_failed", "Accepts failed for any other reason" },
	{ "accept_dropped", "Connections accepted, then closed at once (no memory, epoll refused, stopping)" },
	{ "poll_failed", "epoll_wait errors (EINTR excepted)" },
	{ "epoll_ctl_failed", "Event mask changes the kernel refused" },
	{ "conn_closed", "Connections closed, any reason" },
	{ "conn_no_memory", "Connections closed because an allocation failed" },
	{ "connect_accepted", "CONNECT packets answered with CONNACK 0" },
	{ "connect_refused", "CONNECT packets answered with a CONNACK error code" },
	{ "connect_over_limit", "CONNECT packets refused because max_connections was reached" },
	{ "connect_timeout", "Connections closed for sending no CONNECT in time" },
	{ "keepalive_timeout", "Connections closed for 1.5 x keep-alive silence" },
	{ "protocol_error", "Connections closed for malformed or out-of-order packets" },
	{ "packet_too_large", "Connections closed for exceeding max_packet_size" },
	{ "takeover", "Connections closed by a CONNECT with the same client id" },
	{ "handover_held", "Deliveries set aside until a session handover's fence" },
	{ "handover_parked", "Takeover requests parked until a handover's fence" },
	{ "handover_unfenced", "Handovers without an order fence (out of memory)" },
	{ "bytes_in", "Bytes received from MQTT clients" },
	{ "bytes_out", "Bytes sent to MQTT clients" },
	{ "publish_in", "PUBLISH packets received from clients" },
	{ "publish_dup_qos2", "QoS 2 PUBLISH packets re-sent before PUBREL (not routed)" },
	{ "publish_out", "PUBLISH packets sent to clients, resends included" },
	{ "deliver_remote", "Deliveries handed to another worker" },
	{ "will_published", "Will messages published" },
	{ "drop_queue_full", "Messages dropped: queue full, newest dropped" },
	{ "drop_queue_oldest", "Messages dropped: queue full, oldest evicted" },
	{ "drop_queue_bytes", "Messages dropped: max_queued_bytes reached" },
	{ "drop_qos0_offline", "QoS 0 messages for an offline session, not queued" },
	{ "drop_qos0_slow", "QoS 0 messages dropped while the connection's output was over limit" },
	{ "drop_session_gone", "Deliveries that reached a session that had ended" },
	{ "drop_no_memory", "Deliveries dropped because an allocation failed" },
	{ "drop_memory_offline", "Messages not queued for an offline session (memory_limit)" },
	{ "retain_memory_refused", "Retained messages not stored (memory_limit)" },
	{ "conn_memory_limit", "Connections closed: partial packet too big for memory_limit" },
	{ "drop_worker_queue", "QoS 0 messages not posted: the target worker's inbound queue was full" },
	{ "worker_queue_hold", "Publishers held back: the target worker's inbound queue was full" },
	{ "unsubscribe_failed", "Session ends that found a filter missing from the router (a bug)" },
	{ "subscribe_over_client_limit", "Filters refused by max_subscriptions_per_client" },
	{ "subscribe_over_packet_limit", "Filters refused by max_filters_per_subscribe" },
	{ "drop_retained_full", "Retained copies on SUBSCRIBE dropped: queue full" },
	{ "backpressure_pause", "Publisher reads paused by a congested queue" },
	{ "slow_marked", "Sessions congested past backpressure_timeout" },
	{ "drop_slow", "Messages dropped by slow_subscriber_policy" },
	{ "queue_overshoot", "Messages kept past a congested queue's limit (held publisher)" },
	{ "slow_disconnect", "Connections closed by slow_subscriber_policy disconnect" },
	{ "held_input_full", "Paused connections that reached max_held_input_bytes" },
	{ "output_overflow", "Connections closed: unsent control bytes over the limit" },
	{ "output_blocked", "Times a connection's output waited for room in the transport" },
	{ "in_buffer_bytes", "Bytes allocated for partial input packets" },
	{ "resend", "QoS 1/2 PUBLISH or PUBREL packets re-sent on resume" },
	{ "persist_records", "Change records appended for the store" },
	{ "persist_batches", "Record batches pushed to the control plane" },
	{ "persist_oom", "Store records not appended for want of memory" },
	{ "persist_parked_pause", "Connections not read: output behind fences over persistence_max_parked_bytes" },
	{ "persist_pending_hold", "Publishers held back: records waiting for the store over persistence_max_pending_bytes" },
	{ "sessions_expired", "Offline sessions ended by persistent_client_expiration" },
	{ "packets_in", "MQTT packets received, any type" },
	{ "packets_out", "MQTT packets sent, any type" },
	{ "publish_sys_denied", "PUBLISH packets from clients to $SYS topics (acknowledged, not routed)" },
	{ "sessions", "Sessions the worker owns, online or not" },
	{ "sessions_online", "Sessions with a connection bound" },
	{ "admin_requests", "Control plane requests answered" },
	{ "loop_turns", "Worker loop turns" },
	{ "loop_busy_turns", "Worker loop turns whose poll found work" },
};

const char *metrics_stat_help(const struct metrics_stat *st)
{
	for (size_t i = 0; i < sizeof(stat_help) / sizeof(stat_help[0]); i++) {
		if (strcmp(stat_help[i].name, st->name) == 0)
			return stat_help[i].help;
	}
	return NULL;
}

/* The gauges of stats.h (marked "gauge:" there); every other field counts up. */
bool metrics_stat_is_gauge(const struct metrics_stat *st)
{
	return strcmp(st->name, "in_buffer_bytes") == 0 || strcmp(st->name, "sessions") == 0 ||
	       strcmp(st->name, "sessions_online") == 0;
}

#define X(n) { #n, offsetof(struct worker_stats, n) },
const struct metrics_stat metrics_stats[] = { WORKER_STATS_FIELDS(X) };
#undef X

const size_t metrics_nstats = sizeof(metrics_stats) / sizeof(metrics_stats[0]);

const struct metrics_stat *metrics_stat_find(const char *name)
{
	for (size_t i = 0; i < metrics_nstats; i++) {
		if (strcmp(metrics_stats[i].name, name) == 0)
			return &metrics_stats[i];
	}
	return NULL;
}

bool metrics_stat_is_drop(const struct metrics_stat *st)
{
	return strncmp(st->name, "drop_", 5) == 0;
}

uint64_t metrics_drops_total(const struct worker_stats *ws)
{
	uint64_t n = 0;

	for (size_t i = 0; i < metrics_nstats; i++) {
		if (metrics_stat_is_drop(&metrics_stats[i]))
			n += metrics_stat_get(ws, &metrics_stats[i]);
	}
	return n;
}
