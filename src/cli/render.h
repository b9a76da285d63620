/* Printing service objects: a table of chosen columns (people) or the JSON as received (scripts).
 * Text from the service is stripped of control characters before it reaches a terminal. */
#pragma once

#include <jansson.h>
#include "cli/cli.h"

struct cli_column {
	const char *header;
	const char *key; /* field of each item; "a.b" reaches into a nested object */
};

/* A table cell for a JSON value (malloc'd): strings as is, null as "", arrays of strings joined
 * with ", ", anything else as compact JSON; control characters replaced. */
char *cli_cell(const json_t *value);
const json_t *cli_field(const json_t *obj, const char *dotted_key);

void cli_render_list(enum cli_output output, const json_t *items, const struct cli_column *cols, size_t ncols);
/* One object: a "Field  Value" table or JSON. */
void cli_render_object(enum cli_output output, const json_t *obj);
