/* Kestrel SDK: small pure helpers plugin authors need (no I/O, no allocation). */
#ifndef KESTREL_UTIL_H
#define KESTREL_UTIL_H

#include "abi.h"

KS_EXTERN_C_BEGIN

/* Lower-case hex of n bytes into out (2n+1 bytes incl. NUL). */
void ks_hex_encode(const uint8_t *in, size_t n, char *out);

/* Copies src into dst (cap bytes incl. NUL), truncating; returns strlen(src). */
size_t ks_strlcpy(char *dst, const char *src, size_t cap);

/* Names for enums, for logs and JSON ("buy", "limit", "filled", ...). */
const char *ks_side_name(int side);
const char *ks_ord_type_name(int type);
const char *ks_tif_name(int tif);
const char *ks_order_status_name(int status);
const char *ks_reject_name(int reject);
const char *ks_event_type_name(int type);
const char *ks_wallet_name(int wallet);

/* True for FILLED, CANCELED, REJECTED and EXPIRED. */
bool ks_order_status_is_final(int status);

KS_EXTERN_C_END

#endif
