/* Execution of one control request (on the control thread). */
#ifndef SD_CTL_OPS_H
#define SD_CTL_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A request that is answered later: a change of an sdcluster cluster waits for Raft, and the
 * control thread must not. The server owns the call and sets answer and conn; the operation
 * calls answer(call, frame, len) exactly once with the framed response (frame is valid during
 * the call only). The server clears conn when the connection closes first; answer then frees
 * the call.
 */
struct ctl_call {
	void (*answer)(struct ctl_call *call, const uint8_t *frame, size_t len);
	void *conn;
};

/*
 * Handles the protobuf payload of one request frame and appends the framed response to *out
 * (a malloc'ed buffer of *out_len bytes, grown as needed; the caller owns it). Returns 0; 1 when
 * the answer comes later through call; or -1 if the payload is not a Request (the connection
 * must then be closed).
 */
int ctl_handle(const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len, size_t *out_cap,
	       struct ctl_call *call);

/*
 * About how many bytes the framed reply to this request frame will take (a read's data, a list
 * of every VDI): the server reserves them in its memory budget before running the request.
 */
size_t ctl_reply_bound(const uint8_t *payload, size_t len);

/*
 * True once a `cluster shutdown` (local driver) or a `node kill` was accepted: the server stops
 * after sending replies.
 */
bool ctl_shutdown_requested(void);

#endif
