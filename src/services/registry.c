/* The services the daemon hosts: one row per service (see service.h). */
#include "services/service.h"

#include <stddef.h>

extern const struct service_def triage_service;
extern const struct service_def predict_service;
extern const struct service_def session_service;
extern const struct service_def cmdpredict_service;
#ifdef CAIRN_TEST_BUILD
extern const struct service_def counter_service;
#endif

const struct service_def *const services[] = {
	&triage_service,
	&predict_service,
	&session_service,
	&cmdpredict_service,
#ifdef CAIRN_TEST_BUILD
	&counter_service, /* tests/integration/test_services.py; off unless CAIRN_TEST_COUNTER */
#endif
	NULL,
};
