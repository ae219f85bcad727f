/* The master process: owns the listening sockets, forks and supervises the
 * workers, and turns signals into generations. */
#ifndef HERD_MASTER_H
#define HERD_MASTER_H

#include <stdbool.h>

#include "config.h"

struct master_options {
    const char *conf_path;      /* absolute; NULL: the embedded default */
    bool conf_given;            /* -c: reloads read this file; otherwise they
                                   look for the installed default again */
    bool foreground;
    bool title;                 /* set process titles (proctitle_init ran) */
};

/* Run a master with an already loaded configuration (ownership passes to
 * the master). Returns the process exit status. */
int master_main(const struct master_options *opts, struct herd_config *cfg);

/* herd -t: open (creating, as the master would) the error log and every
 * access log, and close them again. Returns 0, or -1 with
 * "FILE:LINE: cannot open log file PATH: reason" in err. */
int master_test_logs(const struct herd_config *cfg, char *err, size_t errcap);

#endif
