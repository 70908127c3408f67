/* The JSON Schema subset of schema.h. */
#include "tools/schema.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PATH_MAX_LEN 200

static const char *const types[] = {"object",  "string", "integer", "number",
				    "boolean", "array",  "null"};

static bool known_type(const char *t)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

/* ---- checking a schema ---- */

static int bad(struct cairn_err *err, const char *where, const char *what)
{
	return cairn_err_set(err, CAIRN_E_INVALID, where, "schema: '%s' %s", where, what);
}

static int check_at(const json_t *s, char *where, size_t wl, struct cairn_err *err);

static int check_sub(const json_t *s, char *where, size_t wl, const char *add,
		     struct cairn_err *err)
{
	size_t l = strlen(where);
	snprintf(where + l, wl - l, "%s%s", l ? "." : "", add);
	int r = check_at(s, where, wl, err);
	where[l] = '\0';
	return r;
}

static int check_at(const json_t *s, char *where, size_t wl, struct cairn_err *err)
{
	if (!json_is_object(s))
		return bad(err, *where ? where : "(root)", "is not an object");
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)s, key, v) {
		size_t l = strlen(where);
		snprintf(where + l, wl - l, "%s%s", l ? "." : "", key);
		int r = 0;
		if (strcmp(key, "type") == 0) {
			if (json_is_string(v)) {
				if (!known_type(json_string_value(v)))
					r = bad(err, where, "names an unknown type");
			} else if (json_is_array(v) && json_array_size(v)) {
				size_t i;
				const json_t *t;
				json_array_foreach(v, i, t)
					if (!json_is_string(t) || !known_type(json_string_value(t)))
						r = bad(err, where, "names an unknown type");
			} else {
				r = bad(err, where, "must be a type name or an array of them");
			}
		} else if (strcmp(key, "properties") == 0) {
			if (!json_is_object(v)) {
				r = bad(err, where, "must be an object");
			} else {
				const char *pk;
				const json_t *pv;
				json_object_foreach((json_t *)v, pk, pv) {
					if ((r = check_sub(pv, where, wl, pk, err)))
						break;
				}
			}
		} else if (strcmp(key, "required") == 0) {
			size_t i;
			const json_t *t;
			if (!json_is_array(v))
				r = bad(err, where, "must be an array of names");
			else
				json_array_foreach(v, i, t)
					if (!json_is_string(t))
						r = bad(err, where, "must be an array of names");
		} else if (strcmp(key, "additionalProperties") == 0) {
			if (!json_is_false(v) && !json_is_true(v)) {
				where[l] = '\0';
				r = check_sub(v, where, wl, "additionalProperties", err);
			}
		} else if (strcmp(key, "items") == 0) {
			where[l] = '\0';
			r = check_sub(v, where, wl, "items", err);
		} else if (strcmp(key, "enum") == 0) {
			if (!json_is_array(v) || !json_array_size(v))
				r = bad(err, where, "must be a non-empty array");
		} else if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0) {
			if (!json_is_number(v))
				r = bad(err, where, "must be a number");
		} else if (strcmp(key, "minLength") == 0 || strcmp(key, "maxLength") == 0 ||
			   strcmp(key, "minItems") == 0 || strcmp(key, "maxItems") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				r = bad(err, where, "must be a whole number >= 0");
		} else if (strcmp(key, "description") == 0 || strcmp(key, "title") == 0 ||
			   strcmp(key, "$schema") == 0) {
			if (!json_is_string(v))
				r = bad(err, where, "must be a string");
		} else if (strcmp(key, "default") == 0 || strcmp(key, "examples") == 0) {
			/* annotations */
		} else {
			r = bad(err, where,
				"is not a keyword this validator knows (src/tools/schema.h)");
		}
		where[l] = '\0';
		if (r)
			return r;
	}
	return 0;
}

int schema_check_schema(const json_t *schema, struct cairn_err *err)
{
	char where[PATH_MAX_LEN] = "";
	cairn_err_clear(err);
	return check_at(schema, where, sizeof where, err);
}

/* ---- validating a value ---- */

