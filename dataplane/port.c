/* port.c - EAL start-up, the broker's DPDK port, its queues, pools and the
 * single-queue steering rings (include/petrel/port.h). port_open/port_close run on the
 * main thread; port_rx/port_tx on each worker's lcore, each touching only its own
 * queue pair, its own rings' consumer side and its own stats. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_thash.h>

#include "petrel/compiler.h"
#include "petrel/config.h"
#include "petrel/log.h"
#include "petrel/net.h"
#include "petrel/port.h"

#define PORT_ARGS_MAX 128
#define PORT_RING_SIZE 4096u       /* frames waiting between two workers */
#define PORT_DESC 1024u            /* RX and TX descriptors per queue, before adjust */
#define PORT_BURST 32u
#define PORT_LINK_WAIT_MS 3000
#define PORT_POOL_CACHE 256u
/* port_info.tx_kick: how long after a queue last sent the worker keeps kicking it. */
#define PORT_TX_KICK_MS 100u
/* Seed of the single-queue steering hash. */
#define PORT_STEER_SEED 0x70657472u
#define PORT_RSS_KEY_MAX 64u

struct port_worker {
	struct rte_mempool *pool;
	struct rte_ring *rx_ring;      /* frames passed to this worker by another */
	struct rte_ring *tx_ring;      /* single-queue: this worker's output for worker 0 */
	unsigned lcore;
	bool shared_pool;              /* <pool> is worker 0's (single-queue mode) */
	uint64_t kick_until;           /* TSC: tx_kick its queue until then */
	int rx_intr_fd;                /* its queue's RX interrupt, or -1 */
	bool rx_intr_ops;              /* the PMD arms and disarms it (else always armed) */
	struct port_stats stats;
} cache_aligned;

struct port {
	struct port_info info;
	unsigned nworkers;
	uint64_t kick_tsc;             /* PORT_TX_KICK_MS in TSC cycles */
	void (*wake)(void *arg, unsigned worker);
	void *wake_arg;
	char runtime_dir[256];         /* removed at close when petrel chose the prefix */
	/* Multi-queue: the port's RSS key and redirection table, for port_tuple_worker.
	 * reta_size 0: the port would not tell (then queue = hash % nqueues). */
	uint8_t rss_key[PORT_RSS_KEY_MAX];
	uint8_t rss_key_len;
	uint16_t reta_size;
	uint16_t *reta;
	struct port_worker w[];
};

/* ---- dpdk_eal_args ------------------------------------------------------------------ */

int port_split_args(const char *s, char **argv, int max, char *buf, size_t buflen,
		    char *err, size_t errlen)
{
	size_t used = 0;
	int argc = 0;

	for (;;) {
		char quote = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (*s == '\0')
			break;
		if (argc == max) {
			snprintf(err, errlen, "more than %d words", max);
			return -E2BIG;
		}
		argv[argc] = buf + used;
		for (; *s != '\0'; s++) {
			char ch = *s;

			if (quote == 0 && (ch == ' ' || ch == '\t' || ch == '\n'))
				break;
			if (quote == 0 && (ch == '\'' || ch == '"')) {
				quote = ch;
				continue;
			}
			if (quote != 0 && ch == quote) {
				quote = 0;
				continue;
			}
			/* POSIX 2.2.3: inside "..." a backslash escapes only $ ` " \ and
			 * newline; inside '...' nothing. */
			if (ch == '\\' && quote != '\'' &&
			    (quote == 0 || strchr("$`\"\\\n", s[1]) != NULL)) {
				if (s[1] == '\0') {
					snprintf(err, errlen, "a '\\' ends the text");
					return -EINVAL;
				}
				ch = *++s;
			}
			if (used + 1 >= buflen) {
				snprintf(err, errlen, "longer than %zu characters", buflen);
				return -E2BIG;
			}
			buf[used++] = ch;
		}
		if (quote != 0) {
			snprintf(err, errlen, "unterminated %c quote", quote);
			return -EINVAL;
		}
		buf[used++] = '\0';
		argc++;
	}
	if (argc < max)
		argv[argc] = NULL;
	return argc;
}

/* Whether the user's arguments already contain option <name> ("--lcores") or a short
 * option <ch> ('l'), alone or with its value attached. */
static bool args_have(char **argv, int argc, const char *name, char ch)
{
	size_t len = name != NULL ? strlen(name) : 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (name != NULL && strncmp(a, name, len) == 0 &&
		    (a[len] == '\0' || a[len] == '='))
			return true;
		if (ch != 0 && a[0] == '-' && a[1] == ch)
			return true;
	}
	return false;
}

/* "--lcores=0@C0,1@C1,..." : lcore 0 (the main thread) and one lcore per worker on the
 * CPUs this process may run on, worker i on the i-th of them as in kernel mode. */
