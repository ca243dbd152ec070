/*
 * The fixed-newstyle handshake as a pure state machine: it takes parsed options and writes
 * replies into a buffer; looking up and listing exports is left to callbacks. The connection code
 * does the socket I/O (and skips oversized options, answering NBD_REP_ERR_TOO_BIG itself).
 */
#ifndef SD_NBD_NEGOTIATE_H
#define SD_NBD_NEGOTIATE_H

#include <stdbool.h>
#include <stdint.h>

#include "nbd_buf.h"
#include "nbd_parse.h"

#define NBD_META_BASE_ALLOCATION_ID 1
#define NBD_META_DIRTY_BITMAP_ID    2
#define NBD_DIRTY_PREFIX	    "qemu:dirty-bitmap:"

struct nbd_export_info {
	uint64_t size;
	uint16_t tflags; /* transmission flags, NBD_FLAG_HAS_FLAGS included */
	uint32_t min_block, pref_block, max_block;
};

struct nbd_export_ops {
	/* Looks up name (a NUL-terminated copy). Returns 0, or -ENOENT with a reason in msg. */
	int (*lookup)(void *ctx, const char *name, struct nbd_export_info *info, char *msg,
		      size_t msglen);
	/* Calls emit once per export. */
	void (*list)(void *ctx, void (*emit)(void *arg, const char *name), void *arg);
	/*
	 * qemu:dirty-bitmap:FROM contexts of export name (a snapshot): whether from names an
	 * older snapshot of the same VDI (0, or -ENOENT), and the list of them (emit per FROM).
	 * NULL: the server offers none.
	 */
	int (*dirty_from)(void *ctx, const char *name, const char *from);
	void (*list_dirty)(void *ctx, const char *name, void (*emit)(void *arg, const char *from),
			   void *arg);

	void *ctx;
};

struct nbd_neg {
	bool no_zeroes;		   /* client flag NBD_FLAG_C_NO_ZEROES */
	bool structured;	   /* NBD_OPT_STRUCTURED_REPLY accepted */
	bool meta_base_allocation; /* base:allocation selected for meta_export */
	bool meta_dirty;	   /* qemu:dirty-bitmap:meta_dirty_from selected for it */
	char meta_dirty_from[NBD_MAX_STRING + 1];
	char meta_export[NBD_MAX_STRING + 1];
	/* Set when the result is NBD_NEG_TRANSMIT. */
	char export_name[NBD_MAX_STRING + 1];
	struct nbd_export_info info;
};

enum {
	NBD_NEG_CONTINUE, /* wait for the next option */
	NBD_NEG_TRANSMIT, /* send the buffer, then enter transmission with neg->export_name */
	NBD_NEG_CLOSE,	  /* send the buffer, then close */
};

/* The server's greeting (NBDMAGIC, IHAVEOPT, handshake flags). */
void nbd_neg_greeting(struct nbd_buf *out);
/* The client's 4-byte flags. Returns 0, or -EPROTO for unknown flags (close the connection). */
int nbd_neg_client_flags(struct nbd_neg *neg, const uint8_t buf[4]);
/* Handles one option (opt->length bytes of data, at most NBD_MAX_OPTION_LEN). */
int nbd_neg_option(struct nbd_neg *neg, const struct nbd_option *opt, const uint8_t *data,
		   struct nbd_buf *out, const struct nbd_export_ops *ops);
/* The reply to an option whose payload is too large (the caller discards the payload). */
void nbd_neg_too_big(const struct nbd_option *opt, struct nbd_buf *out);

#endif
