/* A small JSON Schema validator: the subset cairn's tool declarations use
 * (src/tools/), so that a tool's arguments are checked before it runs and
 * every mistake is named by its argument.
 *
 * Supported keywords (draft 2020-12 meaning, no others; a schema using any
 * other keyword is refused by schema_check_schema(), so a declaration can
 * never silently mean less than it says):
 *
 *   type                  "object", "string", "integer", "number",
 *                         "boolean", "array", "null", or an array of them
 *   properties            object: name -> schema
 *   required              array of property names
 *   additionalProperties  false (unknown names refused) or a schema
 *   enum                  array of allowed values (compared with json_equal)
 *   minimum, maximum      numbers (inclusive)
 *   minLength, maxLength  string length in code points
 *   items                 the schema of every element
 *   minItems, maxItems    array length
 *   description, title, default, examples, $schema
 *                         annotations, not checked
 *
 * No library fit: Debian 12 packages no C JSON Schema validator that works
 * with jansson (docs/tools.md). */
#ifndef CAIRN_TOOLS_SCHEMA_H
#define CAIRN_TOOLS_SCHEMA_H

#include "common/err.h"

#include <jansson.h>

/* Checks that schema uses only the keywords above, each with a value of the
 * right shape. Returns 0, or CAIRN_E_INVALID with err naming the keyword and
 * where it is ("properties.limit.maximum"). For tests and at start. */
int schema_check_schema(const json_t *schema, struct cairn_err *err);

/* Validates value against schema (which passed schema_check_schema()).
 * Returns 0, or CAIRN_E_INVALID with err->field the path of the first
 * value at fault ("limit", "files[2]"; "" for the value itself) and
 * err->msg a sentence naming it: "argument 'limit' must be at most 50". */
int schema_validate(const json_t *schema, const json_t *value, struct cairn_err *err);

#endif