static int lcores_arg(unsigned nworkers, char *out, size_t outlen)
{
	unsigned cpus[CPU_SETSIZE];
	unsigned ncpu = 0;
	size_t off;
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	for (unsigned c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus[ncpu++] = c;
	if (ncpu == 0)
		return -ENOENT;
	off = (size_t)snprintf(out, outlen, "--lcores=0@%u", cpus[0]);
	for (unsigned i = 0; i < nworkers && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, ",%u@%u", i + 1,
					cpus[i % ncpu]);
	return off < outlen ? 0 : -E2BIG;
}

/* The last line of <text> that says something (EAL's reason), into <out>. */
static void last_line(const char *text, size_t len, char *out, size_t outlen)
{
	size_t end = len, start;

	out[0] = '\0';
	while (end > 0) {
		while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == ' '))
			end--;
		start = end;
		while (start > 0 && text[start - 1] != '\n')
			start--;
		if (end > start) {
			snprintf(out, outlen, "%.*s", (int)(end - start), text + start);
			return;
		}
	}
}

/* rte_eal_init with its output captured: on a bad argument the EAL prints its whole
 * usage text, and getopt a line of its own; the operator gets one line instead. */
static int eal_init_quiet(int argc, char **argv, char *err, size_t errlen)
{
	int cap = memfd_create("petrel-eal", MFD_CLOEXEC);
	int out = dup(STDOUT_FILENO), errfd = dup(STDERR_FILENO);
	char text[8192], why[512] = "";
	ssize_t n = 0;
	int rc, saved;

	fflush(stdout);
	fflush(stderr);
	if (cap >= 0 && out >= 0 && errfd >= 0) {
		dup2(cap, STDOUT_FILENO);
		dup2(cap, STDERR_FILENO);
	}
	rc = rte_eal_init(argc, argv);
	saved = rte_errno;
	fflush(stdout);
	fflush(stderr);
	if (cap >= 0 && out >= 0 && errfd >= 0) {
		dup2(out, STDOUT_FILENO);
		dup2(errfd, STDERR_FILENO);
		if (rc < 0) {
			off_t size = lseek(cap, 0, SEEK_END);
			off_t from = size > (off_t)sizeof(text) ? size - (off_t)sizeof(text) : 0;

			n = pread(cap, text, sizeof(text), from);
		}
	}
	if (rc < 0) {
		/* getopt's complaint names the bad option; otherwise EAL's last line. */
		const char *opt = n > 0 ? memmem(text, (size_t)n, "option", 6) : NULL;

		if (opt != NULL) {
			const char *ls = opt, *le = opt;

			while (ls > text && ls[-1] != '\n')
				ls--;
			while (le < text + n && *le != '\n')
				le++;
			/* getopt prefixes argv[0], which the operator knows. */
			if (le - ls > 8 && strncmp(ls, "petrel: ", 8) == 0)
				ls += 8;
			snprintf(why, sizeof(why), "%.*s", (int)(le - ls), ls);
		} else if (n > 0) {
			last_line(text, (size_t)n, why, sizeof(why));
		}
		snprintf(err, errlen, "DPDK EAL start-up failed (%s)%s%s",
			 rte_strerror(saved), why[0] != '\0' ? ": " : "", why);
	}
	if (cap >= 0)
		close(cap);
	if (out >= 0)
		close(out);
	if (errfd >= 0)
		close(errfd);
	return rc < 0 ? -(saved != 0 ? saved : EINVAL) : 0;
}

/* Removes the EAL runtime directory petrel created (its files prefix was ours). */
static void port_remove_runtime_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	rmdir(dir);
}

/* The directory DPDK keeps its processes' runtime directories in (eal_filesystem.h:
 * /var/run/dpdk for root, else $XDG_RUNTIME_DIR/dpdk or /tmp/dpdk). */
static void port_runtime_base(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (getuid() == 0)
		snprintf(buf, len, "/var/run/dpdk");
	else
		snprintf(buf, len, "%s/dpdk", xdg != NULL ? xdg : "/tmp");
}

/* A petrel killed with SIGKILL cannot remove its runtime directory: remove those of
 * petrels that are gone (petrel-<pid> whose pid no longer exists), so they do not pile
 * up. Only the names petrel itself chooses; a directory of a running process stays. */
static void port_sweep_stale_runtime_dirs(void)
{
	char base[256], dir[sizeof(base) + sizeof(((struct dirent *)0)->d_name) + 1];
	DIR *d;
	struct dirent *e;

	port_runtime_base(base, sizeof(base));
	d = opendir(base);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (strncmp(e->d_name, "petrel-", 7) != 0)
			continue;
		errno = 0;
		pid = strtol(e->d_name + 7, &end, 10);
		if (errno != 0 || *end != '\0' || pid <= 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, e->d_name);
		port_remove_runtime_dir(dir);
		log_info("removed the runtime directory %s of petrel %ld, which is gone", dir,
			 pid);
	}
	closedir(d);
}

