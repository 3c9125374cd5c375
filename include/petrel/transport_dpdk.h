/* transport_dpdk.h - the DPDK transport (dataplane/transport_dpdk.c): the broker's
 * workers on a DPDK port with Petrel's TCP/IP stack. DPDK builds only. */
#ifndef PETREL_TRANSPORT_DPDK_H
#define PETREL_TRANSPORT_DPDK_H

#include <stddef.h>

struct config;
struct port;

/* Starts the EAL and the port for <cfg> (port_open) before broker_init, so a bad
 * setting is reported as one line in <err> and nothing else. Main thread, with the
 * signals workers must not take already blocked. Returns 0 or -errno. */
int transport_dpdk_open(const struct config *cfg, char *err, size_t errlen);

/* The port transport_dpdk_open started (NULL before). */
struct port *transport_dpdk_port(void);

extern const struct transport_ops transport_dpdk_ops;

#endif
