/* The command line (cli.h): the options, what needs no master (-h, -v,
 * -V, -t, -T), telling the running master (-s), and starting one.
 * Tested by tests/unit/check_cli.c. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libconfig.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "config.h"
#include "master/control.h"
#include "master/master.h"
#include "proto.h"

#define RELOAD_WAIT_MS 60000

static void usage(FILE *out)
{
    fprintf(out,
            "usage: herd [-c FILE] [-F] [-t | -T] [-s SIGNAL] [-v | -V] [-h]\n"
            "\n"
            "  -c FILE    configuration file (default %s;\n"
            "             without it, the embedded default)\n"
            "  -F         stay in the foreground (no daemonising)\n"
            "  -t         test the configuration and exit\n"
            "  -T         test the configuration, print it with every default, exit\n"
            "  -s SIGNAL  tell the running master: reload, stop, quit, reopen, upgrade;\n"
            "             status prints its counters\n"
            "  -v         print the version\n"
            "  -V         print the version and build settings\n"
            "  -h         this help\n",
            config_default_path());
}

static int read_master_pid(const char *pid_file, pid_t *pid)
{
    int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        fprintf(stderr, "herd: no master is running (%s: %s)\n", pid_file, strerror(errno));
        return -1;
    }
    if (fd < 0) {
        fprintf(stderr, "herd: cannot open %s: %s (is herd running?)\n", pid_file,
                strerror(errno));
        return -1;
    }
    /* The master holds an exclusive lock for its whole life. */
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        fprintf(stderr, "herd: no master is running (%s is not locked)\n", pid_file);
        close(fd);
        return -1;
    }
    char buf[32] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    long v = strtol(buf, NULL, 10);
    if (v <= 0) {
        fprintf(stderr, "herd: %s holds no pid\n", pid_file);
        return -1;
    }
    *pid = (pid_t)v;
    return 0;
}

static int send_command(const struct herd_config *cfg, const char *what)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {
        { "stop", SIGTERM }, { "quit", SIGQUIT }, { "reopen", SIGUSR1 },
        { "upgrade", SIGUSR2 }, { "reload", SIGHUP },
    };
    int sig = 0;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (strcmp(what, sigs[i].name) == 0)
            sig = sigs[i].sig;
    bool status = strcmp(what, "status") == 0;
    if (sig == 0 && !status) {
        fprintf(stderr, "herd: unknown signal '%s' (reload, stop, quit, reopen, upgrade, "
                "status)\n", what);
        return 2;
    }
    pid_t pid;
    if (read_master_pid(cfg->pid_file, &pid) < 0)
        return 1;
    if (sig != SIGHUP && !status) {
        if (kill(pid, sig) < 0) {
            fprintf(stderr, "herd: kill(%d): %s\n", (int)pid, strerror(errno));
            return 1;
        }
        return 0;
    }
    /* A reload answers through the control socket once the new generation
     * serves, or with the reason it could not; status answers at once. */
    char path[4096], reply[65536];
    if (control_path(cfg->pid_file, path, sizeof path) < 0 ||
        control_request(path, status ? "status" : "reload", reply, sizeof reply,
                        RELOAD_WAIT_MS) < 0) {
        fprintf(stderr, "herd: cannot reach the master (pid %d) at %s: %s\n", (int)pid, path,
                strerror(errno));
        return 1;
    }
    if (status && strncmp(reply, "error ", 6) != 0) {
        fputs(reply, stdout);
        return 0;
    }
    if (strncmp(reply, "ok ", 3) == 0) {
        printf("herd: reloaded: %s\n", reply + 3);
        return 0;
    }
    fprintf(stderr, "herd: reload failed: %s\n",
            strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
    return 1;
}

struct cli_options {
    const char *conf_arg, *signal_arg;
    bool foreground, test, dump;
};

/* Read the options into o. Returns -1 to go on, or the exit status when
 * the command line is answered already (-h, -v, -V) or makes no sense. */
static int parse_options(int argc, char **argv, struct cli_options *o)
{
    int opt;
    while ((opt = getopt(argc, argv, "c:Fts:TvVh")) != -1) {
        switch (opt) {
        case 'c': o->conf_arg = optarg; break;
        case 'F': o->foreground = true; break;
        case 't': o->test = true; break;
        case 'T': o->test = o->dump = true; break;
        case 's': o->signal_arg = optarg; break;
        case 'v':
            printf("herd %s\n", PACKAGE_VERSION);
            return 0;
        case 'V':
            printf("herd %s\nlibconfig %d.%d.%d\nconfiguration: %s\npid file default: %s\n",
                   PACKAGE_VERSION, LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR,
                   LIBCONFIG_VER_REVISION, config_default_path(), HERD_RUNSTATEDIR "/herd.pid");
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "herd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return -1;
}

/* -t and -T on a configuration that was read: its logs must open too. */
static int test_config(const struct herd_config *cfg, const char *conf, bool dump)
{
    char err[1024];
    /* As nginx -t: the logs must open too, or the start would fail. */
    if (master_test_logs(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "%s\nherd: configuration test failed\n", err);
        return 1;
    }
    if (dump)
        config_print(cfg, stdout);
    fprintf(stderr, "herd: configuration %s is ok\n", conf ? conf : "(embedded default)");
    return 0;
}

int cli_main(int argc, char **argv)
{
    struct cli_options o = { NULL, NULL, false, false, false };
    int status = parse_options(argc, argv, &o);
    if (status >= 0)
        return status;

    config_use_protocols(&proto_registry);
    char *conf = NULL;
    if (config_choose_path(o.conf_arg, &conf) < 0) {
        fprintf(stderr, "herd: out of memory\n");
        return 1;
    }
    char err[1024];
    struct herd_config *cfg = config_load(conf, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        if (o.test)
            fprintf(stderr, "herd: configuration test failed\n");
        free(conf);
        return 1;
    }

    if (o.test) {
        status = test_config(cfg, conf, o.dump);
        config_free(cfg);
    } else if (o.signal_arg) {
        status = send_command(cfg, o.signal_arg);
        config_free(cfg);
    } else {
        struct master_options mo = { .conf_path = conf, .conf_given = o.conf_arg != NULL,
                                     .foreground = o.foreground, .title = true };
        status = master_main(&mo, cfg);
    }
    free(conf);
    return status;
}