/* Builds EAL's argv from dpdk_eal_args and what petrel adds, and starts the EAL. */
static int port_eal_start(const struct config *cfg, unsigned nworkers, bool *own_prefix,
			  char *err, size_t errlen)
{
	static char words[CONFIG_EAL_ARGS_MAX + 1];
	static char lcores[4096], prefix[64];
	static char *argv[PORT_ARGS_MAX + 8];
	char why[128];
	int argc, n, rc;

	argv[0] = "petrel";
	n = port_split_args(cfg->dpdk_eal_args, argv + 1, PORT_ARGS_MAX, words,
			    sizeof(words), why, sizeof(why));
	if (n < 0) {
		snprintf(err, errlen, "dpdk_eal_args: %s", why);
		return n;
	}
	argc = 1 + n;
	if (!args_have(argv + 1, n, "--lcores", 'l') && !args_have(argv + 1, n, NULL, 'c')) {
		rc = lcores_arg(nworkers, lcores, sizeof(lcores));
		if (rc < 0) {
			snprintf(err, errlen, "cannot map %u workers onto lcores: %s",
				 nworkers, strerror(-rc));
			return rc;
		}
		argv[argc++] = lcores;
	}
	if (!args_have(argv + 1, n, "--proc-type", 0))
		argv[argc++] = "--proc-type=primary";
	*own_prefix = !args_have(argv + 1, n, "--file-prefix", 0);
	if (*own_prefix) {
		port_sweep_stale_runtime_dirs();
		snprintf(prefix, sizeof(prefix), "--file-prefix=petrel-%ld", (long)getpid());
		argv[argc++] = prefix;
	}
	/* EAL's start-up chatter is at INFO; petrel's debug level shows it. */
	if (!args_have(argv + 1, n, "--log-level", 0) && log_get_level() < LOG_DEBUG)
		argv[argc++] = "--log-level=notice";
	argv[argc] = NULL;
	rc = eal_init_quiet(argc, argv, err, errlen);
	if (rc < 0) {
		/* The EAL may have made its runtime directory before it failed. */
		if (*own_prefix)
			port_remove_runtime_dir(rte_eal_get_runtime_dir());
		return rc;
	}
	/* DPDK's own log lines go where petrel's go, not to stdout and syslog. */
	rte_openlog_stream(stderr);
	if (rte_lcore_count() < nworkers + 1) {
		snprintf(err, errlen, "dpdk_eal_args gives %u lcores; petrel needs %u (the "
			 "main thread and %u workers): drop -l/--lcores to let petrel map "
			 "them, or lower workers", rte_lcore_count(), nworkers + 1, nworkers);
		rte_eal_cleanup();
		if (*own_prefix)
			port_remove_runtime_dir(rte_eal_get_runtime_dir());
		return -EINVAL;
	}
	return 0;
}

/* ---- the port -------------------------------------------------------------------- */

/* One clear line naming the ports there are. */
static void port_missing(uint16_t want, char *err, size_t errlen)
{
	char list[512] = "";
	size_t off = 0;
	uint16_t id;

	RTE_ETH_FOREACH_DEV(id) {
		char name[RTE_ETH_NAME_MAX_LEN] = "?";

		rte_eth_dev_get_name_by_port(id, name);
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%u (%s)",
						off == 0 ? "" : ", ", id, name);
	}
	if (off == 0)
		snprintf(err, errlen, "dpdk_port %u: DPDK found no ports (give one with "
			 "--vdev in dpdk_eal_args, or bind a NIC to vfio-pci: "
			 "docs/operations.md)", want);
	else
		snprintf(err, errlen, "dpdk_port %u does not exist; DPDK found: %s", want,
			 list);
}

/* An mbuf pool packed end to end in virtual memory. net_af_xdp (DPDK 22.11) registers
 * as its UMEM one stretch of memory from the pool's first mbuf, populated_size x
 * element size long. rte_pktmbuf_pool_create keeps each mbuf inside one
 * IOVA-contiguous page: over 4 KiB pages (--no-huge) that is one mbuf per page, most
 * mbufs end up outside the UMEM and net_af_xdp dropped their frames on TX without a
 * word (each loss cost a TCP retransmission timeout). Where IOVA is the virtual
 * address, an mbuf that crosses a page boundary is contiguous in IOVA anyway, so the
 * pool may pack them. */
static struct rte_mempool *port_pool_create(const char *name, unsigned n, int socket)
{
	struct rte_pktmbuf_pool_private priv = {
		.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE,
		.mbuf_priv_size = 0,
	};
	unsigned flags = rte_eal_iova_mode() == RTE_IOVA_VA ? RTE_MEMPOOL_F_NO_IOVA_CONTIG : 0;
	struct rte_mempool *mp;
	int saved;

