/*
 * privacy-backend: the Privacy-Context the edge signs (docs/directives.md,
 * "The signed context"): a compact JWS, HS256 with the key both share, whose
 * claims are the only source of who a request is for.
 *
 * Verified strictly: exactly three base64url parts without padding, the
 * header's alg HS256 and nothing else, the signature compared in constant
 * time before the payload is read, exp and iat against the clock with a
 * small skew, a life (exp - iat) of at most five minutes, and every claim
 * of the expected type and size.
 */

#ifndef PE_BACKEND_CONTEXT_H
#define PE_BACKEND_CONTEXT_H

#include <stddef.h>
#include <time.h>


#define PE_CONTEXT_MAX       4096    /* bytes of a token */
#define PE_CONTEXT_SKEW      30      /* seconds either way */
#define PE_CONTEXT_LIFE      300     /* seconds, exp - iat; the edge's 60 */
#define PE_CONTEXT_CATS      32


typedef struct {
    char        sub[64];        /* the pseudonym; never empty */
    char        reg[16];        /* "DE", "US-CA", "unknown" */
    char        grp[32];        /* "eea", "" */
    char        con[PE_CONTEXT_CATS][32];
    size_t      ncon;
    int         gpc;
    long long   iat;
    long long   exp;
    char        jti[64];
} pe_context_t;


/*
 * 0 and the claims in out, or -1 with a short reason (never the token or
 * the key) in err.
 */
int pe_context_verify(const unsigned char *key, size_t klen,
    const char *token, size_t len, time_t now, pe_context_t *out,
    char *err, size_t errlen);

/*
 * The name of the Redis key that marks a context's jti as used:
 * "pe:ctx:" and the base64url HMAC-SHA256 of the jti under the context
 * key, so that Redis holds no request id; -1 when the context has no jti.
 */
#define PE_CONTEXT_MARK_LEN  (sizeof("pe:ctx:") - 1 + 43)

int pe_context_mark(const unsigned char *key, size_t klen,
    const pe_context_t *ctx, char *buf, size_t size);

/* whether the context grants a consent category, e.g. "ai_processing" */
int pe_context_granted(const pe_context_t *ctx, const char *category);

#endif /* PE_BACKEND_CONTEXT_H */
