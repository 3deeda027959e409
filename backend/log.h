/*
 * privacy-backend: logging to stderr, nginx's error_log form.
 *
 * Callers never pass a secret, a prompt, a cookie or a raw subject: the
 * log is for operators and may leave the machine.
 */

#ifndef PE_BACKEND_LOG_H
#define PE_BACKEND_LOG_H

typedef enum {
    PE_LOG_EMERG = 0,
    PE_LOG_ERR,
    PE_LOG_WARN,
    PE_LOG_NOTICE,
    PE_LOG_INFO
} pe_log_level_e;

void pe_log(pe_log_level_e level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* PE_BACKEND_LOG_H */
