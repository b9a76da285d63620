/* Unit tests of the terminal-text filter (common/text.c) and the no-replace file writer
 * (common/fileio.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/text.h"
#include "common/xalloc.h"

static void check(const char *in, bool keep_lines, const char *want)
{
	char *s = xstrdup(in);
	assert_string_equal(rp_text_make_printable(s, keep_lines), want);
	assert_true(rp_text_is_printable_utf8(want, strlen(want)) || keep_lines);
	free(s);
}

static void controls_become_question_marks(void **state)
{
	(void)state;
	check("plain text", false, "plain text");
	check("caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80", false, "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80");
	check("a\x1b[2Jb\x07" "c\x7f", false, "a?[2Jb?c?");
	check("line\n\ttab", true, "line\n\ttab");
	check("line\n\ttab\r", false, "line??tab?");
	check("csi\xc2\x9b" "2J osc\xc2\x9d" "0;t\xc2\x9c", true, "csi?2J osc?0;t?"); /* C1 as UTF-8 */
	check("nbsp\xc2\xa0ok", false, "nbsp\xc2\xa0ok");                          /* U+00A0 is text */
	check("raw\x9b" "c1 \xff\xfe cut\xe2\x98", false, "raw?c1 ?? cut??");        /* not UTF-8 */
	check("\xc0\xaf overlong \xed\xa0\x80 surrogate", false, "?? overlong ??? surrogate");
	check("", true, "");
}

static void write_new_never_replaces(void **state)
{
	(void)state;
	char dir[] = "/tmp/rampart-test-text-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/key.pem", dir);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_write_file_new(path, "first", 5, 0600, &err), 0);
	assert_int_equal(rp_write_file_new(path, "second", 6, 0600, &err), -1);
	assert_int_equal(err.code, RP_E_EXISTS);
	assert_non_null(strstr(err.message, "already exists"));
	uint8_t *data = NULL;
	size_t len = 0;
	assert_int_equal(rp_read_file(path, 100, &data, &len, &err), 0);
	assert_memory_equal(data, "first", 5);
	free(data);
	/* The replacing writer still replaces. */
	assert_int_equal(rp_write_file_atomic(path, "third", 5, 0600, &err), 0);
	assert_int_equal(rp_read_file(path, 100, &data, &len, &err), 0);
	assert_memory_equal(data, "third", 5);
	free(data);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(path);
	assert_int_equal(rmdir(dir), 0); /* no temporary file left behind */
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(controls_become_question_marks),
		cmocka_unit_test(write_new_never_replaces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
