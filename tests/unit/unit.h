/* unit.h - a minimal unit-test harness: TEST(name) functions, CHECK macros,
 * one "ok"/"not ok" line per test and a closing "N passed, N failed". */
#ifndef SBX_UNIT_H
#define SBX_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed_checks;
static int unit_passed, unit_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);            \
            unit_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            fprintf(stderr, "  %s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__,         \
                    b_ ? b_ : "(null)", a_ ? a_ : "(null)");                                       \
            unit_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (!h_ || !strstr(h_, (needle))) {                                                        \
            fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,      \
                    h_ ? h_ : "(null)", (needle));                                                 \
            unit_failed_checks++;                                                                  \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        int before_ = unit_failed_checks;                                                          \
        fn();                                                                                      \
        if (unit_failed_checks == before_) {                                                       \
            printf("ok - %s\n", #fn);                                                              \
            unit_passed++;                                                                         \
        } else {                                                                                   \
            printf("not ok - %s\n", #fn);                                                          \
            unit_failed++;                                                                         \
        }                                                                                          \
    } while (0)

#define UNIT_MAIN_END()                                                                            \
    do {                                                                                           \
        printf("%d passed, %d failed\n", unit_passed, unit_failed);                                \
        return unit_failed ? 1 : 0;                                                                \
    } while (0)

#endif
