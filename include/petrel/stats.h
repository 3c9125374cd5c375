/* stats.h - per-worker counters and a few gauges (marked; the owner raises and lowers
 * them, a sum over workers is the broker's figure). Each worker writes only its own struct (no atomics on
 * the hot path); readers on other threads (the control plane, shutdown summary) read
 * them without locks and accept a value that is a few increments old. Every drop path
 * in the broker has its own counter. */
#ifndef PETREL_STATS_H
#define PETREL_STATS_H

#include <stdint.h>

#include "petrel/compiler.h"

#define WORKER_STATS_FIELDS(X)                                                         \
	X(conn_accepted)        /* TCP connections accepted */                         \
	X(accept_no_fd)         /* accept failed: no descriptor (EMFILE/ENFILE) or     \
	                           kernel memory (ENOBUFS/ENOMEM) */                   \
	X(accept_paused)        /* episodes of accepting paused by such failures */    \
	X(accept_failed)        /* accept failed for any other reason */               \
	X(accept_dropped)       /* accepted, then closed at once: no memory, epoll     \
	                           refused it, or the broker is stopping */            \
	X(poll_failed)          /* epoll_wait errors (EINTR excepted) */               \
	X(epoll_ctl_failed)     /* event mask changes the kernel refused */            \
	X(conn_closed)          /* connections closed, any reason */                   \
	X(conn_no_memory)       /* of which closed because an allocation failed */     \
	X(connect_accepted)     /* CONNECT answered with CONNACK 0 */                  \
	X(connect_refused)      /* CONNECT answered with a CONNACK error code */       \
	X(connect_over_limit)   /* of those: max_connections reached */               \
	X(connect_timeout)      /* closed for sending no CONNECT in time */           \
	X(keepalive_timeout)    /* closed for 1.5 x keep-alive silence */             \
	X(protocol_error)       /* closed for malformed or out-of-order packets */     \
	X(packet_too_large)     /* closed for exceeding max_packet_size */             \
	X(takeover)             /* connections closed by a CONNECT with the same id */ \
	X(handover_held)        /* deliveries set aside until a handover's fence */   \
	X(handover_parked)      /* takeover requests parked until a handover's fence */\
	X(handover_unfenced)    /* handovers without order fence (out of memory) */   \
	X(bytes_in)                                                                    \
	X(bytes_out)                                                                   \
	X(publish_in)           /* PUBLISH packets received from clients */            \
	X(publish_dup_qos2)     /* QoS 2 PUBLISH re-sent before PUBREL: not routed */  \
	X(publish_out)          /* PUBLISH packets sent to clients (resends too) */    \
	X(deliver_remote)       /* deliveries handed to another worker */              \
	X(will_published)                                                              \
	X(drop_queue_full)      /* queue full, newest dropped (drop_new, offline, or */\
	                        /* backpressure with no publisher to hold back) */    \
	X(drop_queue_oldest)    /* queue full, oldest evicted (drop_oldest) */         \
	X(drop_queue_bytes)     /* max_queued_bytes reached */                         \
	X(drop_qos0_offline)    /* QoS 0 for an offline session, not queued */        \
	X(drop_qos0_slow)       /* QoS 0 while the connection's output is over limit */\
	X(drop_session_gone)    /* delivery reached a session that had ended */        \
	X(drop_no_memory)       /* allocation failed on a delivery path */             \
	X(drop_memory_offline)  /* memory_limit: not queued for an offline session */ \
	X(retain_memory_refused)/* memory_limit: retained message not stored */       \
	X(conn_memory_limit)    /* memory_limit: closed, its partial packet too big */ \
	X(drop_worker_queue)    /* QoS 0 not posted: target worker's inbound full */  \
	X(worker_queue_hold)    /* publisher held back: target worker's inbound full */ \
	X(unsubscribe_failed)   /* session end: a filter missing from the router (a bug) */\
	X(subscribe_over_client_limit) /* filters refused: max_subscriptions_per_client */\
	X(subscribe_over_packet_limit) /* filters refused: max_filters_per_subscribe */\
	X(drop_retained_full)   /* retained copy on SUBSCRIBE, queue full (backpressure) */\
	X(backpressure_pause)   /* publisher reads paused by a congested queue */      \
	X(slow_marked)          /* sessions congested past backpressure_timeout */     \
	X(drop_slow)            /* dropped by slow_subscriber_policy */                \
	X(queue_overshoot)      /* kept past a congested queue's limit (held publisher) */\
	X(slow_disconnect)      /* closed by slow_subscriber_policy disconnect */      \
	X(held_input_full)      /* paused conns that reached max_held_input_bytes */   \
	X(output_overflow)      /* closed: unsent control bytes over the limit */      \
	X(output_blocked)       /* transport full (socket buffer, TCP window): the rest \
	                           of a connection's output waited for room */         \
	X(in_buffer_bytes)      /* gauge: bytes allocated for partial input packets */ \
	X(resend)               /* QoS 1/2 PUBLISH or PUBREL re-sent on resume */      \
	X(persist_records)      /* change records appended for the store (persist.h) */\
	X(persist_batches)      /* record batches pushed to the control plane */       \
	X(persist_oom)          /* records not appended for want of memory: what       \
	                           depended on them was not acknowledged */            \
	X(persist_parked_pause) /* conns not read: output behind fences over           \
	                           persistence_max_parked_bytes */                     \
	X(persist_pending_hold) /* publishers held back: records waiting for the store  \
	                           over persistence_max_pending_bytes */               \
	X(sessions_expired)     /* offline sessions ended by persistent_client_expiration */\
	X(packets_in)           /* MQTT packets received, any type ($SYS messages/received) */\
	X(packets_out)          /* MQTT packets sent, any type ($SYS messages/sent) */ \
	X(publish_sys_denied)   /* PUBLISH from a client to a $SYS topic: acked, not   \
	                           routed or retained (MQTT-4.7.2-1's SHOULD) */       \
	X(sessions)             /* gauge: sessions this worker owns, online or not */  \
	X(sessions_online)      /* gauge: of which with a connection bound */          \
	X(admin_requests)       /* control plane requests answered (admin.h) */       \
	X(loop_turns)           /* worker loop turns */                                \
	X(loop_busy_turns)      /* of which the transport's poll found work */

struct worker_stats {
#define X(name) uint64_t name;
	WORKER_STATS_FIELDS(X)
#undef X
} cache_aligned;

#endif
