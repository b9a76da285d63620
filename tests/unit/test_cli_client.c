/* Unit tests for the CLI's API client (paths, error mapping, URL checks) and its configuration
 * file (strict parsing, 0600, refusal of files others can read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/api_client.h"
#include "cli/config.h"
#include "cli/render.h"
#include "common/fileio.h"
#include "common/xalloc.h"

static char tmpdir[256];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-cli-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	return rp_remove_tree(tmpdir, &err);
}

static void test_escape(void **state)
{
	(void)state;
	char *e = api_escape("a b/c?d#e%f\"';--\xc3\xa9");
	assert_string_equal(e, "a%20b%2Fc%3Fd%23e%25f%22%27%3B--%C3%A9");
	free(e);
	e = api_escape("Az09-._~");
	assert_string_equal(e, "Az09-._~");
	free(e);
}

static void test_path(void **state)
{
	(void)state;
	char *p = api_path("/v1/tenants/%s/products/%s?x=%s%%", "t1", "../../admin", "a&b=c");
	assert_string_equal(p, "/v1/tenants/t1/products/..%2F..%2Fadmin?x=a%26b%3Dc%");
	free(p);
}

static void test_status_codes(void **state)
{
	(void)state;
	assert_int_equal(api_status_code(400), RP_E_INVALID);
	assert_int_equal(api_status_code(401), RP_E_PERMISSION);
	assert_int_equal(api_status_code(403), RP_E_PERMISSION);
	assert_int_equal(api_status_code(404), RP_E_NOT_FOUND);
	assert_int_equal(api_status_code(409), RP_E_CONFLICT);
	assert_int_equal(api_status_code(413), RP_E_LIMIT);
	assert_int_equal(api_status_code(500), RP_E_UNAVAILABLE);
	assert_int_equal(api_status_code(503), RP_E_UNAVAILABLE);
	assert_int_equal(api_status_code(418), RP_E_INVALID);
}

static void test_error_body(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	const char *body = "{\"error\":{\"code\":\"exists\",\"message\":\"device abc\\u001b[2J is claimed\\nx\"}}";
	api_error_from_response(409, body, strlen(body), &err);
	assert_int_equal(err.code, RP_E_EXISTS);
	assert_int_equal(rp_error_exit_status(&err), 6);
	assert_non_null(strstr(err.message, "device abc?[2J is claimed?x"));
	assert_non_null(strstr(err.message, "HTTP 409 exists"));
	assert_null(strchr(err.message, '\x1b'));

	const char *verify = "{\"error\":{\"code\":\"verification-failed\",\"message\":\"untrusted key\"}}";
	api_error_from_response(422, verify, strlen(verify), &err);
	assert_int_equal(rp_error_exit_status(&err), 3);

	/* A 5xx stays "unavailable" whatever the body claims. */
	const char *internal = "{\"error\":{\"code\":\"invalid\",\"message\":\"boom\"}}";
	api_error_from_response(500, internal, strlen(internal), &err);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);

	api_error_from_response(404, "<html>nope</html>", 17, &err);
	assert_int_equal(err.code, RP_E_NOT_FOUND);
	assert_non_null(strstr(err.message, "HTTP 404"));

	api_error_from_response(401, NULL, 0, &err);
	assert_int_equal(rp_error_exit_status(&err), 5);
	assert_non_null(strstr(err.message, "rampart login"));
}

static void test_base_url(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct api_client_options o = {.base_url = "http://example.com:8443"};
	assert_null(api_client_new(&o, &err));
	assert_int_equal(err.code, RP_E_INVALID);
	assert_non_null(strstr(err.message, "clear text"));
	o.base_url = "ftp://127.0.0.1/";
	assert_null(api_client_new(&o, &err));
	o.base_url = "not a url";
	assert_null(api_client_new(&o, &err));
	o.base_url = "https://user@127.0.0.1:8443";
	assert_null(api_client_new(&o, &err));
	o.base_url = "https://127.0.0.1:8443";
	o.token = "rpt_abc\r\nX-Evil: 1";
	assert_null(api_client_new(&o, &err));
	o.token = "rpt_abc";
	api_client *c = api_client_new(&o, &err);
	assert_non_null(c);
	api_client_free(c);
	o.base_url = "http://127.0.0.1:1/";
	c = api_client_new(&o, &err);
	assert_non_null(c);
	/* Nothing listens on port 1: a clean "unavailable" error, exit status 7. */
	json_t *out = NULL;
	assert_int_equal(api_client_call(c, "GET", "/v1/health", NULL, &out, &err), -1);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	assert_int_equal(rp_error_exit_status(&err), 7);
	api_client_free(c);
}

