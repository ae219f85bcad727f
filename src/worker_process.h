/* Turning a freshly forked child of the master into a worker process:
 * what it must let go of and which user it becomes. The event loop,
 * listeners and connections are worker.c's. */
#pragma once

struct herd_config;
struct worker_args;

/* Close every descriptor the master had open except the ones a's worker
 * keeps: its channel, the error log, its listening sockets, access logs. */
void worker_process_close_inherited(const struct worker_args *a);

/* Become cfg's user and group (only when started as root); 0, or -1
 * logged. */
int worker_process_drop_privileges(const struct herd_config *cfg);
