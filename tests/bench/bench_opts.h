/* bench_opts.h - petrel-bench's command line: the scenario, its sizes and the run's
 * timing, parsed and checked once at start, read-only afterwards (any thread).
 * scripts/bench.sh is written against this contract: change it only together. */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum bench_scenario {
	BENCH_FANIN,     /* P publishers on bench/<i>, 1 subscriber on bench/# */
	BENCH_FANOUT,    /* 1 publisher on bench/fan, S subscribers on bench/fan */
	BENCH_PAIRS,     /* N publisher -> subscriber pairs on bench/pair/<i> */
	BENCH_CONN,      /* N connections (or offline sessions) as fast as possible */
	BENCH_LATENCY,   /* fanin at a fixed rate per publisher */
	BENCH_FLEET,     /* N devices each publishing every T s, S wildcard subscribers */
	BENCH_STORM,     /* N persistent clients reset at once, then all reconnect */
	BENCH_PERSIST,   /* N offline persistent sessions with K queued messages each */
};

/* persist: which part of the scenario this process runs. */
enum bench_phase {
	BENCH_PHASE_ALL,             /* fill, then verify (unless --no-verify) */
	BENCH_PHASE_FILL,            /* set the sessions up and queue the messages */
	BENCH_PHASE_VERIFY,          /* reconnect sessions a fill left and collect */
};

/* Every payload starts with this header (host byte order; the generator reads its own
 * messages): publisher id u32, sequence u64, CLOCK_MONOTONIC stamp in ns u64. */
#define BENCH_HDR_ID_OFF 0
#define BENCH_HDR_SEQ_OFF 4
#define BENCH_HDR_TS_OFF 12
#define BENCH_HDR_LEN 20
#define BENCH_PAYLOAD_MIN 24
#define BENCH_PAYLOAD_MAX (16u << 20)

struct bench_opts {
	enum bench_scenario scenario;
	struct sockaddr_in broker;
	uint8_t qos;
	uint32_t payload;
	double duration_s;
	double warmup_s;
	double drain_s;
	uint32_t publishers;
	uint32_t subscribers;
	uint32_t pairs;
	uint32_t connections;
	bool clean;                  /* conn connections and subscribers; publishers: 1 */
	uint32_t inflight;           /* QoS > 0 publisher window */
	uint32_t conn_window;        /* conn: connects in flight at once, all threads */
	double rate;                 /* messages/s per publisher, 0 = as fast as possible */
	uint32_t threads;
	uint32_t src_first;          /* host order */
	uint32_t src_count;          /* 0: let the kernel pick the source address */
	pid_t broker_pid;            /* 0: no RSS sampling */
	double interval_s;           /* fleet: each device publishes every interval */
	uint32_t messages;           /* storm, persist: messages queued per session */
	bool verify;                 /* persist: reconnect and collect after filling */
	enum bench_phase phase;      /* persist */
	double phase_timeout_s;      /* fleet, storm, persist: bound of each phase */
	double progress_s;           /* sampling period of the progress line; 0 = off */
	/* DPDK mode (bench_dpdk.h): our TCP stack over a DPDK port instead of sockets.
	 * src_first/src_count are then the local addresses the generator owns (the
	 * --dpdk-address alone unless --source-range gives more). */
	bool dpdk;
	const char *dpdk_eal;        /* EAL arguments, split like a shell */
	uint32_t dpdk_ip;            /* --dpdk-address, host order */
	uint8_t dpdk_prefix_len;
	uint32_t dpdk_gateway;       /* 0: none, the broker must be on-link */
	uint32_t dpdk_mbufs;         /* per generator thread */
	const char *label;
	char client_prefix[64];
};

const char *bench_scenario_name(enum bench_scenario s);
const char *bench_phase_name(enum bench_phase p);

/* Parses argv into <o>. Returns 0 to run, 1 when --help was printed, or -EINVAL after
 * saying why on stderr (the caller exits 2). */
int bench_opts_parse(struct bench_opts *o, int argc, char **argv);

#endif
