/* msg.c - refcounted immutable messages; see msg.h. */
#include <stdlib.h>
#include <string.h>

#include "petrel/budget.h"
#include "petrel/msg.h"

/* What one message costs the memory budget: its single allocation. */
static size_t msg_footprint(size_t topic_len, size_t payload_len)
{
	return sizeof(struct msg) + topic_len + 1 + payload_len;
}

struct msg *msg_create(const char *topic, size_t topic_len, const void *payload,
		       size_t payload_len, uint8_t qos, bool retain)
{
	struct msg *m;

	if (topic_len > UINT16_MAX || payload_len > UINT32_MAX)
		return NULL;
	m = malloc(msg_footprint(topic_len, payload_len));
	if (m == NULL)
		return NULL;
	budget_add((ssize_t)msg_footprint(topic_len, payload_len));
	atomic_init(&m->refcnt, 1);
	atomic_init(&m->store_id, 0);
	m->qos = qos;
	m->retain = retain;
	m->topic_len = (uint16_t)topic_len;
	m->payload_len = (uint32_t)payload_len;
	memcpy(m->topic, topic, topic_len);
	m->topic[topic_len] = '\0';
	m->payload = (const uint8_t *)m->topic + topic_len + 1;
	if (payload_len > 0)
		memcpy((uint8_t *)m->topic + topic_len + 1, payload, payload_len);
	return m;
}

void msg_unref(struct msg *m)
{
	if (m == NULL)
		return;
	if (atomic_fetch_sub_explicit(&m->refcnt, 1, memory_order_acq_rel) == 1) {
		budget_add(-(ssize_t)msg_footprint(m->topic_len, m->payload_len));
		free(m);
	}
}
