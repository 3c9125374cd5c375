/* test_memory.c - the broker-wide memory budget (memory_limit, docs/configuration.md):
 * what clients can make the broker hold - partial packets, queues of offline sessions,
 * retained messages - stops at the limit with the documented behaviour, counted and
 * logged once, while other clients go on being served. Real petrel, libmosquitto and
 * raw sockets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "raw_client.h"

TestSuite(memory, .fini = harness_fini, .timeout = 120);

#define MIB (1024 * 1024)
#define LIMIT_LINE "memory_limit reached"

/* Writes a PUBLISH fixed header announcing <body> bytes: the start of a packet that
 * will never be finished. */
static void announce_publish(int fd, uint32_t body)
{
	uint8_t hdr[5];
	size_t n = 0;

	hdr[n++] = 0x30;
	do {
		uint8_t b = body % 128;

		body /= 128;
		hdr[n++] = b | (body > 0 ? 0x80 : 0);
	} while (body > 0);
	cr_assert_eq(raw_send(fd, hdr, n), 0);
}

/* The pub/sub round trip every test ends with: others are still served. */
static void assert_still_serving(struct broker *b)
{
	struct client *sub = connected_client(b, "mem-sub", true);
	struct client *pub = connected_client(b, "mem-pub", true);
	struct rx_msg m;

	cr_assert_eq(client_subscribe(sub, "still/here", 1), 1);
	cr_assert_eq(client_publish(pub, "still/here", "yes", 3, 1, false), 0);
	cr_assert(client_wait_msg(sub, &m, 5000), "a client with nothing to do with the "
		  "budget must still get its message");
	cr_assert(msg_payload_is(&m, "yes"));
	client_close(pub);
	client_close(sub);
}

Test(memory, partial_packets_stop_at_the_limit)
{
	struct broker b;
	enum { CLIENTS = 6, SENT = 24 * MIB, CHUNK = 256 * 1024 };
	int fd[CLIENTS];
	int closed = 0;
	static char chunk[CHUNK];
	long rss;

	/* Six clients each announce a 250 MB packet and send 24 MiB of it: 144 MiB
	 * wanted, 64 MiB allowed. Closed connections' buffers must not linger in ASan's
	 * quarantine for the bound below to mean anything there. */
	harness_small_asan_quarantine();
	broker_start(&b, 1, "memory_limit 67108864\n");
	for (int i = 0; i < CLIENTS; i++) {
		char id[16];

		snprintf(id, sizeof(id), "big%d", i);
		fd[i] = raw_connect(&b);
		cr_assert_eq(raw_mqtt_connect(fd[i], id), 0);
		announce_publish(fd[i], 250u * MIB);
	}
	for (int sent = 0; sent < SENT; sent += CHUNK)
		for (int i = 0; i < CLIENTS; i++)
			if (fd[i] >= 0 && raw_send(fd[i], chunk, CHUNK) < 0) {
				close(fd[i]);
				fd[i] = -1;
				closed++;
			}
	for (int i = 0; i < CLIENTS; i++)
		if (fd[i] >= 0 && raw_wait_closed(fd[i], 1000)) {
			close(fd[i]);
			fd[i] = -1;
			closed++;
		}
	rss = broker_status_kb(&b, "VmRSS");
	cr_assert_geq(closed, 2, "144 MiB of partial packets under a 64 MiB budget: at "
		      "least two connections must be closed, %d were", closed);
	cr_assert_lt(closed, CLIENTS, "the connections that fit are kept");
	/* 64 MiB of buffers, the broker itself and, under ASan, its shadow memory;
	 * without the budget the six buffers alone hold 144 MiB. */
	cr_assert_lt(rss, 128 * 1024, "broker RSS %ld KiB: the budget must bound partial "
		     "packets", rss);
	cr_assert_eq(broker_log_count(&b, LIMIT_LINE), 1, "logged once per episode");
	for (int i = 0; i < CLIENTS; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	assert_still_serving(&b);
	broker_stop_clean(&b);
}

Test(memory, offline_queue_refuses_past_the_limit)
{
	struct broker b;
	enum { N = 100, SIZE = 100 * 1024 };
	struct client *sub, *pub;
	char *payload = calloc(1, SIZE);
	struct rx_msg m;
	int got = 0;

	cr_assert_not_null(payload);
	/* 100 messages of 100 KiB for an offline session: 10 MiB wanted, 2 MiB allowed. */
	broker_start(&b, 1, "memory_limit 2097152\n");
	sub = connected_client(&b, "offline-sub", false);
	cr_assert_eq(client_subscribe(sub, "mem/offline", 1), 1);
	client_close(sub);
	pub = connected_client(&b, "offline-pub", true);
	for (int i = 0; i < N; i++)
		cr_assert_eq(client_publish(pub, "mem/offline", payload, SIZE, 1, false), 0);
	sub = connected_client(&b, "offline-sub", false);
	while (client_wait_msg(sub, &m, 2000))
		got++;
	cr_assert_gt(got, 0, "what fits in the budget is kept");
	cr_assert_lt(got, 25, "2 MiB hold at most 20 messages of 100 KiB, got %d", got);
	cr_assert_eq(broker_log_count(&b, LIMIT_LINE), 1);
	client_close(sub);
	client_close(pub);
	assert_still_serving(&b);
	free(payload);
	broker_stop_clean(&b);
}

Test(memory, retained_not_stored_past_the_limit)
{
	struct broker b;
	enum { N = 50, SIZE = 100 * 1024 };
	struct client *pub, *sub;
	char *payload = calloc(1, SIZE);
	struct rx_msg m;
	int got = 0;

	cr_assert_not_null(payload);
	broker_start(&b, 1, "memory_limit 2097152\n");
	pub = connected_client(&b, "ret-pub", true);
	for (int i = 0; i < N; i++) {
		char topic[32];

		snprintf(topic, sizeof(topic), "mem/ret/%d", i);
		cr_assert_eq(client_publish(pub, topic, payload, SIZE, 1, true), 0);
	}
	sub = connected_client(&b, "ret-sub", true);
	cr_assert_eq(client_subscribe(sub, "mem/ret/#", 1), 1);
	while (client_wait_msg(sub, &m, 2000)) {
		cr_assert(m.retain);
		got++;
	}
	cr_assert_gt(got, 0);
	cr_assert_lt(got, 25, "2 MiB hold at most 20 retained messages of 100 KiB, got %d",
		     got);
	cr_assert_eq(broker_log_count(&b, LIMIT_LINE), 1);
	/* Deleting a retained message works whatever the budget. */
	cr_assert_eq(client_publish(pub, "mem/ret/0", "", 0, 1, true), 0);
	client_close(sub);
	client_close(pub);
	assert_still_serving(&b);
	free(payload);
	broker_stop_clean(&b);
}