	mp = rte_mempool_create_empty(name, n, sizeof(struct rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE,
				      PORT_POOL_CACHE, sizeof(priv), socket, flags);
	if (mp == NULL)
		return NULL;
	saved = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (saved == 0) {
		rte_pktmbuf_pool_init(mp, &priv);
		saved = rte_mempool_populate_default(mp);
	}
	if (saved < 0) {
		rte_mempool_free(mp);
		rte_errno = -saved;
		return NULL;
	}
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
}

static int port_pools(struct port *p, const struct config *cfg, int socket, char *err,
		      size_t errlen)
{
	/* Single-queue mode: every frame leaves through queue 0, so every worker
	 * builds its frames from queue 0's pool (one pool of them all). A PMD whose
	 * frame memory is the queue's pool (net_af_xdp) would otherwise copy each
	 * other worker's frame into its own buffer, and that path lost frames over a
	 * veth. The pool is thread-safe; each lcore keeps its own cache. */
	unsigned npools = p->info.steering ? 1 : p->nworkers;
	unsigned each = p->info.steering ? cfg->dpdk_mbufs * p->nworkers : cfg->dpdk_mbufs;

	for (unsigned i = npools; i < p->nworkers; i++)
		p->w[i].shared_pool = true;
	for (unsigned i = 0; i < p->nworkers; i++) {
		char name[RTE_MEMPOOL_NAMESIZE];

		if (i >= npools) {
			p->w[i].pool = p->w[0].pool;
			continue;
		}
		snprintf(name, sizeof(name), "petrel_w%u", i);
		p->w[i].pool = port_pool_create(name, each, socket);
		if (p->w[i].pool == NULL) {
			snprintf(err, errlen, "mbuf pool of worker %u (%u mbufs): %s; give "
				 "the EAL more memory (-m in dpdk_eal_args) or lower "
				 "dpdk_mbufs", i, each, rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	return 0;
}

/* Rings between workers: a receive ring per worker whenever there is more than one
 * (ARP copies, steered frames), and in single-queue mode an output ring per worker
 * other than 0. */
static int port_rings(struct port *p, int socket, char *err, size_t errlen)
{
	if (p->nworkers < 2)
		return 0;
	for (unsigned i = 0; i < p->nworkers; i++) {
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "petrel_rx%u", i);
		p->w[i].rx_ring = rte_ring_create(name, PORT_RING_SIZE, socket,
						  RING_F_SC_DEQ);
		if (p->w[i].rx_ring == NULL)
			goto fail;
		if (!p->info.steering || i == 0)
			continue;
		snprintf(name, sizeof(name), "petrel_tx%u", i);
		p->w[i].tx_ring = rte_ring_create(name, PORT_RING_SIZE, socket,
						  RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (p->w[i].tx_ring == NULL)
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "steering rings: %s", rte_strerror(rte_errno));
	return -ENOMEM;
}

/* Queue count, RSS and offloads from what the device offers. */
static void port_plan(struct port *p, const struct rte_eth_dev_info *di,
		      struct rte_eth_conf *conf)
{
	uint64_t rss = RTE_ETH_RSS_NONFRAG_IPV4_TCP & di->flow_type_rss_offloads;
	uint64_t tx = di->tx_offload_capa, rx = di->rx_offload_capa;

	memset(conf, 0, sizeof(*conf));
	/* Asked for on every port; port_queues drops it if the PMD refuses to start
	 * with it, and port_rx_intr_probe checks what the PMD really gives. */
	conf->intr_conf.rxq = 1;
	p->info.nqueues = 1;
	p->info.steering = false;
	if (p->nworkers > 1) {
		if (di->max_rx_queues >= p->nworkers && di->max_tx_queues >= p->nworkers &&
		    rss != 0) {
			p->info.nqueues = p->nworkers;
			conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf->rx_adv_conf.rss_conf.rss_hf = rss;
		} else {
			p->info.steering = true;
		}
	}
	if (tx & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
		conf->txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
		p->info.offloads |= NET_OFFLOAD_TX_IPV4_CKSUM;
	}
	if (tx & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) {
		conf->txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
		p->info.offloads |= NET_OFFLOAD_TX_TCP_CKSUM;
	}
	/* Chained mbufs: a header mbuf followed by a PUBLISH payload as an external
	 * buffer (DESIGN.md). */
	if (tx & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) {
		conf->txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
		p->info.tx_multi_seg = true;
	}
	if ((rx & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) && (rx & RTE_ETH_RX_OFFLOAD_TCP_CKSUM)) {
		conf->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM |
					 RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
		p->info.offloads |= NET_OFFLOAD_RX_CKSUM;
	}
}

/* Configures the queues with <conf> and starts the port. */
static int port_queues_start(struct port *p, const struct config *cfg,
			     const struct rte_eth_conf *conf)
{
	uint16_t id = p->info.port_id;
	uint16_t nrx = (uint16_t)(PORT_DESC < cfg->dpdk_mbufs / 4 ? PORT_DESC :
				  cfg->dpdk_mbufs / 4);
	uint16_t ntx = PORT_DESC;
	int socket = rte_eth_dev_socket_id(id);
	int rc;

	rc = rte_eth_dev_configure(id, (uint16_t)p->info.nqueues, (uint16_t)p->info.nqueues,
				   conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx);
	for (unsigned q = 0; rc == 0 && q < p->info.nqueues; q++) {
		rc = rte_eth_rx_queue_setup(id, (uint16_t)q, nrx, (unsigned)socket, NULL,
					    p->w[q].pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(id, (uint16_t)q, ntx, (unsigned)socket,
						    NULL);
	}
	if (rc == 0)
		rc = rte_eth_dev_start(id);
	return rc;
}

/* Starts the port with RX interrupts if <conf> asks for them and the PMD accepts
 * them, else without (a PMD may refuse intr_conf.rxq at configure or start). */
static int port_queues(struct port *p, const struct config *cfg,
		       struct rte_eth_conf *conf, char *err, size_t errlen)
{
	uint16_t id = p->info.port_id;
	int rc = port_queues_start(p, cfg, conf);

	if (rc < 0 && conf->intr_conf.rxq) {
		log_info("dpdk_port %u (%s): no start with RX interrupts (%s); starting "
			 "without them", id, p->info.name, rte_strerror(-rc));
		conf->intr_conf.rxq = 0;
		rc = port_queues_start(p, cfg, conf);
	}
	if (rc < 0)
		snprintf(err, errlen, "dpdk_port %u (%s): configuring %u queue pair%s: %s",
			 id, p->info.name, p->info.nqueues, p->info.nqueues == 1 ? "" : "s",
			 rte_strerror(-rc));
	return rc;
}

/* Whether every queue of the started port has an RX interrupt: an event fd, and an
 * enable that works or that the PMD does not need. DPDK 22.11: net_tap has them (the
 * queue's own descriptor, no enable/disable op: always armed), net_af_xdp and
 * net_memif do not (no interrupt vector on the device, no rx_queue_intr_* ops; memif's
 * per-queue eventfds are its own, not ethdev's). All or nothing: a worker whose queue
 * lacks one would sleep past its frames. */
static void port_rx_intr_probe(struct port *p, bool requested)
{
	uint16_t id = p->info.port_id;
	int level = rte_log_get_level(rte_eth_dev_logtype);
	unsigned q;

	p->info.rx_intr = false;
	for (unsigned i = 0; i < p->nworkers; i++)
		p->w[i].rx_intr_fd = -1;
	if (!requested)
		return;
	/* ethdev logs an error for a port without interrupt vectors: here that is the
	 * answer to our question, not a fault worth a line in the operator's log. */
	if (level >= 0)
		rte_log_set_level(rte_eth_dev_logtype, RTE_LOG_CRIT);
	for (q = 0; q < p->info.nqueues; q++) {
		int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(id, (uint16_t)q);
		int rc;

		if (fd < 0)
			break;
		rc = rte_eth_dev_rx_intr_enable(id, (uint16_t)q);
		if (rc == 0)
			rte_eth_dev_rx_intr_disable(id, (uint16_t)q);
		else if (rc != -ENOTSUP)
			break;
		p->w[q].rx_intr_fd = fd;
		p->w[q].rx_intr_ops = rc == 0;
	}
	if (level >= 0)
		rte_log_set_level(rte_eth_dev_logtype, (uint32_t)level);
	p->info.rx_intr = q == p->info.nqueues;
	for (unsigned i = 0; !p->info.rx_intr && i < p->nworkers; i++)
		p->w[i].rx_intr_fd = -1;
}

/* Bounded wait for the link: a tap whose kernel side is not up yet, or a NIC still
 * negotiating, must not hang start-up. Down after the wait: a warning, and the port
 * serves when the link comes. */
static void port_link_wait(struct port *p)
{
	struct rte_eth_link link;

	for (int ms = 0; ms <= PORT_LINK_WAIT_MS; ms += 50) {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(p->info.port_id, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	}
	p->info.link_up = link.link_status == RTE_ETH_LINK_UP;
	p->info.link_speed_mbps = link.link_speed;
	if (!p->info.link_up)
		log_warn("dpdk_port %u (%s): link still down after %d ms; serving when it "
			 "comes up", p->info.port_id, p->info.name, PORT_LINK_WAIT_MS);
}

/* Multi-queue: the RSS key and RETA the port uses, so port_tuple_worker computes the
 * queue the NIC picks. A port that will not tell keeps reta_size 0 (logged). */
static void port_rss_query(struct port *p, const struct rte_eth_dev_info *di)
{
	struct rte_eth_rss_conf rc = { .rss_key = p->rss_key,
				       .rss_key_len = PORT_RSS_KEY_MAX };
	struct rte_eth_rss_reta_entry64 *conf;
	uint16_t n = di->reta_size, groups = (uint16_t)((n + RTE_ETH_RETA_GROUP_SIZE - 1) /
							 RTE_ETH_RETA_GROUP_SIZE);

	if (rte_eth_dev_rss_hash_conf_get(p->info.port_id, &rc) == 0)
		p->rss_key_len = rc.rss_key_len;
	conf = n > 0 ? calloc(groups, sizeof(*conf)) : NULL;
	p->reta = n > 0 ? calloc(n, sizeof(*p->reta)) : NULL;
	if (conf == NULL || p->reta == NULL || p->rss_key_len == 0)
		goto unknown;
	for (uint16_t g = 0; g < groups; g++)
		conf[g].mask = UINT64_MAX;
	if (rte_eth_dev_rss_reta_query(p->info.port_id, conf, n) != 0)
		goto unknown;
	for (uint16_t i = 0; i < n; i++)
		p->reta[i] = conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
	p->reta_size = n;
	free(conf);
	return;
unknown:
	free(conf);
	free(p->reta);
	p->reta = NULL;
	log_notice("port %s: RSS key or RETA unknown; port_tuple_worker assumes hash %% "
		   "queues", p->info.name);
}

static int port_setup(struct port *p, const struct config *cfg, char *err, size_t errlen)
{
	struct rte_eth_dev_info di;
	struct rte_eth_conf conf;
	struct rte_ether_addr mac;
	uint16_t id = (uint16_t)cfg->dpdk_port, mtu = 1500;
	int rc, socket;

	if (cfg->dpdk_port > UINT16_MAX || !rte_eth_dev_is_valid_port(id)) {
		port_missing(id, err, errlen);
		return -ENODEV;
	}
	p->info.port_id = id;
	rte_eth_dev_get_name_by_port(id, p->info.name);
	rc = rte_eth_dev_info_get(id, &di);
	if (rc < 0) {
		snprintf(err, errlen, "dpdk_port %u: %s", id, rte_strerror(-rc));
		return rc;
	}
	snprintf(p->info.driver, sizeof(p->info.driver), "%s", di.driver_name);
	/* net_af_xdp (22.11) hands frames to the kernel only from inside tx_burst, and
	 * one call may leave some in the socket's TX ring: with nothing new to send
	 * they would wait there for ever (the peer never ACKs them, so we never send
	 * again). docs/operations.md "On AF_XDP". */
	p->info.tx_kick = strcmp(di.driver_name, "net_af_xdp") == 0;
	p->kick_tsc = rte_get_tsc_hz() / 1000u * PORT_TX_KICK_MS;
	rte_eth_macaddr_get(id, &mac);
	memcpy(p->info.mac, mac.addr_bytes, 6);
	if (rte_eth_dev_get_mtu(id, &mtu) == 0 && mtu < 576) {
		/* RFC 791: every host must take 576-byte datagrams. */
		snprintf(err, errlen, "dpdk_port %u: MTU %u is below IPv4's 576", id, mtu);
		return -EINVAL;
	}
	p->info.mtu = mtu < 1500 ? mtu : 1500;
	port_plan(p, &di, &conf);
	socket = rte_eth_dev_socket_id(id);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	rc = port_pools(p, cfg, socket, err, errlen);
	if (rc == 0)
		rc = port_rings(p, socket, err, errlen);
	if (rc == 0)
		rc = port_queues(p, cfg, &conf, err, errlen);
	if (rc < 0)
		return rc;
	port_rx_intr_probe(p, conf.intr_conf.rxq != 0);
	if (p->info.nqueues > 1)
		port_rss_query(p, &di);
	/* Once per port: the idle workers' latency depends on it (docs/operations.md).
	 * Not "dpdk_port N (...): ", the prefix of the line that gives the MAC. */
	if (p->info.rx_intr)
		log_notice("port %s: RX interrupts wake idle workers", p->info.name);
	else
		log_notice("port %s: no RX interrupts from %s; idle workers sleep 1 ms at "
			   "a time and poll", p->info.name, p->info.driver);
	port_link_wait(p);
	return 0;
}

static void port_free(struct port *p, bool started)
{
	if (started) {
		rte_eth_dev_stop(p->info.port_id);
		rte_eth_dev_close(p->info.port_id);
	}
	for (unsigned i = 0; i < p->nworkers; i++) {
		rte_ring_free(p->w[i].rx_ring);
		rte_ring_free(p->w[i].tx_ring);
		if (!p->w[i].shared_pool)
			rte_mempool_free(p->w[i].pool);
	}
	rte_eal_cleanup();
	if (p->runtime_dir[0] != '\0')
		port_remove_runtime_dir(p->runtime_dir);
	free(p->reta);
	free(p);
}

struct port *port_open(const struct config *cfg, unsigned nworkers, char *err,
		       size_t errlen)
{
	struct port *p = calloc(1, sizeof(*p) + nworkers * sizeof(p->w[0]));
	bool own_prefix = false;
	unsigned lc, i = 0;
	int rc;

	if (p == NULL) {
		snprintf(err, errlen, "no memory for the port");
		return NULL;
	}
	p->nworkers = nworkers;
	rc = port_eal_start(cfg, nworkers, &own_prefix, err, errlen);
	if (rc < 0) {
		free(p);
		return NULL;
	}
	if (own_prefix)
		snprintf(p->runtime_dir, sizeof(p->runtime_dir), "%s",
			 rte_eal_get_runtime_dir());
	RTE_LCORE_FOREACH_WORKER(lc) {
		if (i < nworkers)
			p->w[i++].lcore = lc;
	}
	rc = port_setup(p, cfg, err, errlen);
	if (rc < 0) {
		/* A port that failed to start is stopped and closed like a started one:
		 * rte_eth_dev_close frees its queues. */
		port_free(p, rte_eth_dev_is_valid_port((uint16_t)cfg->dpdk_port));
		return NULL;
	}
	return p;
}

void port_close(struct port *p)
{
	struct rte_eth_stats st;

	if (p == NULL)
		return;
	/* The device's own view, for the record: what it received, sent, missed. */
	if (rte_eth_stats_get(p->info.port_id, &st) == 0)
		log_notice("dpdk_port %u totals: ipackets=%" PRIu64 " opackets=%" PRIu64
			   " imissed=%" PRIu64 " ierrors=%" PRIu64 " oerrors=%" PRIu64
			   " rx_nombuf=%" PRIu64, p->info.port_id, st.ipackets, st.opackets,
			   st.imissed, st.ierrors, st.oerrors, st.rx_nombuf);
	port_free(p, true);
}

const struct port_info *port_get_info(const struct port *p)
{
	return &p->info;
}

unsigned port_worker_lcore(const struct port *p, unsigned w)
{
	return p->w[w].lcore;
}

struct rte_mempool *port_pool(const struct port *p, unsigned w)
{
	return p->w[w].pool;
}

void port_set_wake(struct port *p, void (*fn)(void *arg, unsigned worker), void *arg)
{
	p->wake = fn;
	p->wake_arg = arg;
}

int port_rx_intr_fd(const struct port *p, unsigned w)
{
	return p->w[w].rx_intr_fd;
}

void port_rx_intr_enable(struct port *p, unsigned w)
{
	if (p->w[w].rx_intr_ops)
		(void)rte_eth_dev_rx_intr_enable(p->info.port_id, (uint16_t)w);
}

void port_rx_intr_disable(struct port *p, unsigned w)
{
	if (p->w[w].rx_intr_ops)
		(void)rte_eth_dev_rx_intr_disable(p->info.port_id, (uint16_t)w);
}

const struct port_stats *port_worker_stats(const struct port *p, unsigned w)
{
	return &p->w[w].stats;
}

unsigned port_rx_pending(const struct port *p, unsigned w)
{
	return p->w[w].rx_ring != NULL ? rte_ring_count(p->w[w].rx_ring) : 0;
}

/* ---- frames ---------------------------------------------------------------------- */

/* Passes <m> to worker <to>'s receive ring, waking it when the ring was empty.
 * Returns 0 or -ENOBUFS (the caller frees <m>). */
static int port_pass(struct port *p, unsigned to, struct rte_mbuf *m)
{
	struct rte_ring *r = p->w[to].rx_ring;
	bool was_empty = rte_ring_empty(r);

	if (rte_ring_mp_enqueue(r, m) != 0)
		return -ENOBUFS;
	if (was_empty && p->wake != NULL)
		p->wake(p->wake_arg, to);
	return 0;
}

/* Copies an ARP frame to every worker but <w>: each keeps its own ARP cache, and a
 * reply lands on whichever queue the port chose. */
static void port_arp_copies(struct port *p, unsigned w, struct rte_mbuf *m)
{
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct rte_mbuf *c;

		if (i == w)
			continue;
		c = rte_pktmbuf_copy(m, p->w[i].pool, 0, UINT32_MAX);
		if (c != NULL && port_pass(p, i, c) == 0) {
			p->w[w].stats.arp_copies++;
			continue;
		}
		rte_pktmbuf_free(c);
		p->w[w].stats.arp_copies++;
		p->w[w].stats.arp_copy_failed++;
	}
}

/* Single-queue steering: the worker of a 4-tuple, from the addresses and the two ports
 * exactly as they sit in the frame (network byte order). */
static unsigned port_steer_hash(const struct port *p, uint32_t src_be, uint32_t dst_be,
				uint32_t ports_raw)
{
	return rte_jhash_3words(src_be, dst_be, ports_raw, PORT_STEER_SEED) % p->nworkers;
}

void port_net_params(const struct port *p, unsigned w, struct net_params *np)
{
	memcpy(np->mac, p->info.mac, sizeof(np->mac));
	np->mtu = p->info.mtu;
	np->offloads = p->info.offloads;
	np->pool = p->w[w].pool;
	np->worker_id = w;
}

uint32_t port_rss_hash(const uint8_t *key, uint32_t src_ip, uint16_t src_port,
		       uint32_t dst_ip, uint16_t dst_port)
{
	struct rte_ipv4_tuple t;

	memset(&t, 0, sizeof(t));
	t.src_addr = src_ip;
	t.dst_addr = dst_ip;
	t.sport = src_port;
	t.dport = dst_port;
	return rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, key);
}

unsigned port_tuple_worker(const struct port *p, uint32_t src_ip, uint16_t src_port,
			   uint32_t dst_ip, uint16_t dst_port)
{
	uint16_t wire[2] = { rte_cpu_to_be_16(src_port), rte_cpu_to_be_16(dst_port) };
	uint32_t ports_raw, h;

	if (p->info.steering) {
		memcpy(&ports_raw, wire, sizeof(ports_raw));
		return port_steer_hash(p, rte_cpu_to_be_32(src_ip), rte_cpu_to_be_32(dst_ip),
				       ports_raw);
	}
	if (p->info.nqueues <= 1)
		return 0;
	h = port_rss_hash(p->rss_key, src_ip, src_port, dst_ip, dst_port);
	if (p->reta_size == 0)
		return h % p->info.nqueues;
	return p->reta[h % p->reta_size] % p->info.nqueues;
}

/* The worker owning the TCP/IPv4 flow of <m> (single-queue mode), or 0 for anything
 * else (non-TCP, fragments, short frames: worker 0's net_if counts them). */
static unsigned port_flow_owner(const struct port *p, const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m), ihl, a, b, ports;

	if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 ||
	    f[14 + 9] != 6)
		return 0;
	/* RFC 791: a fragment (MF set or offset non-zero) has no TCP header to hash. */
	if (((f[14 + 6] & 0x3f) | f[14 + 7]) != 0)
		return 0;
	ihl = (uint32_t)(f[14] & 0x0f) * 4;
	if (ihl < 20 || len < 14 + ihl + 4)
		return 0;
	memcpy(&a, f + 14 + 12, 4);
	memcpy(&b, f + 14 + 16, 4);
	memcpy(&ports, f + 14 + ihl, 4);
	return port_steer_hash(p, a, b, ports);
}

static bool port_is_arp(const struct rte_mbuf *m)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);