static const char *type_of(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

static bool is_type(const json_t *v, const char *t)
{
	if (strcmp(t, "object") == 0)
		return json_is_object(v);
	if (strcmp(t, "string") == 0)
		return json_is_string(v);
	if (strcmp(t, "integer") == 0) {
		if (json_is_integer(v))
			return true;
		/* 3.0 is an integer in JSON Schema. */
		double d = json_is_real(v) ? json_real_value(v) : NAN;
		return isfinite(d) && d == floor(d) && fabs(d) < 9e15;
	}
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (strcmp(t, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(t, "array") == 0)
		return json_is_array(v);
	return strcmp(t, "null") == 0 && json_is_null(v);
}

static size_t utf8_len(const char *s, size_t n)
{
	size_t cps = 0;
	for (size_t i = 0; i < n; i++)
		cps += ((unsigned char)s[i] & 0xC0) != 0x80;
	return cps;
}

/* "argument 'x.y'" or "the arguments" for the root. */
static void name_of(char *buf, size_t n, const char *path)
{
	if (*path)
		snprintf(buf, n, "argument '%s'", path);
	else
		snprintf(buf, n, "the arguments");
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		char nm[PATH_MAX_LEN + 16];                                                        \
		name_of(nm, sizeof nm, path);                                                      \
		char tail[400];                                                                    \
		snprintf(tail, sizeof tail, __VA_ARGS__);                                          \
		return cairn_err_set(err, CAIRN_E_INVALID, path, "%s %s", nm, tail);               \
	} while (0)

static int validate_at(const json_t *s, const json_t *v, char *path, size_t pl,
		       struct cairn_err *err, int depth)
{
	if (depth > 32)
		FAIL("is nested too deeply");
	const json_t *t = json_object_get(s, "type");
	if (json_is_string(t)) {
		if (!is_type(v, json_string_value(t)))
			FAIL("must be %s %s, not %s",
			     strchr("aeiou", json_string_value(t)[0]) ? "an" : "a",
			     json_string_value(t), type_of(v));
	} else if (json_is_array(t)) {
		bool ok = false;
		size_t i;
		const json_t *x;
		json_array_foreach(t, i, x)
			ok = ok || is_type(v, json_string_value(x));
		if (!ok)
			FAIL("has the wrong type (%s)", type_of(v));
	}
	const json_t *en = json_object_get(s, "enum");
	if (en) {
		bool ok = false;
		size_t i;
		const json_t *x;
		json_array_foreach(en, i, x)
			ok = ok || json_equal(x, v);
		if (!ok) {
			char list[300] = "";
			size_t l = 0;
			json_array_foreach(en, i, x) {
				if (json_is_string(x) && l < sizeof list - 40)
					l += (size_t)snprintf(list + l, sizeof list - l, "%s'%s'",
							      i ? ", " : "", json_string_value(x));
			}
			FAIL("must be one of %s", list);
		}
	}
	if (json_is_number(v)) {
		double d = json_number_value(v);
		const json_t *mn = json_object_get(s, "minimum"),
			     *mx = json_object_get(s, "maximum");
		if (mn && d < json_number_value(mn))
			FAIL("must be at least %g", json_number_value(mn));
		if (mx && d > json_number_value(mx))
			FAIL("must be at most %g", json_number_value(mx));
	}
	if (json_is_string(v)) {
		size_t cps = utf8_len(json_string_value(v), json_string_length(v));
		const json_t *mn = json_object_get(s, "minLength"),
			     *mx = json_object_get(s, "maxLength");
		if (mn && cps < (size_t)json_integer_value(mn))
			FAIL("must be at least %lld characters long",
			     (long long)json_integer_value(mn));
		if (mx && cps > (size_t)json_integer_value(mx))
			FAIL("must be at most %lld characters long",
			     (long long)json_integer_value(mx));
	}
	if (json_is_array(v)) {
		size_t n = json_array_size(v);
		const json_t *mn = json_object_get(s, "minItems"),
			     *mx = json_object_get(s, "maxItems");
		if (mn && n < (size_t)json_integer_value(mn))
			FAIL("must have at least %lld items", (long long)json_integer_value(mn));
		if (mx && n > (size_t)json_integer_value(mx))
			FAIL("must have at most %lld items", (long long)json_integer_value(mx));
		const json_t *items = json_object_get(s, "items");
		if (items) {
			size_t i;
			const json_t *x;
			size_t l = strlen(path);
			json_array_foreach(v, i, x) {
				snprintf(path + l, pl - l, "[%zu]", i);
				int r = validate_at(items, x, path, pl, err, depth + 1);
				path[l] = '\0';
				if (r)
					return r;
			}
		}
	}
	if (json_is_object(v)) {
		const json_t *req = json_object_get(s, "required");
		size_t i;
		const json_t *x;
		json_array_foreach(req, i, x) {
			const char *name = json_string_value(x);
			if (!json_object_get(v, name)) {
				size_t l = strlen(path);
				snprintf(path + l, pl - l, "%s%s", l ? "." : "", name);
				char nm[PATH_MAX_LEN + 16];
				name_of(nm, sizeof nm, path);
				int r = cairn_err_set(err, CAIRN_E_INVALID, path, "%s is required",
						      nm);
				path[l] = '\0';
				return r;
			}
		}
		const json_t *props = json_object_get(s, "properties");
		const json_t *extra = json_object_get(s, "additionalProperties");
		const char *key;
		const json_t *val;
		json_object_foreach((json_t *)v, key, val) {
			const json_t *ps = props ? json_object_get(props, key) : NULL;
			size_t l = strlen(path);
			snprintf(path + l, pl - l, "%s%s", l ? "." : "", key);
			int r = 0;
			if (ps) {
				r = validate_at(ps, val, path, pl, err, depth + 1);
			} else if (json_is_false(extra)) {
				char known[300] = "";
				size_t kl = 0;
				const char *pk;
				const json_t *pv;
				json_object_foreach((json_t *)props, pk, pv) {
					(void)pv;
					if (kl < sizeof known - 40)
						kl += (size_t)snprintf(known + kl,
								       sizeof known - kl, "%s%s",
								       kl ? ", " : "", pk);
				}
				char nm[PATH_MAX_LEN + 16];
				name_of(nm, sizeof nm, path);
				r = cairn_err_set(err, CAIRN_E_INVALID, path,
						  "%s is not known; the arguments are: %s", nm,
						  *known ? known : "none");
			} else if (json_is_object(extra)) {
				r = validate_at(extra, val, path, pl, err, depth + 1);
			}
			path[l] = '\0';
			if (r)
				return r;
		}
	}
	return 0;
}

int schema_validate(const json_t *schema, const json_t *value, struct cairn_err *err)
{
	char path[PATH_MAX_LEN + 32] = "";
	cairn_err_clear(err);
	if (!value)
		return cairn_err_set(err, CAIRN_E_INVALID, "", "the arguments are missing");
	return validate_at(schema, value, path, PATH_MAX_LEN, err, 0);
}
