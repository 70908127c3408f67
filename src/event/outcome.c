/* The build, test and CI outcome types (see outcome.h). */
#include "event/outcome.h"

#include <stddef.h>
#include <string.h>

static const char *const failed[] = {OUTCOME_FAILED_TYPES};
static const char *const passed[] = {OUTCOME_PASSED_TYPES};

static bool one_of(const char *type, const char *const *list, size_t n)
{
	for (size_t i = 0; type && i < n; i++)
		if (strcmp(type, list[i]) == 0)
			return true;
	return false;
}

bool outcome_is_failure(const char *type)
{
	return one_of(type, failed, sizeof failed / sizeof failed[0]);
}

bool outcome_is_pass(const char *type)
{
	return one_of(type, passed, sizeof passed / sizeof passed[0]);
}
