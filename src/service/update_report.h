/* The update-status report a device sends (docs/protocol.md "Update delivery", status report
 * version 1): a strict check of untrusted JSON and the normalised document the service stores. */
#pragma once

#include <jansson.h>
#include "common/error.h"

#define UPDATE_REPORT_IMAGES_MAX 256
#define UPDATE_REPORT_TEXT_MAX 1024
/* The largest stored status document (its JSON text) the service reads back; a report whose
 * document would be larger is refused before it is stored, so what is stored stays readable. */
#define UPDATE_REPORT_STORED_MAX (256 * 1024)

/* Check BODY (a parsed JSON object) as DEVICE_ID's report; on success return the document to
 * store (a new reference), else NULL with RP_E_INVALID or RP_E_LIMIT naming the bad field. */
json_t *update_report_check(json_t *body, const char *device_id, rp_error *err);
