/* libFuzzer target: the result message an agent worker (rampart-agent-work) sends rampart-agent.
 * A worker runs the network-facing code, so the daemon treats its bytes as untrusted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device/agent/agent_worker_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct agent_worker_result res;
	rp_error err = RP_ERROR_INIT;
	if (agent_worker_msg_parse(data, size, &res, &err) == 0) {
		rp_buf b;
		rp_buf_init(&b);
		agent_worker_msg_encode(&res, &b);
		if (b.len != size || memcmp(b.data, data, size) != 0)
			abort(); /* accepted a message that does not re-encode identically */
		rp_buf_free(&b);
		if (strlen(res.reason) > AGENT_WORKER_REASON_MAX || strlen(res.device_id) > AGENT_WORKER_DEVICE_ID_MAX)
			abort();
	}
	return 0;
}
