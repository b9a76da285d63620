/* Rendering of service replies (see render.h). */
#include "cli/render.h"

#include <string.h>

#include "common/bytes.h"
#include "common/json.h"
#include "common/text.h"
#include "common/xalloc.h"

char *cli_cell(const json_t *v)
{
	char *text;
	if (!v || json_is_null(v)) {
		text = xstrdup("");
	} else if (json_is_string(v) && strstr(json_string_value(v), "-----BEGIN ") && strchr(json_string_value(v), '\n')) {
		/* A PEM block does not fit a table row; scripts get it with --output json. */
		text = xasprintf("(PEM, %zu bytes; shown with --output json)", strlen(json_string_value(v)));
	} else if (json_is_string(v)) {
		text = xstrdup(json_string_value(v));
	} else if (json_is_array(v)) {
		bool all_strings = true;
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e) all_strings = all_strings && json_is_string(e);
		if (!all_strings)
			return rp_json_dump(v);
		rp_buf b;
		rp_buf_init(&b);
		json_array_foreach(v, i, e) {
			if (i)
				rp_buf_append(&b, ", ", 2);
			rp_buf_append(&b, json_string_value(e), strlen(json_string_value(e)));
		}
		rp_buf_append(&b, "", 1);
		text = (char *)b.data;
	} else {
		text = rp_json_dump(v);
	}
	/* Names come from other users of the service: a newline or escape sequence in a product name
	 * must not forge table rows or drive the terminal. */
	rp_text_make_printable(text, false);
	return text;
}

const json_t *cli_field(const json_t *obj, const char *dotted_key)
{
	const char *dot = strchr(dotted_key, '.');
	if (!dot)
		return json_object_get(obj, dotted_key);
	_cleanup_free_ char *head = xstrndup(dotted_key, (size_t)(dot - dotted_key));
	const json_t *inner = json_object_get(obj, head);
	return json_is_object(inner) ? cli_field(inner, dot + 1) : NULL;
}

void cli_render_list(enum cli_output output, const json_t *items, const struct cli_column *cols, size_t ncols)
{
	if (output == CLI_OUTPUT_JSON) {
		cli_print_json(items, stdout);
		return;
	}
	const char **headers = xcalloc(ncols, sizeof(*headers));
	for (size_t c = 0; c < ncols; c++)
		headers[c] = cols[c].header;
	cli_table *t = cli_table_new(ncols, headers);
	char **cells = xcalloc(ncols, sizeof(*cells));
	size_t i;
	const json_t *item;
	json_array_foreach(items, i, item) {
		for (size_t c = 0; c < ncols; c++)
			cells[c] = cli_cell(cli_field(item, cols[c].key));
		cli_table_add_row(t, (const char *const *)cells);
		for (size_t c = 0; c < ncols; c++)
			free(cells[c]);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	free(cells);
	free(headers);
}

void cli_render_object(enum cli_output output, const json_t *obj)
{
	if (output == CLI_OUTPUT_JSON || !json_is_object(obj)) {
		cli_print_json(obj, stdout);
		return;
	}
	static const char *const headers[] = {"Field", "Value"};
	cli_table *t = cli_table_new(2, headers);
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)obj, key, value) {
		char *text = cli_cell(value);
		_cleanup_free_ char *k = xstrdup(key);
		rp_text_make_printable(k, false);
		const char *row[] = {k, text};
		cli_table_add_row(t, row);
		free(text);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
}
