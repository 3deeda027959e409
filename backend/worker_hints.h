/*
 * privacy-backend: callbacks' hints across backends.
 *
 * Several backends behind one URL share Redis: a provider's callback may
 * reach one while another's worker holds the job.  A believed callback
 * hints this backend's worker at once, and is published on the channel
 * pe:hints:DB (channels are not per database, so the database's number
 * keeps two installations on one Redis apart) as "SELF ID": a random name
 * of the publishing worker, which skips its own echo, and the job's id.
 * Each worker subscribes on a connection of its own, read from its loop
 * without blocking, PINGed so that a dead path is noticed, and heeds the
 * ids of the jobs it holds.  Only a hint: the job's poll, as ever,
 * decides.  While the subscription is down, the fallback poll finds the
 * job as before.
 */

#ifndef PE_BACKEND_WORKER_HINTS_H
#define PE_BACKEND_WORKER_HINTS_H

#include "worker_job.h"


/*
 * Tell every backend's worker (any thread); this backend's alone when
 * Redis carries no message.  id: at most PE_JOB_ID_LEN bytes.
 */
void pe_hints_publish(pe_backend_t *be, const char *id);

/* this backend's hints, marked on the jobs held (the worker's thread) */
void pe_hints_take(pe_worker_t *w);

/*
 * The subscription's socket for the loop's poll, (re)subscribed when it
 * is due; -1 while there is none.
 */
int pe_hints_fd(pe_worker_t *w, double now);

/* what arrived, when its socket is readable: the jobs held are marked */
void pe_hints_read(pe_worker_t *w);

void pe_hints_close(pe_worker_t *w);

#endif /* PE_BACKEND_WORKER_HINTS_H */
