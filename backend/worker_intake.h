/*
 * privacy-backend: what the worker takes from the jobs stream (pe:jobs,
 * consumer group PE_GROUP): new entries, its own left pending by a crash,
 * and another worker's left idle (see worker.h).
 */

#ifndef PE_BACKEND_WORKER_INTAKE_H
#define PE_BACKEND_WORKER_INTAKE_H

#include "worker_job.h"


/* the consumer group, made if Redis has none */
void pe_intake_group(pe_worker_t *w);

/* entries for this consumer, as many as there is room for */
void pe_intake_read(pe_worker_t *w);

/* entries another worker took and left idle: it died */
void pe_intake_claim(pe_worker_t *w);

/* what this worker holds is kept from looking idle to the others */
void pe_intake_touch(pe_worker_t *w);

#endif /* PE_BACKEND_WORKER_INTAKE_H */
