/* Run a Check suite with TAP on stdout (automake's TAP driver counts every
 * test case) and turn the result into an exit status. */
#ifndef HERD_TESTS_TAP_H
#define HERD_TESTS_TAP_H

#include <check.h>
#include <stdlib.h>

static inline int run_suite_tap(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
