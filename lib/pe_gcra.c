
/*
 * privacy-edge: rate arithmetic (GCRA).
 *
 * A key's state is its theoretical arrival time (tat): when it would next
 * be due at the rate.  A request at time now conforms when it is no
 * earlier than tat minus what the burst tolerates; it then moves tat on by
 * one interval.  One number per key, no counters to reset, exact at any
 * rate from requests a second to requests a day.
 */

#include "pe_gcra.h"


int
pe_rate_parse(const unsigned char *s, size_t n, pe_rate_t *rate)
{
    size_t    i;
    uint64_t  count;

    count = 0;

    for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (count > 1000000000) {
            return -1;
        }

        count = count * 10 + (s[i] - '0');
    }

    if (i == 0 || count == 0 || n - i != 3 || s[i] != 'r' || s[i + 1] != '/')
    {
        return -1;
    }

    switch (s[i + 2]) {
    case 's': rate->window = 1; break;
    case 'm': rate->window = 60; break;
    case 'h': rate->window = 3600; break;
    case 'd': rate->window = 86400; break;
    default: return -1;
    }

    rate->count = count;
    rate->interval = rate->window * 1000000000ULL / count;

    return rate->interval ? 0 : -1;
}


void
pe_gcra(const pe_rate_t *rate, uint64_t burst, uint64_t tat, uint64_t now,
    pe_gcra_t *out)
{
    uint64_t  t, tau, base, next, allow_at;

    t = rate->interval;
    tau = burst * t;

    base = tat > now ? tat : now;
    next = base + t;
    allow_at = next > tau + t ? next - (tau + t) : 0;

    if (now < allow_at) {
        out->allowed = 0;
        out->tat = tat;
        out->delay = 0;
        out->retry_after = allow_at - now;
        out->remaining = 0;
        out->reset = tat > now ? tat - now : 0;
        return;
    }

    out->allowed = 1;
    out->tat = next;
    out->delay = base - now;
    out->retry_after = 0;
    out->remaining = (now + tau + t - next) / t;
    out->reset = next - now;
}
