/* ULID generation with a per-process monotonic counter for equal milliseconds. */
#include "common/ulid.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms = -1;
static uint8_t last_rand[10];

static void fill_random(uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);
		if (r > 0)
			got += (size_t)r;
	}
}

void ulid_make(char out[ULID_LEN + 1], int64_t ms)
{
	uint8_t b[16];
	pthread_mutex_lock(&mu);
	if (ms <= last_ms) {
		/* Same (or earlier) millisecond: increment the random part so order holds. */
		ms = last_ms;
		for (int i = 9; i >= 0; i--)
			if (++last_rand[i] != 0)
				break;
	} else {
		fill_random(last_rand, sizeof last_rand);
		last_rand[0] &= 0x7f; /* leave headroom for increments */
		last_ms = ms;
	}
	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)((uint64_t)ms >> (8 * (5 - i)));
	memcpy(b + 6, last_rand, 10);
	pthread_mutex_unlock(&mu);

	ulid_encode(b, out);
}

void ulid_encode(const uint8_t b[16], char out[ULID_LEN + 1])
{
	/* 128 bits -> 26 base32 characters of 5 bits each, the first
	 * carrying the top 3 bits (26 * 5 = 130). */
	unsigned __int128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | b[i];
	for (int i = ULID_LEN - 1; i >= 0; i--) {
		out[i] = b32[(unsigned)(v & 31)];
		v >>= 5;
	}
	out[ULID_LEN] = '\0';
}

void ulid_new(char out[ULID_LEN + 1])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ulid_make(out, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

bool ulid_valid(const char *s)
{
	if (strlen(s) != ULID_LEN || s[0] > '7')
		return false;
	for (const char *p = s; *p; p++)
		if (!strchr(b32, *p) || !*p)
			return false;
	return true;
}
