/*
 * Fuzz target for the control protocol's framing and request decoding. With clang and
 * -Dfuzzing=true it is a libFuzzer target; otherwise fuzz_replay.c drives it over a corpus and
 * random inputs, so every build exercises it.
 */
#include <stddef.h>
#include <stdint.h>

#include "frontends/ctl/ctl_frame.h"
#include "sheepdog.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		const uint8_t *payload;
		uint32_t len;
		size_t used;
		int ret = ctl_frame_parse(data + off, size - off, CTL_MAX_FRAME, &payload, &len,
					  &used);
		Sdctl__Request *req;

		if (ret != CTL_FRAME_OK)
			break;
		req = sdctl__request__unpack(NULL, len, payload);
		if (req)
			sdctl__request__free_unpacked(req, NULL);
		off += used;
	}
	return 0;
}
