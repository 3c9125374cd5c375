/* harness_netns.c - the harness's DPDK modes (PETREL_TEST_DATAPLANE=tap|af_xdp): the
 * test process moves into a network namespace of its own, the broker runs on a DPDK
 * port whose kernel side is in that namespace, and every client (libmosquitto, raw
 * sockets, mosquitto_pub/sub started from the test) reaches it there.
 *
 * The namespace is anonymous (unshare(CLONE_NEWNET) in the test's own process;
 * criterion runs each test in a process of its own): it and every interface in it
 * vanish when the last process in it exits, also after a failed assertion or a crash,
 * so nothing needs removing and nothing stale can pile up. Addresses come from
 * 198.18.0.0/15 (RFC 2544); the namespace has no route anywhere else. */
#include "harness.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NETNS_PEER_ADDR "198.18.0.2/24"
#define NETNS_BROKER_ADDR "198.18.0.1"

enum harness_dataplane harness_dataplane(void)
{
	const char *m = getenv("PETREL_TEST_DATAPLANE");

	if (m == NULL || m[0] == '\0' || strcmp(m, "kernel") == 0)
		return HARNESS_KERNEL;
	if (strcmp(m, "tap") == 0)
		return HARNESS_TAP;
	if (strcmp(m, "af_xdp") == 0)
		return HARNESS_AF_XDP;
	cr_assert_fail("PETREL_TEST_DATAPLANE=%s: expected kernel, tap or af_xdp", m);
	return HARNESS_KERNEL;
}

const char *harness_host(void)
{
	return harness_dataplane() == HARNESS_KERNEL ? "127.0.0.1" : NETNS_BROKER_ADDR;
}

/* Runs an ip(8) command in the test's namespace (bounded by timeout(1)); asserts it
 * worked. Not run_cmd: this runs inside the harness's one-time init. */
static void netns_ip(const char *args)
{
	char cmd[512];
	int st;

	snprintf(cmd, sizeof(cmd), "timeout 10 ip %s", args);
	st = system(cmd);
	cr_assert_eq(st, 0, "'%s' failed (wait status 0x%x)", cmd, (unsigned)st);
}

void harness_netns_enter(void)
{
	if (harness_dataplane() == HARNESS_KERNEL)
		return;
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s (DPDK tests run "
		     "as root)", strerror(errno));
	netns_ip("link set lo up");
	if (harness_dataplane() == HARNESS_AF_XDP) {
		/* The broker's AF_XDP socket on one end, the clients' address on the
		 * other. */
		netns_ip("link add pxdp0 type veth peer name pxdp1");
		netns_ip("addr add " NETNS_PEER_ADDR " dev pxdp1");
		/* A veth leaves the TCP checksum to a NIC that is not there (checksum
		 * offload): the AF_XDP socket would see partial sums. */
		cr_assert_eq(system("timeout 10 ethtool -K pxdp1 tx off >/dev/null"), 0,
			     "ethtool -K pxdp1 tx off failed (package ethtool)");
		netns_ip("link set pxdp0 up");
		netns_ip("link set pxdp1 up");
	}
}

void harness_netns_config(FILE *conf, unsigned serial)
{
	switch (harness_dataplane()) {
	case HARNESS_KERNEL:
		return;
	case HARNESS_TAP:
		fprintf(conf, "dataplane dpdk\ndpdk_eal_args --no-huge -m 256 --no-pci "
			"--no-telemetry --vdev=net_tap0,iface=ptap%u\n", serial);
		break;
	case HARNESS_AF_XDP:
		fprintf(conf, "dataplane dpdk\ndpdk_eal_args --no-huge -m 256 --no-pci "
			"--no-telemetry --vdev=net_af_xdp0,iface=pxdp0\n");
		break;
	}
	fprintf(conf, "dpdk_address " NETNS_BROKER_ADDR "/24\ndpdk_mbufs 4096\n");
}

bool harness_netns_link(unsigned serial)
{
	char name[IF_NAMESIZE], args[128];

	if (harness_dataplane() != HARNESS_TAP)
		return true;
	/* The broker creates its tap here, in our namespace; give it the peer's
	 * address once it exists. */
	snprintf(name, sizeof(name), "ptap%u", serial);
	if (if_nametoindex(name) == 0)
		return false;
	snprintf(args, sizeof(args), "addr replace " NETNS_PEER_ADDR " dev %s", name);
	netns_ip(args);
	snprintf(args, sizeof(args), "link set %s up", name);
	netns_ip(args);
	return true;
}

void broker_stop_expect_dpdk_totals(struct broker *b, const char *const *counters)
{
	bool logged = false;

	cr_assert_eq(kill(b->pid, SIGTERM), 0);
	for (int i = 0; i < 500 && !(logged = broker_log_contains(b, "dpdk totals:")); i++)
		usleep(20000);
	cr_assert(logged, "no dpdk totals line at shutdown");
	for (; *counters != NULL; counters++)
		cr_assert(broker_log_contains(b, *counters), "dpdk totals lack %s", *counters);
	broker_stop_clean(b);
}
