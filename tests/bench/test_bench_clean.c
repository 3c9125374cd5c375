/* test_bench_clean.c - petrel-bench's --clean in the pub/sub scenarios: with --clean 0
 * its subscribers connect with cleanSession 0, so a broker keeps (and, with persistence,
 * stores) their sessions: the persist-* rows of scripts/bench.sh measure that. Its
 * publishers always connect with cleanSession 1 and leave nothing behind. Runs the real
 * petrel-bench (built beside this test) against the real petrel and asks the broker,
 * with a libmosquitto client, whether each session is there (CONNACK session present,
 * MQTT-3.2.2-2 / MQTT-3.2.2-1). */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

TestSuite(bench_clean, .fini = harness_fini);

/* A generator run ends by itself within warm-up + duration + drain plus its set-up
 * bound; this is far beyond that. */
#define GEN_WAIT_MS 60000

/* Runs a short QoS 1 fan-in (2 publishers -> 1 subscriber) with client ids
 * <prefix>s0, <prefix>p0, <prefix>p1, and --clean <clean> unless NULL; asserts exit
 * status 0. */
static void run_fanin(struct broker *b, const char *prefix, const char *clean)
{
	char bin[PATH_MAX], port[16], host[64], pfx[32], cl[4];
	int status = 0, waited = 0;
	pid_t pid, r;

	harness_bench_bin(bin, sizeof(bin));
	cr_assert_eq(access(bin, X_OK), 0, "no petrel-bench at %s", bin);
	snprintf(port, sizeof(port), "%u", b->port);
	snprintf(host, sizeof(host), "%s", harness_host());
	snprintf(pfx, sizeof(pfx), "%s", prefix);
	snprintf(cl, sizeof(cl), "%s", clean != NULL ? clean : "");
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char *argv[] = { bin, "fanin", "--qos", "1", "--publishers", "2",
				 "--warmup", "0", "--duration", "0.3", "--drain", "2",
				 "--host", host, "--port", port, "--client-prefix", pfx,
				 clean != NULL ? "--clean" : NULL, cl, NULL };

		execv(bin, argv);
		_exit(127);
	}
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		cr_assert_eq(r, 0);
		if (waited >= GEN_WAIT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_assert_fail("petrel-bench did not end within %d ms", GEN_WAIT_MS);
		}
		usleep(50 * 1000);
		waited += 50;
	}
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "petrel-bench failed (status 0x%x)", status);
}

/* Whether the broker holds a session for <id>: connect with cleanSession 0 and read
 * CONNACK's session present flag. */
static bool session_kept(struct broker *b, const char *id)
{
	struct client *c = client_new(b, id, false, 60);
	bool present;

	cr_assert_eq(client_connack_rc(c), 0, "CONNACK for %s", id);
	present = client_session_present(c);
	client_disconnect(c);
	client_free(c);
	return present;
}

Test(bench_clean, clean_0_keeps_the_subscribers_sessions_not_the_publishers)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	run_fanin(&b, "tbc0-", "0");
	cr_expect(session_kept(&b, "tbc0-s0"), "the subscriber's session is gone");
	cr_expect(!session_kept(&b, "tbc0-p0"), "a publisher left a session");
	cr_expect(!session_kept(&b, "tbc0-p1"), "a publisher left a session");
	broker_stop_clean(&b);
}

Test(bench_clean, by_default_the_subscribers_are_clean)
{
	struct broker b;

	broker_start(&b, 1, NULL);
	run_fanin(&b, "tbc1-", NULL);
	cr_expect(!session_kept(&b, "tbc1-s0"), "a clean subscriber left a session");
	broker_stop_clean(&b);
}
