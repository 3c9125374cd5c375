/* tcp_syncookie.h - SYN cookies, private to dataplane/net: when the SYN backlog is
 * full the SYN-ACK's ISN encodes what we need to rebuild the connection from the
 * ACK that answers it (the peer's ISN is ack-1 of it, MSS from a small table, window
 * scale), keyed by a secret so nobody can forge one, and bound to a coarse time
 * counter so a cookie expires. RFC 4987 3.6 describes the technique. */
#ifndef PETREL_TCP_SYNCOOKIE_H
#define PETREL_TCP_SYNCOOKIE_H

#include <stdbool.h>
#include <stdint.h>

struct evp_mac_ctx_st;   /* OpenSSL's EVP_MAC_CTX */

/* One per tcp_stack (its worker's thread only): the MAC context is reused for every
 * SYN, so it must not be shared between threads. */
struct tcp_syncookie_key {
	uint8_t key[16];
	struct evp_mac_ctx_st *mac;   /* SipHash-2-4 keyed with <key> */
};

/* What a cookie carries besides its proof. */
struct tcp_syncookie_opts {
	uint16_t mss;         /* rounded down to a table entry */
	uint8_t wscale;       /* peer's window scale, 15 = none offered */
	bool sack_ok;         /* kept for later; we do not do SACK yet */
};

/* Derives the key from <secret> and sets up the MAC. Returns 0, or -ENOMEM /
 * -EINVAL (libcrypto could not provide SipHash); then <k> needs no fini. */
int tcp_syncookie_key_init(struct tcp_syncookie_key *k, uint64_t secret);
void tcp_syncookie_key_fini(struct tcp_syncookie_key *k);
/* The MSS values a cookie can carry (2 bits): what tcp_syncookie_make rounds down to. */
#define TCP_SYNCOOKIE_MSS_TABLE { 536, 1300, 1440, 1460 }
#define TCP_SYNCOOKIE_WSCALE_NONE 15
/* Our ISN for a SYN <saddr:sport -> daddr:dport> with peer ISN <peer_isn> at
 * <now_us>, carrying <opts>: mss rounded down to the table (536 below it), wscale
 * 0..14 or TCP_SYNCOOKIE_WSCALE_NONE (the caller applies RFC 7323 2.3's clamp of a
 * larger shift to 14). Addresses and ports in host order. */
uint32_t tcp_syncookie_make(const struct tcp_syncookie_key *k, uint32_t saddr,
			    uint32_t daddr, uint16_t sport, uint16_t dport,
			    uint32_t peer_isn, const struct tcp_syncookie_opts *opts,
			    uint64_t now_us);
/* Checks the ACK of a cookie: <cookie> is its ack - 1 and <peer_isn> its seq - 1.
 * Returns true and fills <opts> if the cookie is ours and younger than about two
 * minutes. */
bool tcp_syncookie_check(const struct tcp_syncookie_key *k, uint32_t saddr,
			 uint32_t daddr, uint16_t sport, uint16_t dport,
			 uint32_t peer_isn, uint32_t cookie, uint64_t now_us,
			 struct tcp_syncookie_opts *opts);

#endif
