/* test_keepalive.c - Keep Alive and PINGREQ/PINGRESP (MQTT 3.1.1 section 3.1.2.10,
 * 3.12, 3.13). Raw sockets, because libmosquitto refuses keepalives under 5 s and
 * pings on its own. */
#include "harness.h"

#include <criterion/criterion.h>

#include <unistd.h>

TestSuite(keepalive, .fini = harness_fini, .timeout = 30);

static int connect_with_keepalive(struct broker *b, const char *id, uint16_t keepalive)
{
	struct raw_connect_opts o = { .client_id = id, .clean = true, .keepalive = keepalive };
	int fd = raw_connect(b);

	cr_assert_eq(raw_mqtt_connect_opts(fd, &o, NULL), 0, "CONNECT with keepalive %u refused",
		     (unsigned)keepalive);
	return fd;
}

Test(keepalive, silent_client_is_closed_after_one_and_a_half_keepalives)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	int fd = connect_with_keepalive(&b, "ka-silent", 1);
	uint64_t t0 = now_ms();
	bool closed = raw_wait_closed(fd, 5000);
	uint64_t took = now_ms() - t0;

	/* MQTT-3.1.2-24: disconnect after 1.5 x keepalive without any packet. Timer
	 * granularity is allowed some slack, but never before one full keepalive. */
	cr_assert(closed, "silent client with keepalive 1 still connected after 5 s");
	cr_assert(took >= 1000 && took <= 3500, "closed after %llu ms, expected 1.0-3.5 s",
		  (unsigned long long)took);
	close(fd);
	cr_assert(broker_alive(&b));
	broker_stop_clean(&b);
}

Test(keepalive, pingreq_is_answered_with_pingresp)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	int fd = connect_with_keepalive(&b, "ka-ping", 60);

	for (int i = 0; i < 3; i++)
		cr_assert(raw_ping(fd, 2000), "PINGREQ %d not answered with PINGRESP (MQTT-3.12.4-1)",
			  i);
	close(fd);
	broker_stop_clean(&b);
}

Test(keepalive, client_pinging_every_half_second_stays_connected)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	int fd = connect_with_keepalive(&b, "ka-busy", 1);
	uint64_t end = now_ms() + 3000;
	int pings = 0;

	/* Bounded both by time and by count. */
	while (now_ms() < end && pings < 20) {
		cr_assert(raw_ping(fd, 1000), "ping %d after %d ms failed: connection dropped", pings,
			  (int)(3000 - (end - now_ms())));
		pings++;
		usleep(500 * 1000);
	}
	cr_assert(pings >= 5, "only %d pings in 3 s", pings);
	cr_assert(raw_ping(fd, 1000), "connection gone after 3 s of pings");
	close(fd);
	broker_stop_clean(&b);
}

Test(keepalive, keepalive_0_means_no_timeout)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	int fd = connect_with_keepalive(&b, "ka-zero", 0);

	cr_assert_not(raw_wait_closed(fd, 3000), "keepalive 0 client was closed while idle");
	cr_assert(raw_ping(fd, 1000), "keepalive 0 client no longer answered after 3 s idle");
	close(fd);
	broker_stop_clean(&b);
}
