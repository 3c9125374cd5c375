/* test_churn.c - session churn under load: many clients reconnecting with a few
 * shared client ids (takeovers within and across workers, cleanSession flipping)
 * while publishers send QoS 0/1/2 and retained messages. Driven by paho-mqtt
 * (churn.py). The broker must survive, keep serving, and stop cleanly: under the
 * ASan build a use-after-free or leak fails the exit-status check. This is the
 * test that caught a session adopted twice by one worker after two takeovers. */
#include "harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(churn, .fini = harness_fini, .timeout = 120);

static void churn_then_check(unsigned workers)
{
	const char *src = getenv("PETREL_TEST_SRC");
	struct broker b;
	struct client *sub, *pub;
	struct rx_msg m;
	char cmd[1024], out[512];
	int rc, st;

	cr_assert_not_null(src, "PETREL_TEST_SRC is not set (meson test sets it)");
	broker_start(&b, workers, NULL);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/churn.py %u 6", src, b.port);
	rc = run_cmd(cmd, 60, out, sizeof(out));
	cr_assert_eq(rc, 0, "churn.py failed (%d): %s", rc, out);
	cr_assert(strstr(out, "connects=") != NULL, "churn.py printed: %s", out);
	cr_assert(broker_alive(&b), "broker died during churn");

	/* Still serving: a fresh pair exchanges a QoS 1 message. */
	sub = client_new(&b, "after-churn-sub", true, 30);
	cr_assert_eq(client_connack_rc(sub), 0);
	cr_assert_eq(client_subscribe(sub, "after/churn", 1), 1);
	pub = client_new(&b, "after-churn-pub", true, 30);
	cr_assert_eq(client_publish(pub, "after/churn", "ok", 2, 1, false), 0);
	cr_assert(client_wait_msg(sub, &m, 3000), "no delivery after churn");
	cr_assert_str_eq(m.topic, "after/churn");
	client_disconnect(pub);
	client_disconnect(sub);
	client_free(pub);
	client_free(sub);

	st = broker_stop(&b);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "broker did not stop cleanly after churn (wait status 0x%x)", (unsigned)st);
}

Test(churn, one_worker_survives_takeover_churn)
{
	churn_then_check(1);
}

Test(churn, two_workers_survive_cross_worker_takeover_churn)
{
	churn_then_check(2);
}
