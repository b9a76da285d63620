/* Backend-independent parts of the storage interface: names of roles and audit results. */
#include "service/store.h"

#include <string.h>

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

const char *store_role_name(enum store_role role)
{
	switch (role) {
	case STORE_ROLE_ADMINISTRATOR: return "Administrator";
	case STORE_ROLE_CONTRIBUTOR: return "Contributor";
	case STORE_ROLE_READER: return "Reader";
	case STORE_ROLE_NONE: break;
	}
	return "None";
}

int store_role_parse(const char *name, enum store_role *out)
{
	static const enum store_role roles[] = {STORE_ROLE_ADMINISTRATOR, STORE_ROLE_CONTRIBUTOR, STORE_ROLE_READER};
	for (size_t i = 0; i < RP_ARRAY_SIZE(roles); i++)
		if (strcmp(name, store_role_name(roles[i])) == 0) {
			*out = roles[i];
			return 0;
		}
	return -1;
}

const char *store_audit_result_name(enum store_audit_result r)
{
	switch (r) {
	case STORE_AUDIT_SUCCESS: return "success";
	case STORE_AUDIT_REFUSED: return "refused";
	case STORE_AUDIT_FAILED: return "failed";
	}
	return "failed";
}

int store_audit_result_parse(const char *name, enum store_audit_result *out)
{
	static const enum store_audit_result all[] = {STORE_AUDIT_SUCCESS, STORE_AUDIT_REFUSED, STORE_AUDIT_FAILED};
	for (size_t i = 0; i < RP_ARRAY_SIZE(all); i++)
		if (strcmp(name, store_audit_result_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}
