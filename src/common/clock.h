/* The one clock of cairn. Monotonic time for intervals and timeouts; wall time
 * only for display and event timestamps. Tests replace either through
 * clock_set_source(). */
#ifndef CAIRN_CLOCK_H
#define CAIRN_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds since an arbitrary point. Any thread. */
uint64_t clock_mono_ns(void);
/* Wall-clock milliseconds since the Unix epoch. Any thread. */
int64_t clock_wall_ms(void);

/* Replaces the clocks (NULL restores the system clocks). For tests only;
 * call before other threads start. */
void clock_set_source(uint64_t (*mono_ns)(void), int64_t (*wall_ms)(void));

#endif
