/*
 * privacy-backend: the configuration's syntax (see conf_text.h).
 */

#include "conf_text.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    const char   *name;
    int           line;
    char         *err;
    size_t        errlen;
} pe_text_t;


/* " in FILE:LINE" after the reason in err, nginx's form */
static void
pe_text_at(pe_text_t *p)
{
    size_t  n;

    n = strlen(p->err);

    if (n + 1 < p->errlen) {
        snprintf(p->err + n, p->errlen - n, " in %s:%d", p->name, p->line);
    }
}


static void
pe_text_fail(pe_text_t *p, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);

    pe_text_at(p);
}


int
pe_conf_text(const char *name, const char *text, size_t len,
    pe_conf_directive_pt directive, void *data, char *err, size_t errlen)
{
    int          argc, start_line, line;
    char        *argv[PE_CONF_MAX_ARGS], tok[PE_CONF_MAX_TOKEN], quote;
    size_t       i, tlen;
    pe_text_t    p;

    p.name = name;
    p.line = 1;
    p.err = err;
    p.errlen = errlen;

    argc = 0;
    start_line = 1;
    i = 0;

    for ( ;; ) {
        /* blanks and comments */
        while (i < len && (text[i] == ' ' || text[i] == '\t'
                           || text[i] == '\r' || text[i] == '\n'
                           || text[i] == '#'))
        {
            if (text[i] == '#') {
                while (i < len && text[i] != '\n') {
                    i++;
                }
                continue;
            }

            if (text[i] == '\n') {
                p.line++;
            }

            i++;
        }

        if (i == len) {
            break;
        }

        if (text[i] == '\0') {
            pe_text_fail(&p, "NUL byte");
            goto failed;
        }

        if (text[i] == '{' || text[i] == '}') {
            pe_text_fail(&p, "unexpected \"%c\": blocks are not used here",
                    text[i]);
            goto failed;
        }

        if (text[i] == ';') {
            i++;

            if (argc == 0) {
                pe_text_fail(&p, "unexpected \";\"");
                goto failed;
            }

            argv[argc] = NULL;

            /* errors name the line the directive starts on */
            line = p.line;
            p.line = start_line;

            if (directive(data, argc, argv, err, errlen) != 0) {
                pe_text_at(&p);
                goto failed;
            }

            p.line = line;

            while (argc) {
                free(argv[--argc]);
            }

            continue;
        }

        /* a token */
        if (argc == 0) {
            start_line = p.line;
        }

        if (argc == PE_CONF_MAX_ARGS - 1) {
            pe_text_fail(&p, "too many arguments in \"%s\" directive",
                         argv[0]);
            goto failed;
        }

        tlen = 0;
        quote = 0;

        if (text[i] == '"' || text[i] == '\'') {
            quote = text[i++];
        }

        for ( ;; ) {
            if (i == len) {
                if (quote) {
                    pe_text_fail(&p, "unterminated quoted string");
                    goto failed;
                }
                break;
            }

            if (quote) {
                if (text[i] == quote) {
                    i++;
                    break;
                }

                if (text[i] == '\\' && i + 1 < len) {
                    i++;
                }

            } else if (strchr(" \t\r\n;#{}\"'", text[i]) != NULL) {
                break;
            }

            if (text[i] == '\n') {
                p.line++;
            }

            if (tlen == sizeof(tok) - 1) {
                pe_text_fail(&p, "too long parameter");
                goto failed;
            }

            tok[tlen++] = text[i++];
        }

        tok[tlen] = '\0';
        argv[argc++] = pe_conf_strdup(tok);
    }

    if (argc) {
        pe_text_fail(&p, "unexpected end of file, expecting \";\"");
        goto failed;
    }

    return 0;

failed:

    while (argc) {
        free(argv[--argc]);
    }

    return -1;
}


