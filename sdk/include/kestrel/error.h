/* Kestrel SDK: status codes. 0 is success; failures are negative KS_E* values. */
#ifndef KESTREL_ERROR_H
#define KESTREL_ERROR_H

#include "abi.h"

KS_EXTERN_C_BEGIN

typedef enum ks_status {
    KS_OK = 0,
    KS_EINVAL = -1,      /* an argument is invalid */
    KS_ENOMEM = -2,      /* out of memory */
    KS_ERANGE = -3,      /* a number does not fit (decimal overflow, too many digits) */
    KS_ENOENT = -4,      /* no such thing (instrument, order, key) */
    KS_EEXIST = -5,      /* already exists (duplicate name, duplicate client id) */
    KS_ENOTSUP = -6,     /* the venue or plugin does not support this */
    KS_EAGAIN = -7,      /* try later (queue full, backoff in progress) */
    KS_EIO = -8,         /* transport failure */
    KS_ETIMEDOUT = -9,   /* no answer in time */
    KS_EPROTO = -10,     /* a reply we do not understand */
    KS_EABI = -11,       /* plugin ABI mismatch */
    KS_ESTATE = -12,     /* not allowed in the current state */
    KS_ERATELIMIT = -13, /* refused by a rate limit */
    KS_EREJECT = -14,    /* refused by risk or by the venue */
    KS_EAUTH = -15,      /* authentication failed or credentials missing */
    KS_EBUDGET = -16,    /* a strategy exceeded its CPU or memory budget */
} ks_status_t;

/* A static, human-readable name for a status code ("invalid argument"). */
const char *ks_strerror(int rc);

KS_EXTERN_C_END

#endif
