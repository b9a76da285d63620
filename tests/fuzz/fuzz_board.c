/* libFuzzer target: the board definition parser, then lookups on whatever it accepted. */
#include <stdint.h>
#include <stdlib.h>

#include "device/broker/board.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	struct board *b = board_parse((const char *)data, size, "fuzz", &err);
	if (!b)
		return 0;
	for (size_t i = 0; i < b->count; i++) {
		struct board_periph *p = &b->periphs[i];
		if (board_find_id(b, p->type, p->id) != p || board_find_manifest(b, p->type, p->manifest_value) != p)
			abort();
	}
	board_free(b);
	return 0;
}
