/* A triage report for people: what `cairn why` and `cairn triage` print. */
#include "services/triage.h"

#include <string.h>

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

void triage_print(FILE *out, const json_t *rep, bool color)
{
	const char *B = color ? "\033[1m" : "", *D = color ? "\033[2m" : "",
		   *R = color ? "\033[0m" : "";
	const json_t *fail = json_object_get(rep, "failure");
	const char *type = str(fail, "type");
	const char *target = str(fail, "target");
	json_int_t seq = json_integer_value(json_object_get(fail, "seq"));
	if (*type || *target) {
		fprintf(out, "%s%s%s%s%s", B, *type ? type : "failure", *target ? "  " : "", target,
			R);
		if (seq)
			fprintf(out, "  %s(seq %lld)%s", D, (long long)seq, R);
		fputc('\n', out);
	}
	fprintf(out, "%s\n", str(rep, "summary"));

	const json_t *ex = json_object_get(rep, "excerpt");
	const json_t *lines = json_object_get(ex, "lines");
	if (json_array_size(lines)) {
		fprintf(out, "\n%sWhat failed%s %s(%zu of %lld lines, from the %s)%s\n", B, R, D,
			json_array_size(lines),
			(long long)json_integer_value(json_object_get(ex, "total_lines")),
			strcmp(str(ex, "method"), "diagnostics") == 0 ? "diagnostics" : "log", R);
		json_int_t prev = -1;
		size_t i;
		const json_t *l;
		json_array_foreach(lines, i, l) {
			json_int_t n = json_integer_value(json_object_get(l, "line"));
			if (prev >= 0 && n != prev + 1)
				fprintf(out, "  %s%6s │%s\n", D, "…", R);
			fprintf(out, "  %s%6lld │%s %s\n", D, (long long)n, R, str(l, "text"));
			prev = n;
		}
	}

	const json_t *fixes = json_object_get(rep, "fixes");
	if (json_array_size(fixes)) {
		fprintf(out, "\n%sKnown fixes%s\n", B, R);
		size_t i;
		const json_t *f;
		json_array_foreach(fixes, i, f) {
			bool learned = json_is_true(json_object_get(f, "learned"));
			fprintf(out, "  %zu. %s%s%s  %s[%s #%lld%s, %s, confidence %.2f]%s\n",
				i + 1, B, str(f, "title"), R, D, str(f, "kind"),
				(long long)json_integer_value(json_object_get(f, "id")),
				learned ? ", learned" : "", str(f, "reason"),
				json_real_value(json_object_get(f, "confidence")), R);
			const char *from = str(f, "from_project");
			if (*from)
				fprintf(out, "     %slearned in %s%s\n", D, from, R);
			const char *matched = str(f, "matched");
			if (*matched)
				fprintf(out, "     %swords matched: %s%s\n", D, matched, R);
			const char *applies = str(f, "applies");
			if (*applies && strcmp(applies, "unknown") != 0)
				fprintf(out, "     %sapplies to the failing line: %s%s\n", D,
					applies, R);
			/* The first lines of the body, the diff of a learned fix included. */
			const char *b = str(f, "body");
			int shown = 0;
			while (*b && shown < 12) {
				const char *e = strchr(b, '\n');
				size_t n = e ? (size_t)(e - b) : strlen(b);
				if (n)
					fprintf(out, "     %.*s\n", (int)n, b);
				shown++;
				b = e ? e + 1 : b + n;
			}
			if (*b)
				fprintf(out, "     %s… (cairn kb show %lld)%s\n", D,
					(long long)json_integer_value(json_object_get(f, "id")), R);
		}
	}

	const json_t *sus = json_object_get(rep, "suspects");
	if (json_array_size(sus)) {
		const json_t *since = json_object_get(rep, "since_pass");
		if (json_is_object(since))
			fprintf(out, "\n%sChanged since the last pass%s %s(%s)%s\n", B, R, D,
				str(since, "time"), R);
		else
			fprintf(out, "\n%sRecent changes%s %s(no earlier pass of this target)%s\n",
				B, R, D, R);
		size_t i;
		const json_t *s;
		json_array_foreach(sus, i, s) {
			fprintf(out, "  %zu. %s  %s— %s%s%s%s%s\n", i + 1, str(s, "path"), D,
				str(s, "relation"), *str(s, "changed") ? ", " : "",
				str(s, "changed"), R, "");
		}
	}
	const json_t *sig = json_object_get(rep, "signature");
	if (json_is_object(sig))
		fprintf(out, "\n%ssignature: %s%s\n", D, str(sig, "exact"), R);
	if (json_is_true(json_object_get(rep, "log_missing")))
		fprintf(out,
			"%sthe run's output could not be read; the report is based on the event "
			"alone%s\n",
			D, R);
}
