/* bybit_sign: the v5 string to sign and its hex HMAC (see header). */
#include "bybit_sign.h"

#include <stdio.h>

int ks_bybit_sign_payload(char *buf, size_t cap, const char *timestamp, const char *api_key,
                          const char *recv_window, const char *payload, size_t payload_len)
{
    size_t a = strlen(timestamp), b = strlen(api_key), c = strlen(recv_window);
    size_t n = a + b + c + payload_len;
    if (n + 1 > cap)
        return KS_ERANGE;
    memcpy(buf, timestamp, a);
    memcpy(buf + a, api_key, b);
    memcpy(buf + a + b, recv_window, c);
    if (payload_len)
        memcpy(buf + a + b + c, payload, payload_len);
    buf[n] = '\0';
    return (int)n;
}

void ks_bybit_sign_hex(ks_bybit_hmac_fn hmac, const char *secret, const char *msg, size_t len,
                       char out[65])
{
    uint8_t mac[32];
    hmac(secret, strlen(secret), msg, len, mac);
    ks_hex_encode(mac, sizeof(mac), out);
}

void ks_bybit_sign_ws_auth(ks_bybit_hmac_fn hmac, const char *secret, int64_t expires_ms,
                           char out[65])
{
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "GET/realtime%lld", (long long)expires_ms);
    ks_bybit_sign_hex(hmac, secret, msg, (size_t)n, out);
}
