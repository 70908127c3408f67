/* System clocks behind replaceable function pointers. */
#include "common/clock.h"

#include <time.h>

static uint64_t sys_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t sys_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t (*mono_fn)(void) = sys_mono_ns;
static int64_t (*wall_fn)(void) = sys_wall_ms;

uint64_t clock_mono_ns(void)
{
	return mono_fn();
}
int64_t clock_wall_ms(void)
{
	return wall_fn();
}

void clock_set_source(uint64_t (*mono_ns)(void), int64_t (*wall_ms)(void))
{
	mono_fn = mono_ns ? mono_ns : sys_mono_ns;
	wall_fn = wall_ms ? wall_ms : sys_wall_ms;
}
