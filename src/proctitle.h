/* Process titles, as ps(1) shows them: "herd: master process /usr/sbin/herd
 * -c /etc/herd/herd.conf", "herd: worker process", "herd: worker process is
 * shutting down". Linux shows a process's argv area; herd moves the
 * environment and its arguments elsewhere and writes the title there. */
#ifndef HERD_PROCTITLE_H
#define HERD_PROCTITLE_H

/* Call first thing in main(): copies argv[i] and the environment to the
 * heap (argv[i] and environ then point at the copies), so that the area
 * they occupied can hold a title. */
void proctitle_init(int argc, char **argv);

/* The command line as it was started ("/usr/sbin/herd -c FILE"). */
const char *proctitle_command(void);

/* Show "herd: TEXT" (cut to the room there is). */
void proctitle_set(const char *text);

#endif
