/* os.json parsing and argument expansion. Component executables are confined to relative paths
 * without ".." so a bundle can only start code that is inside the verified payload. */
#include "device/boot/boot_osconf.h"

#include <string.h>

#include "common/json.h"
#include "common/xalloc.h"

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > BOOT_OSCONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static bool exec_path_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255 || s[0] == '/')
		return false;
	/* Every component must be a plain name: no "", ".", "..". */
	const char *p = s;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		if (clen == 0 || (clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (size_t i = 0; i < clen; i++)
			if ((unsigned char)p[i] < 0x21 || p[i] == 0x7f)
				return false;
		p += clen;
		if (*p == '/')
			p++;
		else
			break;
	}
	return s[n - 1] != '/';
}

static int parse_component(json_t *obj, struct boot_component *c, rp_error *err)
{
	static const char *const keys[] = {"name", "exec", "args", "required", "ready_file", NULL};
	if (!json_is_object(obj))
		return rp_error_set(err, RP_E_INVALID, "must be an object, not %s", rp_json_type_name(obj));
	if (rp_json_check_keys(obj, keys, "component", err) < 0)
		return -1;
	const char *name = NULL, *exec = NULL, *ready = NULL;
	json_t *args = NULL;
	c->required = true;
	if (rp_json_get_string(obj, "name", true, &name, err) < 0 || rp_json_get_string(obj, "exec", true, &exec, err) < 0 ||
	    rp_json_get_array(obj, "args", false, &args, err) < 0 ||
	    rp_json_get_bool(obj, "required", false, &c->required, err) < 0 ||
	    rp_json_get_string(obj, "ready_file", false, &ready, err) < 0)
		return -1;
	if (!name_ok(name))
		return rp_error_set(err, RP_E_INVALID, "name '%s' must be 1..%d characters of a-z, 0-9, '-', '_'", name,
		                    BOOT_OSCONF_NAME_MAX);
	memcpy(c->name, name, strlen(name) + 1);
	if (!exec_path_ok(exec))
		return rp_error_set(err, RP_E_INVALID,
		                    "component '%s': exec '%s' must be a relative path inside the bundle (no '..')", name,
		                    exec);
	c->exec = xstrdup(exec);
	if (ready) {
		if (ready[0] == '\0' || strlen(ready) > BOOT_OSCONF_MAX_ARG_LEN)
			return rp_error_set(err, RP_E_INVALID, "component '%s': ready_file must be 1..%d bytes", name,
			                    BOOT_OSCONF_MAX_ARG_LEN);
		c->ready_file = xstrdup(ready);
	}
	size_t n = args ? json_array_size(args) : 0;
	if (n > BOOT_OSCONF_MAX_ARGS)
		return rp_error_set(err, RP_E_LIMIT, "component '%s': %zu arguments is over the limit of %d", name, n,
		                    BOOT_OSCONF_MAX_ARGS);
	c->args = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(args, i);
		if (!json_is_string(a))
			return rp_error_set(err, RP_E_INVALID, "component '%s': argument %zu must be a string", name, i);
		if (json_string_length(a) > BOOT_OSCONF_MAX_ARG_LEN)
			return rp_error_set(err, RP_E_LIMIT, "component '%s': argument %zu is too long", name, i);
		c->args[i] = xstrdup(json_string_value(a));
		c->nargs++;
	}
	return 0;
}