static void test_config_parse(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	cli_config cfg = {0};
	const char *good = "{\"version\":1,\"service\":\"https://h:1\",\"token\":\"rpt_x\",\"tenant\":\"t\"}";
	assert_int_equal(cli_config_parse(&cfg, good, strlen(good), &err), 0);
	assert_string_equal(cfg.service, "https://h:1");
	assert_string_equal(cfg.token, "rpt_x");
	cli_config_free(&cfg);

	const char *unknown = "{\"version\":1,\"servce\":\"https://h:1\"}";
	assert_int_equal(cli_config_parse(&cfg, unknown, strlen(unknown), &err), -1);
	assert_non_null(strstr(err.message, "servce"));
	cli_config_free(&cfg);

	const char *wrong_type = "{\"version\":1,\"token\":5}";
	assert_int_equal(cli_config_parse(&cfg, wrong_type, strlen(wrong_type), &err), -1);
	cli_config_free(&cfg);

	const char *future = "{\"version\":2}";
	assert_int_equal(cli_config_parse(&cfg, future, strlen(future), &err), -1);
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
	cli_config_free(&cfg);

	const char *dup = "{\"version\":1,\"token\":\"a\",\"token\":\"b\"}";
	assert_int_equal(cli_config_parse(&cfg, dup, strlen(dup), &err), -1);
	cli_config_free(&cfg);
}

static void test_config_files(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char *path = xasprintf("%s/sub/dir/config.json", tmpdir);
	setenv("RAMPART_CONFIG", path, 1);
	cli_config cfg;
	assert_int_equal(cli_config_load(&cfg, &err), 0); /* missing: empty */
	assert_null(cfg.token);
	cli_config_set(&cfg.service, "https://127.0.0.1:8443");
	cli_config_set(&cfg.token, "rpt_secret");
	assert_int_equal(cli_config_save(&cfg, &err), 0);
	cli_config_free(&cfg);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cli_config_load(&cfg, &err), 0);
	assert_string_equal(cfg.token, "rpt_secret");
	cli_config_free(&cfg);

	/* Readable by the group: refused, with the fix in the message. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(cli_config_load(&cfg, &err), -1);
	assert_int_equal(err.code, RP_E_PERMISSION);
	assert_non_null(strstr(err.message, "chmod 600"));
	cli_config_free(&cfg);

	/* Garbage: refused, naming the file. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(rp_write_file_atomic(path, "{oops", 5, 0600, &err), 0);
	assert_int_equal(cli_config_load(&cfg, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	assert_non_null(strstr(err.message, path));
	cli_config_free(&cfg);
	unsetenv("RAMPART_CONFIG");
	free(path);
}

static void test_config_path(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	unsetenv("RAMPART_CONFIG");
	setenv("XDG_CONFIG_HOME", "/x/y", 1);
	char *p = cli_config_path(&err);
	assert_string_equal(p, "/x/y/rampart/config.json");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/home/u", 1);
	p = cli_config_path(&err);
	assert_string_equal(p, "/home/u/.config/rampart/config.json");
	free(p);
}

static void test_cells(void **state)
{
	(void)state;
	json_t *doc = json_loads("{\"s\":\"a\\nb\\u001b[1m\",\"n\":null,\"i\":42,\"b\":true,\"arr\":[\"x\",\"y\"],"
	                         "\"mixed\":[1,\"y\"],\"o\":{\"in\":{\"deep\":\"v\"}},"
	                         "\"pem\":\"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n\"}",
	                         0, NULL);
	assert_non_null(doc);
	struct {
		const char *key, *want;
	} cases[] = {{"s", "a?b?[1m"}, {"n", ""},     {"i", "42"},         {"b", "true"},
	             {"arr", "x, y"}, {"mixed", "[1,\"y\"]"}, {"o.in.deep", "v"}, {"missing", ""},
	             {"pem", "(PEM, 57 bytes; shown with --output json)"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *c = cli_cell(cli_field(doc, cases[i].key));
		assert_string_equal(c, cases[i].want);
		free(c);
	}
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_status_codes),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_base_url),
		cmocka_unit_test(test_config_parse),
		cmocka_unit_test(test_config_files),
		cmocka_unit_test(test_config_path),
		cmocka_unit_test(test_cells),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
