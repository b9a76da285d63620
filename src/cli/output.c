/* Output helpers for the rampart CLI (see cli.h). */
#include "cli/cli.h"

#include <stdarg.h>
#include <string.h>

#include "common/json.h"
#include "common/text.h"
#include "common/xalloc.h"

struct cli_table {
	size_t ncols;
	size_t nrows;
	char **cells; /* (nrows + 1) * ncols, row 0 = headers */
};

int cli_parse_output(const char *value, enum cli_output *out)
{
	if (strcmp(value, "table") == 0)
		*out = CLI_OUTPUT_TABLE;
	else if (strcmp(value, "json") == 0)
		*out = CLI_OUTPUT_JSON;
	else {
		fprintf(stderr, "rampart: error: unknown output format '%s' (use 'table' or 'json')\n", value);
		return -1;
	}
	return 0;
}

int cli_fail(const rp_error *err)
{
	rp_error_report(err, "rampart");
	return rp_error_exit_status(err);
}

int cli_usage_error(const char *group, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "rampart %s: ", group);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nRun 'rampart %s --help' for usage.\n", group);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
	cli_table *t = xcalloc(1, sizeof(*t));
	t->ncols = ncols;
	t->cells = xcalloc(ncols, sizeof(char *));
	for (size_t i = 0; i < ncols; i++)
		t->cells[i] = xstrdup(headers[i]);
	return t;
}

void cli_table_add_row(cli_table *t, const char *const *cells)
{
	t->cells = xreallocarray(t->cells, (t->nrows + 2) * t->ncols, sizeof(char *));
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[(t->nrows + 1) * t->ncols + i] = xstrdup(cells[i] ? cells[i] : "");
	t->nrows++;
}

/* Display width: count UTF-8 lead bytes, so non-ASCII names do not skew columns. */
static size_t display_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void cli_table_print(const cli_table *t, FILE *out)
{
	size_t *widths = xcalloc(t->ncols, sizeof(size_t));
	for (size_t r = 0; r <= t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = display_width(t->cells[r * t->ncols + c]);
			if (w > widths[c])
				widths[c] = w;
		}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			bool last = c + 1 == t->ncols;
			fputs(cell, out);
			if (!last)
				for (size_t pad = display_width(cell); pad < widths[c] + 2; pad++)
					fputc(' ', out);
		}
		fputc('\n', out);
		if (r == 0) {
			for (size_t c = 0; c < t->ncols; c++) {
				for (size_t i = 0; i < widths[c]; i++)
					fputc('-', out);
				if (c + 1 < t->ncols)
					fputs("  ", out);
			}
			fputc('\n', out);
		}
	}
	free(widths);
}

void cli_table_free(cli_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void cli_print_json(const json_t *value, FILE *out)
{
	char *s = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!s)
		rp_abort("serialising JSON output");
	/* jansson escapes C0 controls but writes DEL and C1 (U+0080..U+009F, as UTF-8) raw, and some
	 * terminals obey C1; they can only occur inside strings, where \u00XX means the same. */
	const char *run = s;
	for (const char *p = s; *p; p++) {
		bool c1 = (unsigned char)p[0] == 0xc2 && (unsigned char)p[1] >= 0x80 && (unsigned char)p[1] <= 0x9f;
		if (c1 || *p == 0x7f) {
			fwrite(run, 1, (size_t)(p - run), out);
			fprintf(out, "\\u%04x", c1 ? (unsigned char)p[1] : 0x7fu);
			p += c1;
			run = p + 1;
		}
	}
	fprintf(out, "%s\n", run);
	free(s);
}

void cli_print_object_table(const json_t *obj, FILE *out)
{
	static const char *const headers[] = {"Field", "Value"};
	cli_table *t = cli_table_new(2, headers);
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)obj, key, value) {
		char *text;
		if (json_is_string(value))
			text = xstrdup(json_string_value(value));
		else
			text = rp_json_dump(value);
		_cleanup_free_ char *k = xstrdup(key);
		const char *row[] = {rp_text_make_printable(k, false), rp_text_make_printable(text, false)};
		cli_table_add_row(t, row);
		free(text);
	}
	cli_table_print(t, out);
	cli_table_free(t);
}
