/* tcp_syncookie.c - SYN cookies (RFC 4987 3.6): our ISN in the SYN-ACK is a keyed
 * MAC of the connection, so the ACK that answers it proves the peer received our
 * SYN-ACK and lets us rebuild the connection with no state kept in between.
 *
 * Cookie layout (32 bits, the ISN we send):
 *
 *   31                                 7 6       3 2     1  0
 *   +------------------------------------+---------+-------+---+
 *   |   MAC, top 25 bits                 | wscale  |  mss  |sack|
 *   +------------------------------------+---------+-------+---+
 *
 * MAC = SipHash-2-4 (libcrypto EVP_MAC "SIPHASH", 128-bit key derived from the stack's
 * secret) over saddr, daddr, sport, dport, the peer's ISN, the time counter
 * (now / 64 s) and the 7 option bits, so no field can be changed without the MAC
 * failing. The counter is not sent: the check tries the current and the previous one,
 * so a cookie lives between 64 and 128 s ("about two minutes"), long enough for a
 * slow handshake and short enough that a captured one soon expires. A forger must
 * guess 25 bits per attempt.
 *
 * Cost per SYN: one MAC on a context set up once (the key schedule is not redone).
 * A check costs one MAC, two for a cookie from the previous period. */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "tcp_syncookie.h"

#define SYNCOOKIE_PERIOD_US (64ull * 1000 * 1000)
#define SYNCOOKIE_OPT_BITS 7
#define SYNCOOKIE_OPT_MASK ((1u << SYNCOOKIE_OPT_BITS) - 1)

static const uint16_t syncookie_mss[4] = TCP_SYNCOOKIE_MSS_TABLE;

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int tcp_syncookie_key_init(struct tcp_syncookie_key *k, uint64_t secret)
{
	static const char label[] = "petrel tcp syncookie key";
	uint8_t in[sizeof(label) + 8], digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	size_t mac_size = 8;
	OSSL_PARAM params[] = {
		OSSL_PARAM_size_t(OSSL_MAC_PARAM_SIZE, &mac_size),
		OSSL_PARAM_END,
	};
	EVP_MAC *mac;
	int rc = -EINVAL;

	/* The stack's secret is 64 bits; SipHash wants 128. SHA-256 of a label and the
	 * secret spreads it over the whole key (init time only). */
	memcpy(in, label, sizeof(label));
	put32(in + sizeof(label), (uint32_t)(secret >> 32));
	put32(in + sizeof(label) + 4, (uint32_t)secret);
	if (!EVP_Digest(in, sizeof(in), digest, &dlen, EVP_sha256(), NULL) ||
	    dlen < sizeof(k->key))
		return -EINVAL;
	memcpy(k->key, digest, sizeof(k->key));
	k->mac = NULL;
	mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_SIPHASH, NULL);
	if (mac == NULL)
		return -EINVAL;
	k->mac = EVP_MAC_CTX_new(mac);
	if (k->mac == NULL) {
		rc = -ENOMEM;
		goto err_free_mac;
	}
	/* SipHash-2-4 with a 64-bit tag (libcrypto defaults to 128). */
	if (!EVP_MAC_init(k->mac, k->key, sizeof(k->key), params) ||
	    EVP_MAC_CTX_get_mac_size(k->mac) != mac_size)
		goto err_free_ctx;
	EVP_MAC_free(mac);
	return 0;

err_free_ctx:
	EVP_MAC_CTX_free(k->mac);
	k->mac = NULL;
err_free_mac:
	EVP_MAC_free(mac);
	return rc;
}

void tcp_syncookie_key_fini(struct tcp_syncookie_key *k)
{
	EVP_MAC_CTX_free(k->mac);
	k->mac = NULL;
	memset(k->key, 0, sizeof(k->key));
}

/* Sets *out to the top 25 bits of the MAC, option bits clear. Returns false if
 * libcrypto fails; tcp_syncookie_check then refuses the cookie (fail closed). */
static bool syncookie_mac(const struct tcp_syncookie_key *k, uint32_t saddr,
			  uint32_t daddr, uint16_t sport, uint16_t dport, uint32_t peer_isn,
			  uint64_t counter, uint32_t optbits, uint32_t *out)
{
	uint8_t in[4 * 6 + 4], md[8];
	size_t mdlen;

	put32(in, saddr);
	put32(in + 4, daddr);
	put32(in + 8, (uint32_t)sport << 16 | dport);
	put32(in + 12, peer_isn);
	put32(in + 16, (uint32_t)(counter >> 32));
	put32(in + 20, (uint32_t)counter);
	put32(in + 24, optbits);
	/* A NULL key re-initialises from the key set at key_init (no key schedule). The
	 * tag size was checked there: OpenSSL 3.0's SipHash leaves <mdlen> unset. */
	if (!EVP_MAC_init(k->mac, NULL, 0, NULL) || !EVP_MAC_update(k->mac, in, sizeof(in)) ||
	    !EVP_MAC_final(k->mac, md, &mdlen, sizeof(md)))
		return false;
	*out = ((uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 |
		md[3]) & ~SYNCOOKIE_OPT_MASK;
	return true;
}

static uint32_t syncookie_encode_opts(const struct tcp_syncookie_opts *opts)
{
	unsigned idx = 0;
	uint32_t ws = opts->wscale > TCP_SYNCOOKIE_WSCALE_NONE ? TCP_SYNCOOKIE_WSCALE_NONE :
								 opts->wscale;

	/* Largest table entry not above the peer's MSS: we must never send more. */
	for (unsigned i = 1; i < 4; i++)
		if (syncookie_mss[i] <= opts->mss)
			idx = i;
	return ws << 3 | idx << 1 | (opts->sack_ok ? 1u : 0u);
}

uint32_t tcp_syncookie_make(const struct tcp_syncookie_key *k, uint32_t saddr,
			    uint32_t daddr, uint16_t sport, uint16_t dport,
			    uint32_t peer_isn, const struct tcp_syncookie_opts *opts,
			    uint64_t now_us)
{
	uint32_t optbits = syncookie_encode_opts(opts), mac = 0;

	(void)syncookie_mac(k, saddr, daddr, sport, dport, peer_isn,
			    now_us / SYNCOOKIE_PERIOD_US, optbits, &mac);
	return mac | optbits;
}

bool tcp_syncookie_check(const struct tcp_syncookie_key *k, uint32_t saddr,
			 uint32_t daddr, uint16_t sport, uint16_t dport,
			 uint32_t peer_isn, uint32_t cookie, uint64_t now_us,
			 struct tcp_syncookie_opts *opts)
{
	uint64_t now = now_us / SYNCOOKIE_PERIOD_US;
	uint32_t optbits = cookie & SYNCOOKIE_OPT_MASK;

	/* This period and the one before: never a future one, never older. */
	for (uint64_t age = 0; age < 2 && age <= now; age++) {
		uint64_t counter = now - age;
		uint32_t mac;

		if (!syncookie_mac(k, saddr, daddr, sport, dport, peer_isn, counter, optbits,
				   &mac))
			return false;
		if (mac == (cookie & ~SYNCOOKIE_OPT_MASK)) {
			opts->sack_ok = (optbits & 1) != 0;
			opts->mss = syncookie_mss[(optbits >> 1) & 3];
			opts->wscale = (uint8_t)(optbits >> 3);
			return true;
		}
	}
	return false;
}
