/* sim_time: exact text -> ns conversions for recorded data and config times. No
 * floating point: "1786310819.526357" seconds and "2025-10-22T09:45:01.050000" are read
 * digit by digit. Header-only so the config reader needs no extra object. */
#ifndef KS_SIM_TIME_H
#define KS_SIM_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_SIM_NS_PER_S  1000000000LL
#define KS_SIM_NS_PER_MS 1000000LL

static inline bool ks_sim_digits(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    if (!len || len > 18)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "<digits>" milliseconds since the epoch -> ns. */
static inline bool ks_sim_ms_to_ns(const char *s, size_t len, int64_t *out)
{
    int64_t v;
    if (!ks_sim_digits(s, len, &v) || v > INT64_MAX / KS_SIM_NS_PER_MS)
        return false;
    *out = v * KS_SIM_NS_PER_MS;
    return true;
}

/* "<s>[.<fraction>]" seconds since the epoch -> ns (digits past the ninth dropped). */
static inline bool ks_sim_secs_to_ns(const char *s, size_t len, int64_t *out)
{
    size_t dot = 0;
    while (dot < len && s[dot] != '.')
        dot++;
    int64_t sec, frac = 0, scale = KS_SIM_NS_PER_S;
    if (!ks_sim_digits(s, dot, &sec) || sec > INT64_MAX / KS_SIM_NS_PER_S - 1)
        return false;
    for (size_t i = dot + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (scale > 1) {
            scale /= 10;
            frac += (s[i] - '0') * scale;
        }
    }
    *out = sec * KS_SIM_NS_PER_S + frac;
    return true;
}

static inline int64_t ks_sim_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* ISO 8601 / RFC 3339: "2026-01-12", "2025-10-22T09:45:01.050000" (UTC when no zone),
 * "2023-02-28T21:10:23Z", "2026-02-04T21:19:43.348876+00:00" -> ns. */
static inline bool ks_sim_iso_to_ns(const char *s, size_t len, int64_t *out)
{
    int64_t Y, M, D, h = 0, mi = 0, se = 0, frac = 0, off = 0;
    if (len < 10 || !ks_sim_digits(s, 4, &Y) || s[4] != '-' || !ks_sim_digits(s + 5, 2, &M) ||
        s[7] != '-' || !ks_sim_digits(s + 8, 2, &D) || M < 1 || M > 12 || D < 1 || D > 31)
        return false;
    size_t p = 10;
    if (p < len && (s[p] == 'T' || s[p] == ' ')) {
        if (len < p + 9 || !ks_sim_digits(s + p + 1, 2, &h) || s[p + 3] != ':' ||
            !ks_sim_digits(s + p + 4, 2, &mi) || s[p + 6] != ':' ||
            !ks_sim_digits(s + p + 7, 2, &se))
            return false;
        p += 9;
        if (p < len && s[p] == '.') {
            int64_t scale = KS_SIM_NS_PER_S;
            for (p++; p < len && s[p] >= '0' && s[p] <= '9'; p++)
                if (scale > 1) {
                    scale /= 10;
                    frac += (s[p] - '0') * scale;
                }
        }
    }
    if (p < len && (s[p] == 'Z' || s[p] == 'z')) {
        p++;
    } else if (p < len && (s[p] == '+' || s[p] == '-')) {
        int64_t oh, om = 0;
        int64_t sign = s[p] == '-' ? -1 : 1;
        if (len < p + 3 || !ks_sim_digits(s + p + 1, 2, &oh))
            return false;
        p += 3;
        if (p < len && s[p] == ':')
            p++;
        if (p + 2 <= len && ks_sim_digits(s + p, 2, &om))
            p += 2;
        off = sign * (oh * 3600 + om * 60);
    }
    if (p != len || h > 23 || mi > 59 || se > 60)
        return false;
    int64_t days = ks_sim_days_from_civil(Y, (unsigned)M, (unsigned)D);
    *out = ((days * 86400 + h * 3600 + mi * 60 + se) - off) * KS_SIM_NS_PER_S + frac;
    return true;
}

#endif
