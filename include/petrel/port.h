/* port.h - the DPDK side of the broker process: EAL start-up from dpdk_eal_args, the
 * one port the broker serves, its queues, the per-worker mbuf pools, and the frames
 * each worker receives and sends (dataplane/port.c). Main thread for open/close;
 * port_rx/port_tx on the worker's own lcore, no locks.
 *
 * Queues: a port offering as many RX and TX queues as there are workers, and RSS on
 * the TCP/IPv4 4-tuple, gives worker i queue pair i (every segment of a flow reaches
 * its owner). Otherwise the port runs single-queue: worker 0 reads queue 0, hashes
 * each TCP/IPv4 4-tuple in software and passes frames for flows it does not own to
 * their worker over an rte_ring; the other workers hand their output to worker 0 over
 * a ring the other way, and worker 0 transmits it. ARP frames go to every worker
 * (each keeps its own cache), everything else that is not TCP stays with worker 0. */
#ifndef PETREL_PORT_H
#define PETREL_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct port;
struct rte_mbuf;
struct rte_mempool;

/* Splits <s> like a POSIX shell splits words: blanks separate, '...' quotes
 * literally, "..." quotes with \ escaping " \ $ ` and newline, \ outside quotes
 * escapes the next character. No expansion of any kind. Words are written into <buf>
 * and pointed at from <argv> (at most <max>, NULL after the last). Returns the number
 * of words, or -EINVAL (unterminated quote or trailing \) / -E2BIG (too many words or
 * <buf> too small), with a reason in <err>. */
int port_split_args(const char *s, char **argv, int max, char *buf, size_t buflen,
		    char *err, size_t errlen);

/* What the port gives the workers. */
struct port_info {
	uint16_t port_id;
	char name[64];             /* rte_eth_dev_get_name_by_port */
	char driver[32];
	uint8_t mac[6];
	uint16_t mtu;              /* IP MTU the stack uses (<= 1500) */
	uint32_t offloads;         /* NET_OFFLOAD_* (net.h) */
	bool tx_multi_seg;         /* the port sends mbuf chains (tcp_params.tx_chains) */
	bool tx_kick;              /* frames taken may wait in the PMD until its next
				      tx_burst (net_af_xdp): port_rx kicks it */
	bool rx_intr;              /* every queue has an RX interrupt (port_rx_intr_fd) */
	unsigned nqueues;          /* queue pairs configured: nworkers or 1 */
	bool steering;             /* single-queue mode: worker 0 steers by hash */
	bool link_up;              /* at the end of start-up's bounded wait */
	uint32_t link_speed_mbps;
};

#define PORT_STATS_FIELDS(X)                                                           \
	X(rx_frames)        /* frames this worker took from its queue or ring */       \
	X(steered_out)      /* worker 0: frames passed to another worker's ring */     \
	X(steer_full)       /* worker 0: dropped, the owner's receive ring was full */ \
	X(arp_copies)       /* ARP frames copied to the other workers */               \
	X(arp_copy_failed)  /* ... not copied: no mbuf or ring full */                 \
	X(tx_frames)        /* frames the port (or worker 0's ring) took */            \
	X(tx_relayed)       /* worker 0: other workers' frames it sent to the port */  \
	X(tx_ring_full)     /* single-queue: output dropped, worker 0's ring full */   \
	X(tx_dropped)       /* single-queue: this worker's output the port refused */ \
	X(tx_kicks)         /* empty bursts to make the PMD send (port_info.tx_kick) */

struct port_stats {
#define X(name) uint64_t name;
	PORT_STATS_FIELDS(X)
#undef X
};

/* Starts the EAL with dpdk_eal_args plus what petrel needs (docs/configuration.md
 * dpdk_eal_args): lcores for the main thread and <nworkers> workers, primary process,
 * a file prefix of its own. Then checks dpdk_port, configures and starts it with
 * <nworkers> queue pairs or single-queue steering, one mempool of dpdk_mbufs per
 * worker (single-queue: one of dpdk_mbufs x workers they share, as every frame
 * leaves through queue 0), and waits a bounded time (3 s) for the link. Main thread, once per process,
 * with the signals workers must not take already blocked (EAL threads inherit the
 * mask). Returns the port, or NULL with one line in <err> (then the EAL is already
 * cleaned up again). */