int boot_osconf_parse(const char *buf, size_t len, struct boot_osconf *conf, rp_error *err)
{
	static const char *const keys[] = {"version", "components", "health", "monitor_socket", NULL};
	static const char *const health_keys[] = {"settle_ms", NULL};
	memset(conf, 0, sizeof(*conf));
	conf->settle_ms = 2000;
	_cleanup_json_ json_t *root = rp_json_parse(buf, len, BOOT_OSCONF_MAX_LEN, "os.json", err);
	if (!root)
		return -1;
	if (!json_is_object(root))
		return rp_error_set(err, RP_E_INVALID, "os.json must be an object, not %s", rp_json_type_name(root));
	int64_t version = 0;
	json_t *comps = NULL, *health = NULL;
	const char *sock = NULL;
	if (rp_json_check_keys(root, keys, "os.json", err) < 0 ||
	    rp_json_get_int(root, "version", true, 1, 1, &version, err) < 0 ||
	    rp_json_get_array(root, "components", true, &comps, err) < 0 ||
	    rp_json_get_object(root, "health", false, &health, err) < 0 ||
	    rp_json_get_string(root, "monitor_socket", false, &sock, err) < 0)
		return rp_error_prefix(err, "os.json");
	size_t n = json_array_size(comps);
	if (n == 0 || n > BOOT_OSCONF_MAX_COMPONENTS)
		return rp_error_set(err, RP_E_INVALID, "os.json: components must list 1..%d entries, not %zu",
		                    BOOT_OSCONF_MAX_COMPONENTS, n);
	for (size_t i = 0; i < n; i++) {
		if (parse_component(json_array_get(comps, i), &conf->components[i], err) < 0) {
			conf->ncomponents = i + 1; /* free what was filled */
			boot_osconf_free(conf);
			return rp_error_prefix(err, "os.json: components[%zu]", i);
		}
		conf->ncomponents = i + 1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(conf->components[j].name, conf->components[i].name) == 0) {
				rp_error_set(err, RP_E_INVALID, "os.json: component name '%s' appears twice",
				             conf->components[i].name);
				boot_osconf_free(conf);
				return -1;
			}
	}
	if (health) {
		int64_t settle = conf->settle_ms;
		if (rp_json_check_keys(health, health_keys, "os.json health", err) < 0 ||
		    rp_json_get_int(health, "settle_ms", false, 0, BOOT_OSCONF_SETTLE_MAX_MS, &settle, err) < 0) {
			boot_osconf_free(conf);
			return rp_error_prefix(err, "os.json");
		}
		conf->settle_ms = (uint32_t)settle;
	}
	if (sock)
		conf->monitor_socket = xstrdup(sock);
	return 0;
}

void boot_osconf_free(struct boot_osconf *conf)
{
	for (size_t i = 0; i < conf->ncomponents; i++) {
		struct boot_component *c = &conf->components[i];
		free(c->exec);
		free(c->ready_file);
		if (c->args)
			for (size_t j = 0; c->args[j]; j++)
				free(c->args[j]);
		free(c->args);
	}
	free(conf->monitor_socket);
	memset(conf, 0, sizeof(*conf));
}

char *boot_osconf_expand(const char *template, const struct boot_osconf_vars *vars, rp_error *err)
{
	struct {
		const char *name, *value;
	} table[] = {
		{"STATE", vars->state}, {"ROOT", vars->root}, {"RUN", vars->run},
		{"ROT", vars->rot},     {"TCTI", vars->tcti}, {"VERSION", vars->version},
		{"DEVICE_ID", vars->device_id},
	};
	size_t cap = strlen(template) + 1, len = 0;
	char *out = xmalloc(cap);
	for (const char *p = template; *p;) {
		const char *add = p;
		size_t alen = 1;
		if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			if (!end) {
				free(out);
				rp_error_set(err, RP_E_INVALID, "argument '%s': unterminated ${", template);
				return NULL;
			}
			size_t nlen = (size_t)(end - p - 2);
			add = NULL;
			for (size_t i = 0; i < RP_ARRAY_SIZE(table); i++)
				if (strlen(table[i].name) == nlen && memcmp(table[i].name, p + 2, nlen) == 0)
					add = table[i].value ? table[i].value : "";
			if (!add) {
				free(out);
				rp_error_set(err, RP_E_INVALID,
				             "argument '%s': unknown variable (known: STATE, ROOT, RUN, ROT, TCTI, VERSION, "
				             "DEVICE_ID)",
				             template);
				return NULL;
			}
			alen = strlen(add);
			p = end + 1;
		} else {
			p++;
		}
		if (len + alen + 1 > cap) {
			cap = (len + alen + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + len, add, alen);
		len += alen;
	}
	out[len] = '\0';
	return out;
}
