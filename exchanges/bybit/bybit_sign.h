/* bybit_sign: Bybit v5 request signatures (docs/v5/guide.mdx, venues/bybit.md §2, §3.1).
 *
 * REST: X-BAPI-SIGN = lowercase hex HMAC-SHA256(secret, timestamp + apiKey + recvWindow +
 * payload), payload = the query string exactly as sent (GET) or the exact body bytes
 * (POST). WebSocket auth: hex HMAC-SHA256(secret, "GET/realtime" + expires). Pure
 * functions; the HMAC itself comes from the caller (the host's hmac_sha256). */
#ifndef KS_BYBIT_SIGN_H
#define KS_BYBIT_SIGN_H

#include <kestrel/kestrel.h>

typedef void (*ks_bybit_hmac_fn)(const void *key, size_t key_len, const void *msg, size_t msg_len,
                                 uint8_t out[32]);

/* Writes the REST string to sign, NUL-terminated, into buf. Returns its length, or
 * KS_ERANGE when cap is too small. */
int ks_bybit_sign_payload(char *buf, size_t cap, const char *timestamp, const char *api_key,
                          const char *recv_window, const char *payload, size_t payload_len);

/* out = lowercase hex HMAC-SHA256(secret, msg) (64 characters + NUL). */
void ks_bybit_sign_hex(ks_bybit_hmac_fn hmac, const char *secret, const char *msg, size_t len,
                       char out[65]);

/* The WebSocket auth signature for `expires` (ms since the epoch). */
void ks_bybit_sign_ws_auth(ks_bybit_hmac_fn hmac, const char *secret, int64_t expires_ms,
                           char out[65]);

#endif