struct port *port_open(const struct config *cfg, unsigned nworkers, char *err,
		       size_t errlen);
/* Stops and closes the port, frees pools and rings, cleans the EAL up and removes its
 * runtime directory. After every worker has stopped. NULL is a no-op. */
void port_close(struct port *p);

const struct port_info *port_get_info(const struct port *p);
/* The lcore that runs worker <w> (rte_eal_remote_launch). */
unsigned port_worker_lcore(const struct port *p, unsigned w);
struct rte_mempool *port_pool(const struct port *p, unsigned w);

/* Single-queue mode wakes a worker when it passes it frames (worker 0 -> owner, or
 * output -> worker 0) and that worker's ring was empty: <fn>(arg, worker). Set before
 * workers start; NULL = no wake (the workers poll). */
void port_set_wake(struct port *p, void (*fn)(void *arg, unsigned worker), void *arg);

/* Worker <w>'s received frames, at most <n>: from its queue, then from its ring.
 * Worker 0 in single-queue mode also transmits the other workers' queued output here,
 * so it calls this every loop turn. */
uint16_t port_rx(struct port *p, unsigned w, struct rte_mbuf **pkts, uint16_t n);
/* Sends <n> frames from worker <w>. Returns how many were taken; the caller frees
 * the rest (net_params.tx_burst). */
uint16_t port_tx(struct port *p, unsigned w, struct rte_mbuf **pkts, uint16_t n);
/* Frames waiting for worker <w> in its ring (single-queue mode, ARP copies): the
 * worker must not sleep while this is non-zero. */
unsigned port_rx_pending(const struct port *p, unsigned w);

/* RX interrupts, for idle sleeps (DPDK's l3fwd-power pattern). The event fd of worker
 * <w>'s queue, or -1 when it has none (port_info.rx_intr false, or a worker without a
 * queue in single-queue mode: port_set_wake wakes those). Watch it edge-triggered
 * (EPOLLIN | EPOLLET) and never read it: on net_tap it is the queue's own descriptor,
 * on a NIC an eventfd whose counter nobody needs. */
int port_rx_intr_fd(const struct port *p, unsigned w);
/* Before sleeping: arms <w>'s interrupt. The caller must then poll once more
 * (port_rx) and sleep only if that finds nothing: a frame that came between the last
 * poll and the arming raised no interrupt. No-op without an interrupt. */
void port_rx_intr_enable(struct port *p, unsigned w);
/* After waking: disarms it again, so a busy worker takes no interrupts. */
void port_rx_intr_disable(struct port *p, unsigned w);

const struct port_stats *port_worker_stats(const struct port *p, unsigned w);

struct net_params;
/* Fills what the port decides in <np> (after net_params_default): its MAC, MTU and
 * offloads, worker <w>'s pool and id. The caller adds addresses and tx_burst. */
void port_net_params(const struct port *p, unsigned w, struct net_params *np);

/* The worker that receives a frame with this TCP/IPv4 4-tuple on <p>, as it arrives
 * (src = the peer; host byte order): the steering hash in single-queue mode, the
 * port's RSS (Toeplitz with its key and RETA) on a multi-queue port, 0 on a
 * single-queue port with one worker. An active opener picks its source port with it
 * so the replies reach the opening worker. Any thread. */
unsigned port_tuple_worker(const struct port *p, uint32_t src_ip, uint16_t src_port,
			   uint32_t dst_ip, uint16_t dst_port);
/* The Toeplitz hash (RSS) a NIC computes with the 40-byte <key> over a TCP/IPv4
 * 4-tuple (host byte order), as port_tuple_worker uses it on a multi-queue port. */
uint32_t port_rss_hash(const uint8_t *key, uint32_t src_ip, uint16_t src_port,
		       uint32_t dst_ip, uint16_t dst_port);

#endif
