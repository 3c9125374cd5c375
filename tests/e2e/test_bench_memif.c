/* test_bench_memif.c - the generator's DPDK mode end to end: the real petrel serving
 * over net_memif (memif server) and the real petrel-bench --dpdk (memif client) with
 * our TCP stack on both sides, no kernel in the path. Small sizes, a few seconds per
 * run; the no-loss checks of the kernel-mode tests: every connection CONNACKed and
 * counted by the broker (petrelctl status), QoS 1 fan-in and pairs without loss, QoS 2
 * exactly once. Root (DPDK); the memif socket lives in the test's temp directory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_client.h"
#include "harness.h"

TestSuite(bench_memif, .fini = harness_fini);

#define BROKER_ADDR "198.18.0.1"
#define GEN_ADDR "198.18.0.2/24"
/* A run ends by itself within set-up + warm-up + duration + drain; far beyond that. */
#define GEN_WAIT_MS 45000
#define CONNS 3000
#define CONNS_STR "3000"

/* One broker over memif and the paths of its generator's run. */
struct memif_run {
	struct broker b;
	char dir[64];            /* the test's temp dir: memif socket, generator output */
	char sock[128];
	char out[128];           /* petrel-bench's stdout (the JSON line) */
	char err[128];           /* its stderr */
	pid_t gen;
};

static void memif_start(struct memif_run *r)
{
	struct broker_opts o = { .workers = 1, .ready_log = "listening on " };
	char cfg[1024];

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/petrel-memif-XXXXXX");
	cr_assert_not_null(mkdtemp(r->dir), "mkdtemp: %s", strerror(errno));
	snprintf(r->sock, sizeof(r->sock), "%s/memif.sock", r->dir);
	snprintf(r->out, sizeof(r->out), "%s/bench.json", r->dir);
	snprintf(r->err, sizeof(r->err), "%s/bench.err", r->dir);
	snprintf(cfg, sizeof(cfg),
		 "persistence false\ndataplane dpdk\n"
		 "dpdk_eal_args --no-huge -m 256 --no-pci --no-telemetry "
		 "--vdev=net_memif0,role=server,socket=%s,id=0,socket-abstract=no\n"
		 "dpdk_address " BROKER_ADDR "/24\ndpdk_mbufs 8192\n",
		 r->sock);
	o.extra_config = cfg;
	broker_start_opts(&r->b, &o);
}

