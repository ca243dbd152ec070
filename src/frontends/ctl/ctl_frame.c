/* Control protocol framing. */
#include "ctl_frame.h"

#include <errno.h>

#include "../../core/byteorder.h"

int ctl_frame_parse(const uint8_t *buf, size_t len, uint32_t max, const uint8_t **payload,
		    uint32_t *payload_len, size_t *consumed)
{
	uint32_t n;

	if (len < CTL_FRAME_HDR) {
		*consumed = CTL_FRAME_HDR;
		return CTL_FRAME_NEED_MORE;
	}
	n = get_be32(buf);
	if (n > max)
		return -EMSGSIZE;
	if (len - CTL_FRAME_HDR < n) {
		*consumed = CTL_FRAME_HDR + (size_t)n;
		return CTL_FRAME_NEED_MORE;
	}
	*payload = buf + CTL_FRAME_HDR;
	*payload_len = n;
	*consumed = CTL_FRAME_HDR + (size_t)n;
	return CTL_FRAME_OK;
}

void ctl_frame_header(uint8_t hdr[CTL_FRAME_HDR], uint32_t len)
{
	put_be32(hdr, len);
}
