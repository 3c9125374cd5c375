/* will.c - the will message (MQTT 3.1.1 section 3.1.2.5-7): built from CONNECT, kept
 * by the connection, published with its QoS and retain flag when the connection ends
 * without DISCONNECT (MQTT-3.1.2-8), discarded after DISCONNECT (MQTT-3.14.4-3). */
#include <errno.h>

#include "petrel/log.h"
#include "petrel/msg.h"
#include "petrel/topic.h"
#include "mqtt/proto_int.h"

struct msg *will_from_connect(const struct mqtt_connect *p, int *err)
{
	struct msg *m;

	if (!topic_name_valid(p->will_topic.ptr, p->will_topic.len)) {
		*err = -EPROTO;
		return NULL;
	}
	m = msg_create(p->will_topic.ptr, p->will_topic.len, p->will_payload,
		       p->will_payload_len, p->will_qos, p->will_retain);
	if (m == NULL)
		*err = -ENOMEM;
	return m;
}

void will_publish(struct mqtt_conn *c)
{
	struct msg *m = c->will;

	c->will = NULL;
	c->w->stats.will_published++;
	log_info("publishing will on '%s'", m->topic);
	/* Out of memory for a record, a stored subscriber's owner records its copy
	 * itself (session_deliver_held); there is no one to withhold an ack from. */
	(void)broker_route(c->w, m, NULL);
	msg_unref(m);
}
