/*
 * privacy-backend: the answers of the API, in one place.
 *
 * Every answer is JSON (but /metrics and a media link's bytes), never
 * cached; a refusal is {"error": NAME, "reason": WHY}.  The bodies are
 * built without libmicrohttpd, so that what decides an answer (upload,
 * subject, callbacks) only hands back a status and a body.
 */

#ifndef PE_BACKEND_REPLY_H
#define PE_BACKEND_REPLY_H

#include <jansson.h>


struct MHD_Connection;

/* an answer's JSON text (malloc'd), taking j; and {"error","reason"} */
char *pe_json_body(json_t *j);
char *pe_error_body(const char *error, const char *detail);

/* an answer from a string (copied), never cached: MHD_YES or MHD_NO */
int pe_reply(struct MHD_Connection *conn, unsigned status, const char *type,
    const char *body);

/* a JSON answer from a malloc'd body, which it takes (NULL: MHD_NO) */
int pe_reply_json(struct MHD_Connection *conn, unsigned status, char *body);

#endif /* PE_BACKEND_REPLY_H */
