/* Small pure helpers of the SDK: hex, strings, enum names, status texts. */
#include <kestrel/kestrel.h>

const char *ks_strerror(int rc)
{
    switch ((ks_status_t)rc) {
    case KS_OK:
        return "success";
    case KS_EINVAL:
        return "invalid argument";
    case KS_ENOMEM:
        return "out of memory";
    case KS_ERANGE:
        return "value out of range";
    case KS_ENOENT:
        return "not found";
    case KS_EEXIST:
        return "already exists";
    case KS_ENOTSUP:
        return "not supported";
    case KS_EAGAIN:
        return "try again later";
    case KS_EIO:
        return "i/o error";
    case KS_ETIMEDOUT:
        return "timed out";
    case KS_EPROTO:
        return "protocol error";
    case KS_EABI:
        return "plugin ABI mismatch";
    case KS_ESTATE:
        return "not allowed in this state";
    case KS_ERATELIMIT:
        return "rate limited";
    case KS_EREJECT:
        return "rejected";
    case KS_EAUTH:
        return "authentication failed";
    case KS_EBUDGET:
        return "budget exceeded";
    }
    return "unknown error";
}

void ks_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

size_t ks_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (cap) {
        size_t c = n < cap - 1 ? n : cap - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

const char *ks_side_name(int side)
{
    return side == KS_SIDE_BUY ? "buy" : side == KS_SIDE_SELL ? "sell" : "none";
}

const char *ks_ord_type_name(int type)
{
    return type == KS_ORD_MARKET ? "market" : type == KS_ORD_LIMIT ? "limit" : "unknown";
}

const char *ks_tif_name(int tif)
{
    switch (tif) {
    case KS_TIF_GTC:
        return "gtc";
    case KS_TIF_IOC:
        return "ioc";
    case KS_TIF_FOK:
        return "fok";
    case KS_TIF_POST_ONLY:
        return "post_only";
    }
    return "unknown";
}

const char *ks_order_status_name(int status)
{
    static const char *names[KS_OS_COUNT] = {"new",      "sent",     "acked",   "partial", "filled",
                                             "canceled", "rejected", "expired", "unknown"};
    return status >= 0 && status < KS_OS_COUNT ? names[status] : "invalid";
}

bool ks_order_status_is_final(int status)
{
    return status == KS_OS_FILLED || status == KS_OS_CANCELED || status == KS_OS_REJECTED ||
           status == KS_OS_EXPIRED;
}

const char *ks_reject_name(int reject)
{
    switch ((ks_reject_t)reject) {
    case KS_REJ_NONE:
        return "none";
    case KS_REJ_OTHER:
        return "other";
    case KS_REJ_INSUFFICIENT_FUNDS:
        return "insufficient_funds";
    case KS_REJ_REDUCE_ONLY:
        return "reduce_only";
    case KS_REJ_POST_ONLY:
        return "post_only";
    case KS_REJ_DUPLICATE_CLOID:
        return "duplicate_cloid";
    case KS_REJ_RATE_LIMIT:
        return "rate_limit";
    case KS_REJ_INVALID:
        return "invalid";
    case KS_REJ_TIMESTAMP:
        return "timestamp";
    case KS_REJ_NO_LIQUIDITY:
        return "no_liquidity";
    case KS_REJ_RISK:
        return "risk";
    case KS_REJ_AUTH:
        return "auth";
    case KS_REJ_HALTED:
        return "halted";
    case KS_REJ_UNKNOWN_ORDER:
        return "unknown_order";
    }
    return "invalid";
}

const char *ks_event_type_name(int type)
{
    switch ((ks_event_type_t)type) {
    case KS_EV_BBO:
        return "bbo";
    case KS_EV_BOOK:
        return "book";
    case KS_EV_TRADE:
        return "trade";
    case KS_EV_TICKER:
        return "ticker";
    case KS_EV_ORACLE:
        return "oracle";
    case KS_EV_LIQUIDATION:
        return "liquidation";
    case KS_EV_ORDER:
        return "order";
    case KS_EV_FILL:
        return "fill";
    case KS_EV_POSITION:
        return "position";
    case KS_EV_BALANCE:
        return "balance";
    case KS_EV_FUNDING:
        return "funding";
    case KS_EV_CONN:
        return "conn";
    case KS_EV_INSTRUMENT:
        return "instrument";
    case KS_EV_SYNC_DONE:
        return "sync_done";
    case KS_EV_TRANSFER:
        return "transfer";
    }
    return "unknown";
}

const char *ks_wallet_name(int wallet)
{
    switch (wallet) {
    case KS_WALLET_SPOT:
        return "spot";
    case KS_WALLET_FUTURES:
        return "futures";
    case KS_WALLET_UNIFIED:
        return "unified";
    }
    return "unknown";
}
