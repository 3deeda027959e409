
/*
 * Unit tests of the rate arithmetic: rates parsed, and GCRA's decisions
 * over time, at a burst's edge, for refused requests (which consume
 * nothing), and at daily rates.
 */

#include "tap.h"

#include "pe_gcra.h"


#define S  1000000000ULL


static pe_rate_t
rate(const char *s)
{
    pe_rate_t  r;

    memset(&r, 0, sizeof(r));
    ok(pe_rate_parse((const unsigned char *) s, strlen(s), &r) == 0,
       "rate %s parses", s);

    return r;
}


int
main(void)
{
    int        i, passed;
    uint64_t   tat, now;
    pe_rate_t  r;
    pe_gcra_t  g;

    r = rate("10r/s");
    is_int(r.interval, S / 10, "10r/s: one every 100 ms");
    is_int(r.window, 1, "a window of 1 s");
    r = rate("30r/m");
    is_int(r.interval, 2 * S, "30r/m: one every 2 s");
    r = rate("1000r/d");
    is_int(r.interval, 86400 * S / 1000, "1000r/d: one every 86.4 s");
    is_int(r.window, 86400, "a window of a day");

    ok(pe_rate_parse((const unsigned char *) "0r/s", 4, &r) == -1, "0r/s");
    ok(pe_rate_parse((const unsigned char *) "10r/w", 5, &r) == -1, "r/w");
    ok(pe_rate_parse((const unsigned char *) "10/s", 4, &r) == -1, "no r");
    ok(pe_rate_parse((const unsigned char *) "r/s", 3, &r) == -1, "no count");
    ok(pe_rate_parse((const unsigned char *) "10r/ss", 6, &r) == -1, "r/ss");
    ok(pe_rate_parse((const unsigned char *) "99999999999r/s", 14, &r)
       == -1, "an absurd rate");

    /* burst 4 at 1r/s: five pass at once, the sixth is refused */
    r = rate("1r/s");
    now = 1000 * S;
    tat = 0;
    passed = 0;

    for (i = 0; i < 6; i++) {
        pe_gcra(&r, 4, tat, now, &g);
        if (g.allowed) {
            passed++;
            tat = g.tat;
            is_int(g.remaining, 4 - i, "request %d: %d remaining", i + 1,
                   4 - i);
        }
    }

    is_int(passed, 5, "burst 4: exactly five pass at once");
    pe_gcra(&r, 4, tat, now, &g);
    ok(!g.allowed && g.retry_after == S, "the next is refused, retry in 1 s");
    is_int(g.tat, tat, "a refused request consumes nothing");

    pe_gcra(&r, 4, tat, now + S - 1, &g);
    ok(!g.allowed, "1 ns early: still refused");
    pe_gcra(&r, 4, tat, now + S, &g);
    ok(g.allowed, "after 1 s: one passes");
    is_int(g.remaining, 0, "and leaves none");
    is_int(g.reset, 5 * S, "full again in 5 s");

    /* delay: the third request of a burst waits two intervals */
    r = rate("10r/s");
    pe_gcra(&r, 5, 0, now, &g);
    is_int(g.delay, 0, "first: no delay");
    pe_gcra(&r, 5, g.tat, now, &g);
    is_int(g.delay, S / 10, "second: 100 ms");
    pe_gcra(&r, 5, g.tat, now, &g);
    is_int(g.delay, 2 * S / 10, "third: 200 ms");

    /* steady at the rate: always passes, never a delay */
    tat = 0;
    passed = 0;
    for (i = 0; i < 1000; i++) {
        pe_gcra(&r, 0, tat, now + (uint64_t) i * S / 10, &g);
        if (g.allowed && g.delay == 0) {
            passed++;
            tat = g.tat;
        }
    }
    is_int(passed, 1000, "1000 requests exactly at the rate all pass");

    /* a daily quota */
    r = rate("3r/d");
    tat = 0;
    passed = 0;
    for (i = 0; i < 10; i++) {
        pe_gcra(&r, 2, tat, now + (uint64_t) i * 60 * S, &g);
        if (g.allowed) {
            passed++;
            tat = g.tat;
        }
    }
    is_int(passed, 3, "3r/d with burst 2: three in the first ten minutes");
    ok(g.retry_after > 86400 * S / 3 - 600 * S, "the next in about 8 h");

    return done_testing();
}