char *
pe_conf_file(const char *file, size_t *len, char *err, size_t errlen)
{
    FILE        *f;
    char        *text;
    size_t       n, cap;

    f = fopen(file, "r");
    if (f == NULL) {
        snprintf(err, errlen, "open() \"%s\" failed (%s)", file,
                 strerror(errno));
        return NULL;
    }

    cap = 1 << 16;
    text = malloc(cap);
    n = 0;

    while (text && !feof(f) && !ferror(f)) {
        if (n == cap) {
            if (cap >= (1 << 24)) {
                fclose(f);
                free(text);
                snprintf(err, errlen, "\"%s\" is too large", file);
                return NULL;
            }
            cap *= 2;
            text = realloc(text, cap);
            if (text == NULL) {
                break;
            }
        }
        n += fread(text + n, 1, cap - n, f);
    }

    fclose(f);

    if (text == NULL) {
        abort();
    }

    *len = n;

    return text;
}


/* --- the forms of values ---------------------------------------------- */

char *
pe_conf_strdup(const char *s)
{
    char  *d = strdup(s);

    if (d == NULL) {
        abort();            /* a config that cannot be held is fatal */
    }

    return d;
}


/* "host:port", "[v6]:port" or ":port"/"port" (loopback) */
int
pe_conf_hostport(const char *s, char **host, int *portp)
{
    char        *end;
    const char  *colon, *port;
    long         n;

    if (s[0] == '[') {
        colon = strstr(s, "]:");
        if (colon == NULL || colon == s + 1) {
            return -1;
        }
        *host = strndup(s + 1, colon - s - 1);
        colon++;

    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || colon == s) {
            *host = pe_conf_strdup("127.0.0.1");
        } else {
            *host = strndup(s, colon - s);
        }
    }

    port = colon ? colon + 1 : s;
    errno = 0;
    n = strtol(port, &end, 10);

    if (errno || *end != '\0' || end == port || n < 1 || n > 65535) {
        free(*host);
        *host = NULL;
        return -1;
    }

    *portp = (int) n;

    return 0;
}


int
pe_conf_url(const char *s)
{
    const char  *host;

    if (strncmp(s, "https://", 8) == 0) {
        host = s + 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        host = s + 7;
    } else {
        return 0;
    }

    if (*host == '\0' || *host == '/' || strpbrk(s, " \t\"'<>\\") != NULL) {
        return 0;
    }

    return 1;
}


char *
pe_conf_strip_slash(const char *s)
{
    char    *d = pe_conf_strdup(s);
    size_t   n = strlen(d);

    while (n > 0 && d[n - 1] == '/') {
        d[--n] = '\0';
    }

    return d;
}


int64_t
pe_conf_parse_size(const char *s)
{
    int64_t      n, unit;
    const char  *q;

    n = 0;

    for (q = s; isdigit((unsigned char) *q); q++) {
        if (n > (INT64_C(1) << 40)) {
            return -1;
        }

        n = n * 10 + (*q - '0');
    }

    if (q == s) {
        return -1;
    }

    switch (*q) {
    case '\0': unit = 1; break;
    case 'k': case 'K': unit = 1024; q++; break;
    case 'm': case 'M': unit = 1024 * 1024; q++; break;
    case 'g': case 'G': unit = 1024 * 1024 * 1024; q++; break;
    default: return -1;
    }

    if (*q != '\0' || n > (INT64_C(1) << 40) / unit) {
        return -1;
    }

    return n * unit;
}


long
pe_conf_parse_duration(const char *s)
{
    long         total, n, unit;
    const char  *q;

    if (*s == '\0') {
        return -1;
    }

    total = 0;
    q = s;

    while (*q) {
        if (!isdigit((unsigned char) *q)) {
            return -1;
        }

        n = 0;

        while (isdigit((unsigned char) *q)) {
            if (n > 100000000) {
                return -1;
            }
            n = n * 10 + (*q++ - '0');
        }

        switch (*q) {
        case 's': unit = 1; q++; break;
        case 'm': unit = 60; q++; break;
        case 'h': unit = 3600; q++; break;
        case 'd': unit = 86400; q++; break;
        case '\0':
            if (q == s + strspn(s, "0123456789")) {
                unit = 1;           /* a bare number: seconds */
                break;
            }
            return -1;
        default:
            return -1;
        }

        if (n > (100L * 365 * 86400) / unit) {
            return -1;
        }

        total += n * unit;
    }

    return total;
}


/* a group or a region: lowercase letters, digits, "-" and "_" */
int
pe_conf_token(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '-' || s[i] == '_'))
        {
            return 0;
        }
    }

    return n > 0 && n <= 32;
}
