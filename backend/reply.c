/*
 * privacy-backend: the answers of the API (see reply.h).
 */

#include "reply.h"

#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>


char *
pe_json_body(json_t *j)
{
    char  *s;

    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);

    return s;
}


char *
pe_error_body(const char *error, const char *detail)
{
    json_t  *j;

    j = json_pack("{s:s}", "error", error);

    if (detail && *detail) {
        json_object_set_new(j, "reason", json_string(detail));
    }

    return pe_json_body(j);
}


int
pe_reply(struct MHD_Connection *conn, unsigned status, const char *type,
    const char *body)
{
    int                   rc;
    struct MHD_Response  *res;

    res = MHD_create_response_from_buffer(strlen(body), (void *) body,
                                          MHD_RESPMEM_MUST_COPY);
    if (res == NULL) {
        return MHD_NO;
    }

    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(res, "Cache-Control", "no-store");
    rc = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);

    return rc;
}


int
pe_reply_json(struct MHD_Connection *conn, unsigned status, char *body)
{
    int                   rc;
    struct MHD_Response  *res;

    if (body == NULL) {
        return MHD_NO;
    }

    res = MHD_create_response_from_buffer(strlen(body), body,
                                          MHD_RESPMEM_MUST_FREE);
    if (res == NULL) {
        free(body);
        return MHD_NO;
    }

    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    MHD_add_response_header(res, "Cache-Control", "no-store");
    rc = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);

    return rc;
}
