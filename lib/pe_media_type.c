
/*
 * privacy-edge: media type (Content-Type) parsing and matching.
 */

#include "pe_media_type.h"

#include <string.h>
#include <strings.h>


int
pe_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


int
pe_is_bchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}


static unsigned char
pe_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
}


static size_t
pe_skip_ows(const unsigned char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }

    return i;
}


int
pe_media_type_parse(const unsigned char *p, size_t n, pe_media_type_t *mt)
{
    int            slash, is_boundary;
    size_t         i, start, name_len, vlen;
    unsigned char  c, value[PE_BOUNDARY_MAX + 1];

    memset(mt, 0, sizeof(pe_media_type_t));

    i = pe_skip_ows(p, 0, n);
    start = i;
    slash = 0;

    while (i < n && p[i] != ';' && p[i] != ' ' && p[i] != '\t') {
        c = p[i];

        if (c == '/') {
            if (slash || i == start) {
                return -1;
            }
            slash = 1;

        } else if (!pe_is_tchar(c)) {
            return -1;
        }

        if (i - start >= PE_MEDIA_TYPE_MAX) {
            return -1;
        }

        mt->type[i - start] = (char) pe_lower(c);
        i++;
    }

    mt->type_len = i - start;

    if (!slash || mt->type[mt->type_len - 1] == '/') {
        return -1;
    }

    for ( ;; ) {
        i = pe_skip_ows(p, i, n);

        if (i == n) {
            return 0;
        }

        if (p[i] != ';') {
            return -1;
        }

        i = pe_skip_ows(p, i + 1, n);

        if (i == n) {
            return 0;       /* a trailing ";" is tolerated */
        }

        start = i;

        while (i < n && pe_is_tchar(p[i])) {
            i++;
        }

        name_len = i - start;

        if (name_len == 0 || i == n || p[i] != '=') {
            return -1;
        }

        is_boundary = (name_len == 8
                       && strncasecmp((const char *) p + start, "boundary", 8)
                          == 0);
        i++;
        vlen = 0;

        if (i < n && p[i] == '"') {
            i++;

            for ( ;; ) {
                if (i == n) {
                    return -1;                      /* unterminated quote */
                }

                c = p[i++];

                if (c == '"') {
                    break;
                }

                if (c == '\\') {
                    if (i == n) {
                        return -1;
                    }
                    c = p[i++];
                }

                if (c < 0x20 && c != '\t') {
                    return -1;
                }

                if (is_boundary) {
                    if (vlen == PE_BOUNDARY_MAX || !pe_is_bchar(c)) {
                        return -1;
                    }
                    value[vlen++] = c;
                }
            }

        } else {
            while (i < n && pe_is_tchar(p[i])) {
                if (is_boundary) {
                    if (vlen == PE_BOUNDARY_MAX || !pe_is_bchar(p[i])) {
                        return -1;
                    }
                    value[vlen] = p[i];
                }
                vlen++;
                i++;
            }

            if (vlen == 0) {
                return -1;
            }
        }

        if (is_boundary) {
            /* a second boundary would make the body ambiguous */
            if (mt->boundary_len || vlen == 0 || value[vlen - 1] == ' ') {
                return -1;
            }

            memcpy(mt->boundary, value, vlen);
            mt->boundary[vlen] = '\0';
            mt->boundary_len = vlen;
        }
    }
}


int
pe_media_type_match(const char *pattern, size_t plen, const char *type,
    size_t tlen)
{
    if (plen == 3 && memcmp(pattern, "*/*", 3) == 0) {
        return 1;
    }

    if (plen >= 2 && pattern[plen - 1] == '*' && pattern[plen - 2] == '/') {
        return tlen > plen - 1 && memcmp(pattern, type, plen - 1) == 0;
    }

    return plen == tlen && memcmp(pattern, type, tlen) == 0;
}
