
/*
 * privacy-edge: rate arithmetic.  GCRA (the generic cell rate algorithm)
 * over one number per key, the theoretical arrival time, in nanoseconds.
 * Pure C, no nginx types: unit-tested standalone.
 */

#ifndef PE_GCRA_H
#define PE_GCRA_H

#include <stddef.h>
#include <stdint.h>


typedef struct {
    uint64_t  count;         /* "10" of 10r/m */
    uint64_t  window;        /* its period in seconds: 1, 60, 3600, 86400 */
    uint64_t  interval;      /* nanoseconds between requests at the rate */
} pe_rate_t;


typedef struct {
    int       allowed;
    uint64_t  tat;           /* the new arrival time to store if allowed */
    uint64_t  delay;         /* ns to hold an allowed request (no nodelay) */
    uint64_t  retry_after;   /* ns until a refused one would pass */
    uint64_t  remaining;     /* requests that would pass right now after */
    uint64_t  reset;         /* ns until the key is back to full */
} pe_gcra_t;


/* "10r/s", "30r/m", "100r/h", "1000r/d"; 0 or -1 */
int pe_rate_parse(const unsigned char *s, size_t n, pe_rate_t *rate);

/*
 * One request at time now (ns) against a key whose stored arrival time is
 * tat (0: never seen), with burst extra requests allowed at once.
 */
void pe_gcra(const pe_rate_t *rate, uint64_t burst, uint64_t tat,
    uint64_t now, pe_gcra_t *out);

#endif /* PE_GCRA_H */
