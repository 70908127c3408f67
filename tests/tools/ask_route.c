/* Routes each question of a questions file (tests/data/ask/questions.jsonl
 * format: q, family, tool, split) through ask_route() and prints, per
 * split, the share routed to the expected family and to the expected tool.
 * With --misses SPLIT, prints that split's misses (development looks at
 * the dev split only; the test split is for reporting).
 *
 * With --features, prints each question's family and the features the
 * learned model sees (one JSON object a line: family, features, split), for
 * tests/tools/train_route.py. --weight W sets the model's weight.
 *
 * Usage: ask_route FILE [--misses SPLIT] [--features] [--weight W]
 *        ask_route --families */
#include "ask/route.h"
#include "common/clock.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: ask_route FILE [--misses SPLIT] [--features] [--weight W]\n"
				"       ask_route --families\n");
		return 2;
	}
	if (strcmp(argv[1], "--families") == 0) {
		for (int k = 0; k < ASK_N_FAMILIES; k++)
			printf("%s\n", ask_family_name((enum ask_family)k));
		return 0;
	}
	const char *misses = NULL;
	bool features = false;
	for (int a = 2; a < argc; a++) {
		if (strcmp(argv[a], "--misses") == 0 && a + 1 < argc)
			misses = argv[++a];
		else if (strcmp(argv[a], "--features") == 0)
			features = true;
		else if (strcmp(argv[a], "--weight") == 0 && a + 1 < argc)
			ask_route_set_model_weight(atof(argv[++a]));
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	struct {
		const char *name;
		int n, family, tool;
	} sp[2] = {{"dev", 0, 0, 0}, {"test", 0, 0, 0}};
	char line[8192];
	int64_t now = clock_wall_ms();
	while (fgets(line, sizeof line, f)) {
		json_t *o = json_loads(line, 0, NULL);
		if (!o)
			continue;
		const char *q = json_string_value(json_object_get(o, "q"));
		const char *fam = json_string_value(json_object_get(o, "family"));
		const char *tool = json_string_value(json_object_get(o, "tool"));
		const char *split = json_string_value(json_object_get(o, "split"));
		int k = split && strcmp(split, "test") == 0;
		if (features) {
			static char fs[512][ASK_FEATURE_LEN];
			size_t n = ask_route_features(q, fs, 512);
			json_t *a = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(a, json_string(fs[i]));
			json_t *row = json_pack("{s:s?,s:o,s:s?}", "family", fam, "features", a,
						"split", split);
			char *enc = json_dumps(row, JSON_COMPACT);
			printf("%s\n", enc);
			free(enc);
			json_decref(row);
			json_decref(o);
			continue;
		}
		struct ask_route r;
		ask_route(q, now, &r);
		bool fok = fam && strcmp(fam, ask_family_name(r.family)) == 0;
		bool tok = tool && strcmp(tool, r.tool) == 0;
		sp[k].n++;
		sp[k].family += fok;
		sp[k].tool += tok;
		if (misses && split && strcmp(split, misses) == 0) {
			char *a = json_dumps(r.args, JSON_COMPACT);
			if (!fok)
				printf("MISS %-10s -> %-10s (%.1f vs %.1f) %s  %s\n", fam,
				       ask_family_name(r.family), r.score, r.runner_up, q, a);
			else
				printf("ok   %-10s %s  %s\n", fam, q, a);
			free(a);
		}
		ask_route_release(&r);
		json_decref(o);
	}
	fclose(f);
	if (features)
		return 0;
	for (int k = 0; k < 2; k++)
		printf("%-5s %3d questions: family %5.1f%%, tool %5.1f%%\n", sp[k].name, sp[k].n,
		       sp[k].n ? 100.0 * sp[k].family / sp[k].n : 0,
		       sp[k].n ? 100.0 * sp[k].tool / sp[k].n : 0);
	return 0;
}
