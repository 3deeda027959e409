/*
 * privacy-backend: the configuration's syntax, nginx's, and nothing of
 * what it says: one directive per line, its words separated by blanks,
 * ";" at the end, "#" comments, "..." or '...' quoting, no blocks.  Each
 * directive read goes to a handler (config.c's); an error, the handler's
 * or the syntax's, is named the nginx way, "reason in FILE:LINE", the
 * line the directive starts on.  And the forms of the values words hold:
 * addresses, URLs, durations.
 */

#ifndef PE_BACKEND_CONF_TEXT_H
#define PE_BACKEND_CONF_TEXT_H

#include <stddef.h>
#include <stdint.h>


#define PE_CONF_MAX_ARGS   16       /* words of a directive, its name too */
#define PE_CONF_MAX_TOKEN  4096     /* bytes of a word */


/* a directive's words (argv[argc] is NULL): 0, or -1 and why in err */
typedef int (*pe_conf_directive_pt)(void *data, int argc, char **argv,
    char *err, size_t errlen);

/* text read as directives: 0, or -1 with "reason in NAME:LINE" in err */
int pe_conf_text(const char *name, const char *text, size_t len,
    pe_conf_directive_pt directive, void *data, char *err, size_t errlen);

/* a file's text (malloc'd) and its length; NULL with a reason in err */
char *pe_conf_file(const char *file, size_t *len, char *err, size_t errlen);


/* the forms of values, parsed or checked */

/* a copy; out of memory, a configuration that cannot be held, abort() */
char *pe_conf_strdup(const char *s);

/* "host:port", "[v6]:port" or ":port"/"port" (loopback): 0 or -1 */
int pe_conf_hostport(const char *s, char **host, int *port);

/* an http(s) URL with a host; a copy without trailing slashes */
int pe_conf_url(const char *s);
char *pe_conf_strip_slash(const char *s);

/* "30s", "5m", "24h", "30d", "1d12h", "0" -> seconds, or -1 */
long pe_conf_parse_duration(const char *s);

/* "10m", "512k", "1g", "1048576": bytes, as nginx reads sizes; -1 */
int64_t pe_conf_parse_size(const char *s);

/* a group or a region: lowercase letters, digits, "-" and "_" */
int pe_conf_token(const char *s, size_t n);

#endif /* PE_BACKEND_CONF_TEXT_H */
