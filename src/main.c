/* herd: the program. Everything the command line does is src/cli.c
 * (tested by tests/unit/check_cli.c); here, only what must come first. */
#include "cli.h"
#include "proctitle.h"

int main(int argc, char **argv)
{
    /* Before getopt: optarg then points into the copies. */
    proctitle_init(argc, argv);
    return cli_main(argc, argv);
}
