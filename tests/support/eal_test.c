/* eal_test.c - see eal_test.h. */
#include <criterion/criterion.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "eal_test.h"

static bool eal_up;

struct rte_mempool *eal_test_init(const char *name, unsigned n)
{
	struct rte_mempool *mp;

	if (!eal_up) {
		char prefix[64];
		char *argv[] = {
			"petrel-test", "--no-huge", "--no-pci", "--no-telemetry", "--no-shconf",
			"-m", "256", "-l", "0", "--log-level=error", prefix, NULL,
		};

		snprintf(prefix, sizeof(prefix), "--file-prefix=petrel-test-%d", (int)getpid());
		cr_assert_geq(rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv), 0,
			      "rte_eal_init: %s", rte_strerror(rte_errno));
		eal_up = true;
	}
	mp = rte_mempool_lookup(name);
	if (mp == NULL)
		mp = rte_pktmbuf_pool_create(name, n, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					     SOCKET_ID_ANY);
	cr_assert_not_null(mp, "mbuf pool %s: %s", name, rte_strerror(rte_errno));
	return mp;
}

void eal_test_fini(void)
{
	char dir[PATH_MAX];

	if (!eal_up)
		return;
	/* --no-shconf writes nothing there, but the EAL still makes the directory. */
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(dir);
	eal_up = false;
}