/* Starts petrel-bench --dpdk with <args> (NULL-terminated) against the broker. */
static void gen_start(struct memif_run *r, const char *const *args)
{
	char bin[PATH_MAX], port[16], eal[512];
	char *argv[64];
	int n = 0;

	harness_bench_bin(bin, sizeof(bin));
	cr_assert_eq(access(bin, X_OK), 0, "no petrel-bench at %s", bin);
	snprintf(port, sizeof(port), "%u", r->b.port);
	/* No --file-prefix here or for the broker: port_open then picks petrel-PID,
	 * removes it at exit and sweeps those of processes that died (a failed test's). */
	snprintf(eal, sizeof(eal), "--no-huge -m 512 --no-pci --no-telemetry "
		 "--vdev=net_memif0,role=client,socket=%s,id=0,socket-abstract=no", r->sock);
	/* execv's argv is char *const[] for history's sake; nothing writes to it. */
#define ARG(s) (argv[n++] = (char *)(uintptr_t)(s))
	ARG(bin);
	while (*args != NULL && n < 50)
		ARG(*args++);
	ARG("--host");
	ARG(BROKER_ADDR);
	ARG("--port");
	ARG(port);
	ARG("--dpdk");
	ARG("--dpdk-eal");
	ARG(eal);
	ARG("--dpdk-address");
	ARG(GEN_ADDR);
#undef ARG
	argv[n] = NULL;
	r->gen = fork();
	cr_assert_neq(r->gen, -1);
	if (r->gen == 0) {
		/* A failed assertion ends this test's process; the generator goes with it
		 * (harness_fini takes care of the broker). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || freopen(r->out, "w", stdout) == NULL ||
		    freopen(r->err, "w", stderr) == NULL)
			_exit(126);
		execv(bin, argv);
		_exit(127);
	}
}

static void dump_file(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* Waits for the generator, asserts it exited 0 and returns its JSON line. */
static json_t *gen_wait(struct memif_run *r)
{
	int status = 0, waited = 0;
	json_error_t jerr;
	json_t *j;
	pid_t w;

	for (;;) {
		w = waitpid(r->gen, &status, WNOHANG);
		if (w == r->gen)
			break;
		cr_assert_eq(w, 0);
		if (waited >= GEN_WAIT_MS) {
			kill(r->gen, SIGKILL);
			waitpid(r->gen, &status, 0);
			dump_file(r->err);
			cr_assert_fail("petrel-bench did not end within %d ms", GEN_WAIT_MS);
		}
		usleep(50 * 1000);
		waited += 50;
	}
	r->gen = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		dump_file(r->err);
		broker_dump_log(&r->b);
		cr_assert_fail("petrel-bench failed (status 0x%x)", status);
	}
	j = json_load_file(r->out, 0, &jerr);
	if (j == NULL)
		dump_file(r->err);
	cr_assert_not_null(j, "petrel-bench's JSON: %s", jerr.text);
	cr_assert_str_eq(json_string_value(json_object_get(j, "transport")), "dpdk");
	return j;
}

static json_int_t jint(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	cr_assert(json_is_integer(v), "no integer \"%s\" in the JSON line", key);
	return json_integer_value(v);
}

static void memif_stop(struct memif_run *r)
{
	if (r->gen > 0) {
		kill(r->gen, SIGKILL);
		waitpid(r->gen, NULL, 0);
	}
	broker_stop_clean(&r->b);
	unlink(r->sock);
	unlink(r->out);
	unlink(r->err);
	rmdir(r->dir);
}

/* A pub/sub run: completed, nothing lost, nobody dropped. */
static json_t *flow_run(struct memif_run *r, const char *const *args)
{
	json_t *j;

	gen_start(r, args);
	j = gen_wait(r);
	cr_expect_eq(jint(j, "connect_errors"), 0);
	cr_expect_gt(jint(j, "published"), 0, "nothing was published");
	cr_expect_eq(jint(j, "lost"), 0, "messages lost");
	cr_expect_eq(jint(j, "received_total"), jint(j, "expected") + jint(j, "duplicates"));
	return j;
}

Test(bench_memif, conn_all_connacked_and_counted_by_the_broker, .timeout = 60)
{
	const char *args[] = { "conn", "--connections", CONNS_STR, "--duration", "2",
			       "--conn-inflight", "200", NULL };
	struct memif_run r;
	json_t *j;

	memif_start(&r);
	gen_start(&r, args);
	/* While the generator holds them: the broker's own count. */
	cr_expect_eq(ctl_wait_status(&r.b, "connections", CONNS, 15000), CONNS,
		     "petrelctl status does not count the generator's connections");
	j = gen_wait(&r);
	cr_expect_eq(jint(j, "connects"), CONNS);
	cr_expect_eq(jint(j, "connect_errors"), 0);
	json_decref(j);
	memif_stop(&r);
}

/* <scenario args> at QoS 1 (no loss), then at QoS 2 (no loss, no duplicate), each a
 * 1 s window, against one broker. */
static void qos1_then_qos2(const char *const *args)
{
	const char *argv[32];
	struct memif_run r;
	int n = 0, qos_at;
	json_t *j;

	while (args[n] != NULL && n < 24) {
		argv[n] = args[n];
		n++;
	}
	argv[n++] = "--warmup";
	argv[n++] = "0.3";
	argv[n++] = "--duration";
	argv[n++] = "1";
	argv[n++] = "--drain";
	argv[n++] = "5";
	argv[n++] = "--qos";
	qos_at = n;
	argv[n++] = "1";
	argv[n] = NULL;
	memif_start(&r);
	json_decref(flow_run(&r, argv));
	argv[qos_at] = "2";
	j = flow_run(&r, argv);
	/* QoS 2: exactly once. */
	cr_expect_eq(jint(j, "duplicates"), 0);
	json_decref(j);
	memif_stop(&r);
}

Test(bench_memif, fanin_qos1_and_qos2_without_loss, .timeout = 60)
{
	const char *args[] = { "fanin", "--publishers", "8", NULL };

	qos1_then_qos2(args);
}

Test(bench_memif, pairs_qos1_and_qos2_on_two_threads_without_loss, .timeout = 60)
{
	/* Two generator lcores on the single-queue memif port: thread 0 steers the
	 * other's frames, and every source port was picked with port_tuple_worker. */
	const char *args[] = { "pairs", "--pairs", "16", "--threads", "2", NULL };

	qos1_then_qos2(args);
}

/* fleet, storm and persist over memif, on one broker (a broker start is the dearest
 * part of a run here): every device message reaches its group's wildcard subscriber;
 * the generator's stack resets every storm client at once (tcp_abort) and all come
 * back with their sessions and queued messages; offline sessions pass through a
 * connect window smaller than their number and every queued message drains. */
Test(bench_memif, fleet_storm_persist_without_loss, .timeout = 90)
{
	const char *fleet[] = { "fleet", "--connections", "1000", "--subscribers", "4",
				"--interval", "0.5", "--warmup", "0.2", "--duration", "1",
				"--drain", "5", "--timeout", "20", "--threads", "2", NULL };
	const char *storm[] = { "storm", "--connections", "1000", "--messages", "2",
				"--conn-inflight", "1000", "--timeout", "20", "--threads", "2",
				NULL };
	const char *persist[] = { "persist", "--connections", "1000", "--messages", "4",
				  "--conn-inflight", "100", "--timeout", "20", NULL };
	struct memif_run r;
	json_t *j;

	memif_start(&r);
	j = flow_run(&r, fleet);
	cr_expect_eq(jint(j, "connects"), 1004);
	cr_expect_eq(jint(j, "duplicates"), 0);
	json_decref(j);
	j = flow_run(&r, storm);
	cr_expect_eq(jint(j, "expected"), 2000);
	cr_expect_eq(jint(j, "sessions_lost"), 0);
	cr_expect_eq(jint(j, "connects"), 1000 + 2 + 1000);
	json_decref(j);
	j = flow_run(&r, persist);
	cr_expect_eq(jint(j, "expected"), 4000);
	cr_expect_eq(jint(j, "sessions_lost"), 0);
	json_decref(j);
	memif_stop(&r);
}
