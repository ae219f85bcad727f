/* The control socket: how `herd -s reload` learns the result of a reload.
 * A unix stream socket next to the pid file (PIDFILE.ctl), root only. A
 * client sends one command line; the master answers one line when the work
 * is done ("ok ...\n" or "error ...\n") and closes. */
#ifndef HERD_MASTER_CONTROL_H
#define HERD_MASTER_CONTROL_H

#include <stddef.h>

#include "loop.h"

struct control;
struct control_client;

typedef void control_cmd_fn(void *arg, struct control_client *cl, const char *cmd);

/* The socket path for a pid file, in out (cap bytes). Returns 0 or -1. */
int control_path(const char *pid_file, char *out, size_t cap);

struct control *control_open(struct loop *loop, const char *path, control_cmd_fn *fn,
                             void *arg, char *err, size_t errcap);
/* Listen again at the same path (another process took the path: the new
 * master of a binary upgrade that has since died). Clients are kept.
 * Returns 0, or -1 with a message in err. */
int control_rebind(struct control *ctl, char *err, size_t errcap);

/* Answer (a line, or a text ending in a newline) and close the client. */
void control_reply(struct control *ctl, struct control_client *cl, const char *text);
/* Close the socket (unlinking it when `unlink_path`) and every client. */
void control_close(struct control *ctl, int unlink_path);

/* Client side: send cmd, wait up to timeout_ms for the answer, which ends
 * when the master closes. Returns 0 with the answer in reply (a one-line
 * answer without its newline), or -1 with errno set. */
int control_request(const char *path, const char *cmd, char *reply, size_t cap,
                    int timeout_ms);

#endif
