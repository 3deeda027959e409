/*
 * privacy-backend: start-up, configuration test, signals.
 *
 *   privacy-backend [-c FILE]     run
 *   privacy-backend -t [-c FILE]  check the configuration and exit
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "media.h"
#include "providers.h"
#include "store.h"
#include "worker.h"


#define PE_DEFAULT_CONF  "/etc/privacy-edge/backend.conf"


static void
pe_usage(FILE *out)
{
    fprintf(out,
            "usage: privacy-backend [-t] [-c FILE]\n"
            "  -c FILE  configuration file (default " PE_DEFAULT_CONF ")\n"
            "  -t       test the configuration and exit\n");
}


/* what must hold before serving: keys readable and sized, spool usable */
static int
pe_check(pe_backend_t *be, char *err, size_t errlen)
{
    struct stat  st;

    if (pe_conf_load_keys(&be->conf, err, errlen) != 0) {
        return -1;
    }

    if (stat(be->conf.spool, &st) == -1) {
        snprintf(err, errlen, "spool \"%s\": %s", be->conf.spool,
                 strerror(errno));
        return -1;
    }

    if (!S_ISDIR(st.st_mode) || access(be->conf.spool, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "spool \"%s\" is not a writable directory",
                 be->conf.spool);
        return -1;
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int            opt, test_only, sig;
    char           err[PE_CONF_ERR_MAX];
    sigset_t       set;
    const char    *file;
    pe_backend_t   be;

    file = PE_DEFAULT_CONF;
    test_only = 0;

    while ((opt = getopt(argc, argv, "c:th")) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'h':
            pe_usage(stdout);
            return 0;
        default:
            pe_usage(stderr);
            return 2;
        }
    }

    if (optind != argc) {
        pe_usage(stderr);
        return 2;
    }

    memset(&be, 0, sizeof(be));

    if (pe_conf_load(&be.conf, file, err, sizeof(err)) != 0
        || pe_check(&be, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "privacy-backend: [emerg] %s\n", err);

        if (test_only) {
            fprintf(stderr, "privacy-backend: configuration file %s test "
                    "failed\n", file);
        }

        pe_conf_free(&be.conf);
        return 1;
    }

    if (test_only) {
        fprintf(stderr, "privacy-backend: the configuration file %s syntax "
                "is ok\nprivacy-backend: configuration file %s test is "
                "successful\n", file, file);
        pe_conf_free(&be.conf);
        return 0;
    }

    /* the signals are taken synchronously below, in this thread only */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    be.started = time(NULL);

    be.store = pe_store_open(&be.conf, err, sizeof(err));

    if (be.store == NULL || pe_media_init(&be) != 0
        || pe_providers_start(be.providers, be.conf.providers,
                              be.conf.nproviders, be.conf.public_url, err,
                              sizeof(err))
           != 0
        || pe_worker_start(&be, err, sizeof(err)) != 0
        || pe_http_start(&be, err, sizeof(err)) != 0)
    {
        pe_log(PE_LOG_EMERG, "%s", err);
        pe_worker_stop(&be);
        pe_providers_stop(be.providers, be.conf.nproviders);
        pe_store_close(be.store);
        pe_conf_free(&be.conf);
        return 1;
    }

    pe_log(PE_LOG_NOTICE, "privacy-backend listening on %s:%d",
           be.conf.listen_host, be.conf.listen_port);

    sigwait(&set, &sig);

    pe_log(PE_LOG_NOTICE, "signal %d received, exiting", sig);

    pe_http_stop(&be);
    pe_worker_stop(&be);
    pe_providers_stop(be.providers, be.conf.nproviders);
    pe_store_close(be.store);
    pe_conf_free(&be.conf);

    return 0;
}
