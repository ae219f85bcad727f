/* The command line (herd(8)): -c, -F, -t and -T, -s SIGNAL, -v and -V,
 * -h; without -t, -T or -s, the master starts. main() is only this. */
#ifndef HERD_CLI_H
#define HERD_CLI_H

/* Do what argv says. Returns the exit status: 0; 1 when the configuration
 * is refused, the running master cannot be told, or the master fails; 2
 * for a command line that makes no sense (usage on stderr). argv[0] names
 * the program in getopt's messages. */
int cli_main(int argc, char **argv);

#endif
