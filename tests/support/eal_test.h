/* eal_test.h - DPDK's EAL inside a criterion test process, for suites that build real
 * mbufs (tests/unit/test_net_*.c, test_tcp_*.c): --no-huge --no-pci, no devices, a
 * file prefix of the process's own so parallel tests never share a runtime
 * directory. Criterion runs each test in its own process: call eal_test_init() from
 * the test's .init fixture. */
#ifndef PETREL_EAL_TEST_H
#define PETREL_EAL_TEST_H

struct rte_mempool;

/* Initialises the EAL once per process (criterion asserts on failure) and returns a
 * pool of <n> mbufs of the default size named <name> (created on first use). */
struct rte_mempool *eal_test_init(const char *name, unsigned n);
/* Frees what eal_test_init made and ends the EAL (.fini fixture). */
void eal_test_fini(void);

#endif