	return rte_pktmbuf_data_len(m) >= 14 && f[12] == 0x08 && f[13] == 0x06;
}

/* Queue <q> took frames: with port_info.tx_kick, its worker kicks it for a while. */
static void port_sent(struct port *p, unsigned q)
{
	if (p->info.tx_kick)
		p->w[q].kick_until = rte_get_tsc_cycles() + p->kick_tsc;
}

/* port_info.tx_kick (net_af_xdp): an empty burst, i.e. the PMD's kick_tx: completions
 * reaped and a sendto on the socket. Why a burst's own kick is not always enough is
 * not settled. What the sources say: the kernel's copy-mode sendto
 * (__xsk_generic_xmit) sends at most 32 descriptors (TX_BATCH_SIZE, now
 * max_tx_budget) and returns -EAGAIN with more left, as it does when the completion
 * ring or the socket's send buffer is full; the PMD's kick_tx retries on EAGAIN,
 * EBUSY and EINTR, so a burst should leave nothing behind. What we saw (Linux 6.18,
 * DPDK 22.11.11, veth): without further kicks the flow test stalls every time with
 * about 23 frames taken and never completed, no frame either way, and every sendto
 * returning 0. Kicking on every loop turn cured it but made each empty poll a
 * syscall, so a worker at low rates hardly slept; kicking at most every 50 us brought
 * the stall back (1 run in 5). So: every turn, but only for PORT_TX_KICK_MS after the
 * queue last took frames (13 runs of 13 pass); the stack's retransmissions and window
 * probes are sends too and renew it, and an idle worker stops kicking. */
