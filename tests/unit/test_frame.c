/* Control protocol framing: exact, truncated, oversized and garbage frames. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "frontends/ctl/ctl_frame.h"
#include "sheepdog.pb-c.h"

Test(frame, whole_frame)
{
	uint8_t buf[16] = { 0, 0, 0, 3, 'a', 'b', 'c', 9 };
	const uint8_t *p;
	uint32_t n;
	size_t used;

	cr_assert_eq(ctl_frame_parse(buf, 8, 1024, &p, &n, &used), CTL_FRAME_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(p, buf + 4);
	cr_assert_eq(used, 7, "the byte after the frame is the next frame's");
}

Test(frame, truncated_needs_more)
{
	uint8_t buf[8] = { 0, 0, 0, 5, 'a', 'b' };
	const uint8_t *p;
	uint32_t n;
	size_t need;

	for (size_t len = 0; len < 4; len++) {
		cr_assert_eq(ctl_frame_parse(buf, len, 1024, &p, &n, &need), CTL_FRAME_NEED_MORE);
		cr_assert_eq(need, 4);
	}
	cr_assert_eq(ctl_frame_parse(buf, 6, 1024, &p, &n, &need), CTL_FRAME_NEED_MORE);
	cr_assert_eq(need, 9);
}

Test(frame, oversized_is_refused_before_allocation)
{
	uint8_t buf[4] = { 0xff, 0xff, 0xff, 0xff };
	const uint8_t *p;
	uint32_t n;
	size_t used;

	cr_assert_eq(ctl_frame_parse(buf, 4, CTL_MAX_FRAME, &p, &n, &used), -EMSGSIZE);
	buf[0] = 0;
	buf[1] = (CTL_MAX_FRAME + 1) >> 16;
	buf[2] = (uint8_t)((CTL_MAX_FRAME + 1) >> 8);
	buf[3] = (uint8_t)(CTL_MAX_FRAME + 1);
	cr_assert_eq(ctl_frame_parse(buf, 4, CTL_MAX_FRAME, &p, &n, &used), -EMSGSIZE);
}

Test(frame, empty_payload_is_a_frame)
{
	uint8_t buf[4] = { 0 };
	const uint8_t *p;
	uint32_t n;
	size_t used;

	cr_assert_eq(ctl_frame_parse(buf, 4, 1024, &p, &n, &used), CTL_FRAME_OK);
	cr_assert_eq(n, 0);
	cr_assert_eq(used, 4);
}

Test(frame, header_round_trip)
{
	uint8_t hdr[4];
	const uint8_t *p;
	uint32_t n;
	size_t used;

	ctl_frame_header(hdr, 0x00123456);
	cr_assert_eq(hdr[0], 0x00);
	cr_assert_eq(hdr[3], 0x56);
	cr_assert_eq(ctl_frame_parse(hdr, 4, 0x00123456, &p, &n, &used), CTL_FRAME_NEED_MORE);
	cr_assert_eq(used, 4 + 0x00123456);
}

Test(frame, garbage_payload_does_not_decode)
{
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02 };
	Sdctl__Request *q = sdctl__request__unpack(NULL, sizeof(garbage), garbage);

	cr_assert_null(q);
}

Test(frame, request_round_trip)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT, *back;
	Sdctl__VdiNameReq name = SDCTL__VDI_NAME_REQ__INIT;
	uint8_t buf[128];
	size_t len;

	name.name = "vol0";
	req.version = CTL_PROTO_VERSION;
	req.op_case = SDCTL__REQUEST__OP_VDI_DELETE;
	req.vdi_delete = &name;
	len = sdctl__request__pack(&req, buf);
	back = sdctl__request__unpack(NULL, len, buf);
	cr_assert_not_null(back);
	cr_assert_eq(back->op_case, SDCTL__REQUEST__OP_VDI_DELETE);
	cr_assert_str_eq(back->vdi_delete->name, "vol0");
	/* No truncation of a valid request may crash the decoder (this matters under ASan). */
	for (size_t cut = 1; cut < len; cut++) {
		Sdctl__Request *t = sdctl__request__unpack(NULL, cut, buf);

		if (t)
			sdctl__request__free_unpacked(t, NULL);
	}
	sdctl__request__free_unpacked(back, NULL);
}
