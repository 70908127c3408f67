/* The event types that say how a build, a test run or a CI run ended, defined
 * once: the triage service, the learner and `cairn why` all ask here, in C
 * or in SQL, so adding a kind of run touches this file only. */
#ifndef CAIRN_OUTCOME_H
#define CAIRN_OUTCOME_H

#include <stdbool.h>

/* The failure types and the pass types, as C string lists (for arrays). */
#define OUTCOME_FAILED_TYPES "build.failed", "test.failed", "ci.run.failed"
#define OUTCOME_PASSED_TYPES "build.passed", "test.passed", "ci.run.passed"

/* The failure types as an SQL list, for "type IN " OUTCOME_FAILED_SQL. */
#define OUTCOME_FAILED_SQL "('build.failed','test.failed','ci.run.failed')"
/* The pass types as an SQL list. */
#define OUTCOME_PASSED_SQL "('build.passed','test.passed','ci.run.passed')"

/* True if type is one of OUTCOME_FAILED_SQL's types. Any thread. */
bool outcome_is_failure(const char *type);

/* True if type is one of OUTCOME_PASSED_SQL's types. Any thread. */
bool outcome_is_pass(const char *type);

#endif