static void port_kick(struct port *p, unsigned w, struct rte_mbuf **scratch)
{
	struct port_worker *pw = &p->w[w];

	if (!p->info.tx_kick || w >= p->info.nqueues ||
	    (int64_t)(rte_get_tsc_cycles() - pw->kick_until) >= 0)
		return;
	pw->stats.tx_kicks++;
	(void)rte_eth_tx_burst(p->info.port_id, (uint16_t)w, scratch, 0);
}

/* Worker 0, single-queue: sends what the other workers queued for the port. */
static void port_drain_output(struct port *p)
{
	struct rte_mbuf *pkts[PORT_BURST];

	for (unsigned i = 1; i < p->nworkers; i++) {
		unsigned n = rte_ring_sc_dequeue_burst(p->w[i].tx_ring, (void **)pkts,
						       PORT_BURST, NULL);
		uint16_t sent = n > 0 ? rte_eth_tx_burst(p->info.port_id, 0, pkts,
							 (uint16_t)n) : 0;

		p->w[0].stats.tx_relayed += sent;
		if (sent > 0)
			port_sent(p, 0);
		for (unsigned k = sent; k < n; k++) {
			p->w[i].stats.tx_dropped++;
			rte_pktmbuf_free(pkts[k]);
		}
	}
}

uint16_t port_rx(struct port *p, unsigned w, struct rte_mbuf **pkts, uint16_t n)
{
	struct port_worker *pw = &p->w[w];
	uint16_t got = 0, kept = 0;

	if (w < p->info.nqueues)
		got = rte_eth_rx_burst(p->info.port_id, (uint16_t)w, pkts, n);
	for (uint16_t i = 0; i < got; i++) {
		struct rte_mbuf *m = pkts[i];
		unsigned owner = p->info.steering ? port_flow_owner(p, m) : w;

		if (owner != w) {
			if (port_pass(p, owner, m) == 0) {
				pw->stats.steered_out++;
			} else {
				pw->stats.steer_full++;
				rte_pktmbuf_free(m);
			}
			continue;
		}
		if (p->nworkers > 1 && port_is_arp(m))
			port_arp_copies(p, w, m);
		pkts[kept++] = m;
	}
	if (pw->rx_ring != NULL && kept < n)
		kept = (uint16_t)(kept + rte_ring_sc_dequeue_burst(pw->rx_ring,
								   (void **)(pkts + kept),
								   n - kept, NULL));
	if (p->info.steering && w == 0)
		port_drain_output(p);
	port_kick(p, w, pkts + kept);
	pw->stats.rx_frames += kept;
	return kept;
}

uint16_t port_tx(struct port *p, unsigned w, struct rte_mbuf **pkts, uint16_t n)
{
	struct port_worker *pw = &p->w[w];
	uint16_t sent;

	if (!p->info.steering || w == 0) {
		sent = rte_eth_tx_burst(p->info.port_id, (uint16_t)(p->info.steering ? 0 : w),
					pkts, n);
		pw->stats.tx_frames += sent;
		if (sent > 0)
			port_sent(p, p->info.steering ? 0 : w);
		return sent;
	}
	{
		bool was_empty = rte_ring_empty(pw->tx_ring);

		sent = (uint16_t)rte_ring_sp_enqueue_burst(pw->tx_ring, (void **)pkts, n,
							   NULL);
		pw->stats.tx_frames += sent;
		pw->stats.tx_ring_full += (uint64_t)(n - sent);
		if (sent > 0 && was_empty && p->wake != NULL)
			p->wake(p->wake_arg, 0);
	}
	return sent;
}
