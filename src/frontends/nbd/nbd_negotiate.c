/* Option haggling: LIST, INFO, GO, EXPORT_NAME, ABORT, STRUCTURED_REPLY, meta contexts. */
#include "nbd_negotiate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../core/byteorder.h"
#include "../../core/utf8.h"

static const char base_allocation[] = "base:allocation";

void nbd_neg_greeting(struct nbd_buf *out)
{
	nbd_buf_u64(out, NBD_MAGIC);
	nbd_buf_u64(out, NBD_IHAVEOPT);
	nbd_buf_u16(out, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

int nbd_neg_client_flags(struct nbd_neg *neg, const uint8_t buf[4])
{
	uint32_t flags = get_be32(buf);

	memset(neg, 0, sizeof(*neg));
	if (flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return -EPROTO;
	if (!(flags & NBD_FLAG_C_FIXED_NEWSTYLE))
		return -EPROTO; /* plain newstyle: we speak only fixed newstyle */
	neg->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	return 0;
}

static void reply(struct nbd_buf *out, uint32_t opt, uint32_t type, uint32_t len)
{
	nbd_buf_u64(out, NBD_OPT_REPLY_MAGIC);
	nbd_buf_u32(out, opt);
	nbd_buf_u32(out, type);
	nbd_buf_u32(out, len);
}

static void reply_err(struct nbd_buf *out, uint32_t opt, uint32_t type, const char *msg)
{
	size_t n = strlen(msg);

	reply(out, opt, type, (uint32_t)n);
	nbd_buf_put(out, msg, n);
}

void nbd_neg_too_big(const struct nbd_option *opt, struct nbd_buf *out)
{
	reply_err(out, opt->option, NBD_REP_ERR_TOO_BIG, "option payload too large");
}

/*
 * Copies a wire export name to a C string. Returns NULL, or why the name is refused: the protocol
 * makes every string UTF-8 without NUL, and a NUL would silently shorten the name.
 */
static const char *copy_name(char *dst, const uint8_t *src, uint32_t len)
{
	if (len > NBD_MAX_STRING)
		return "export name longer than 4096 bytes";
	if (memchr(src, 0, len))
		return "export name holds a NUL byte: "
		       "NBD export names are UTF-8 text without NUL";
	if (!utf8_valid(src, len))
		return "export name is not valid UTF-8: "
		       "NBD export names are UTF-8 text without NUL";
	memcpy(dst, src, len);
	dst[len] = '\0';
	return NULL;
}

/* Looks name up; on failure answers ERR_UNKNOWN with the reason and returns false. */
static bool lookup_or_refuse(const struct nbd_option *opt, const char *name,
			     struct nbd_export_info *info, struct nbd_buf *out,
			     const struct nbd_export_ops *ops)
{
	char msg[256] = "";

	if (!ops->lookup(ops->ctx, name, info, msg, sizeof(msg)))
		return true;
	reply_err(out, opt->option, NBD_REP_ERR_UNKNOWN, msg[0] ? msg : "no such export");
	return false;
}

/* Transmission starts on name; a meta context chosen for another export does not carry over. */
static int enter_transmission(struct nbd_neg *neg, const char *name,
			      const struct nbd_export_info *info)
{
	if (strcmp(neg->meta_export, name))
		neg->meta_base_allocation = neg->meta_dirty = false;
	snprintf(neg->export_name, sizeof(neg->export_name), "%s", name);
	neg->info = *info;
	return NBD_NEG_TRANSMIT;
}

struct list_ctx {
	struct nbd_buf *out;
};

static void emit_server(void *arg, const char *name)
{
	struct list_ctx *l = arg;
	uint32_t n = (uint32_t)strlen(name);

	reply(l->out, NBD_OPT_LIST, NBD_REP_SERVER, 4 + n);
	nbd_buf_u32(l->out, n);
	nbd_buf_put(l->out, name, n);
}

static void info_export(struct nbd_buf *out, uint32_t opt, const struct nbd_export_info *info)
{
	reply(out, opt, NBD_REP_INFO, 12);
	nbd_buf_u16(out, NBD_INFO_EXPORT);
	nbd_buf_u64(out, info->size);
	nbd_buf_u16(out, info->tflags);
}

static int do_info_go(struct nbd_neg *neg, const struct nbd_option *opt, const uint8_t *data,
		      struct nbd_buf *out, const struct nbd_export_ops *ops)
{
	struct nbd_go go;
	char name[NBD_MAX_STRING + 1];
	struct nbd_export_info info;
	const char *why;

	if (nbd_parse_go(data, opt->length, &go)) {
		reply_err(out, opt->option, NBD_REP_ERR_INVALID, "malformed INFO/GO request");
		return NBD_NEG_CONTINUE;
	}
	if ((why = copy_name(name, go.name, go.name_len))) {
		reply_err(out, opt->option, NBD_REP_ERR_INVALID, why);
		return NBD_NEG_CONTINUE;
	}
	if (!lookup_or_refuse(opt, name, &info, out, ops))
		return NBD_NEG_CONTINUE;
	info_export(out, opt->option, &info);
	if (go.want_name) {
		reply(out, opt->option, NBD_REP_INFO, 2 + go.name_len);
		nbd_buf_u16(out, NBD_INFO_NAME);
		nbd_buf_put(out, name, go.name_len);
	}
	/* Sent whether asked or not: clients ignore what they did not request. */
	reply(out, opt->option, NBD_REP_INFO, 14);
	nbd_buf_u16(out, NBD_INFO_BLOCK_SIZE);
	nbd_buf_u32(out, info.min_block);
	nbd_buf_u32(out, info.pref_block);
	nbd_buf_u32(out, info.max_block);
	reply(out, opt->option, NBD_REP_ACK, 0);
	if (opt->option == NBD_OPT_INFO)
		return NBD_NEG_CONTINUE;
	return enter_transmission(neg, name, &info);
}

struct meta_ctx {
	struct nbd_buf *out;
	uint32_t option;
};

static void emit_context(struct nbd_buf *out, uint32_t option, uint32_t id, const char *prefix,
			 const char *name)
{
	uint32_t a = (uint32_t)strlen(prefix), b = (uint32_t)strlen(name);

	reply(out, option, NBD_REP_META_CONTEXT, 4 + a + b);
	nbd_buf_u32(out, id);
	nbd_buf_put(out, prefix, a);
	nbd_buf_put(out, name, b);
}

static void emit_dirty(void *arg, const char *from)
{
	struct meta_ctx *m = arg;

	emit_context(m->out, m->option, NBD_META_DIRTY_BITMAP_ID, NBD_DIRTY_PREFIX, from);
}

static bool has_prefix(const uint8_t *s, uint32_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && !memcmp(s, p, n);
}

/*
 * LIST_META_CONTEXT and SET_META_CONTEXT: base:allocation, and on a snapshot's export
 * qemu:dirty-bitmap:FROM for each older snapshot FROM of the same VDI (nbd_cmd.c answers it).
 * LIST names what queries match ("base:", "qemu:", "qemu:dirty-bitmap:" match all of their
 * namespace); SET selects base:allocation and at most one dirty bitmap.
 */
static int do_meta(struct nbd_neg *neg, const struct nbd_option *opt, const uint8_t *data,
		   struct nbd_buf *out, const struct nbd_export_ops *ops)
{
	bool set = opt->option == NBD_OPT_SET_META_CONTEXT;
	struct meta_ctx m = { out, opt->option };
	struct nbd_meta_query q;
	char name[NBD_MAX_STRING + 1], from[NBD_MAX_STRING + 1] = "";
	struct nbd_export_info info;
	const uint8_t *s;
	uint32_t pos = 0, len;
	bool base = false, all_dirty = false, dirty = false;
	const char *why;

	if (set && !neg->structured) {
		reply_err(out, opt->option, NBD_REP_ERR_INVALID,
			  "negotiate structured replies before SET_META_CONTEXT");
		return NBD_NEG_CONTINUE;
	}
	if (nbd_parse_meta_context(data, opt->length, &q)) {
		reply_err(out, opt->option, NBD_REP_ERR_INVALID, "malformed meta context request");
		return NBD_NEG_CONTINUE;
	}
	if ((why = copy_name(name, q.name, q.name_len))) {
		reply_err(out, opt->option, NBD_REP_ERR_INVALID, why);
		return NBD_NEG_CONTINUE;
	}
	if (!lookup_or_refuse(opt, name, &info, out, ops))
		return NBD_NEG_CONTINUE;
	if (q.nr_queries == 0 && !set)
		base = all_dirty = true; /* LIST with no query lists everything */
	while (nbd_meta_next_query(&q, &pos, &s, &len)) {
		uint32_t plen = sizeof(NBD_DIRTY_PREFIX) - 1;

		if (len == sizeof(base_allocation) - 1 && !memcmp(s, base_allocation, len)) {
			base = true;
		} else if (!set && len == 5 && !memcmp(s, "base:", 5)) {
			base = true;
		} else if (!set && ((len == 5 && !memcmp(s, "qemu:", 5)) ||
				    (len == plen && has_prefix(s, len, NBD_DIRTY_PREFIX)))) {
			all_dirty = true;
		} else if (has_prefix(s, len, NBD_DIRTY_PREFIX) && len > plen && !dirty &&
			   ops->dirty_from && !copy_name(from, s + plen, len - plen) &&
			   !ops->dirty_from(ops->ctx, name, from)) {
			dirty = true;
		}
	}
	if (set) {
		neg->meta_base_allocation = base;
		neg->meta_dirty = dirty;
		snprintf(neg->meta_dirty_from, sizeof(neg->meta_dirty_from), "%s",
			 dirty ? from : "");
		snprintf(neg->meta_export, sizeof(neg->meta_export), "%s", name);
	}
	if (base)
		emit_context(out, opt->option, NBD_META_BASE_ALLOCATION_ID, base_allocation, "");
	if (all_dirty && ops->list_dirty)
		ops->list_dirty(ops->ctx, name, emit_dirty, &m);
	else if (dirty)
		emit_dirty(&m, from);
	reply(out, opt->option, NBD_REP_ACK, 0);
	return NBD_NEG_CONTINUE;
}

int nbd_neg_option(struct nbd_neg *neg, const struct nbd_option *opt, const uint8_t *data,
		   struct nbd_buf *out, const struct nbd_export_ops *ops)
{
	char name[NBD_MAX_STRING + 1], msg[256] = "";
	struct nbd_export_info info;
	struct list_ctx l = { out };

	switch (opt->option) {
	case NBD_OPT_EXPORT_NAME:
		/* No way to send an error here: an unknown export closes the connection. */
		if (copy_name(name, data, opt->length) ||
		    ops->lookup(ops->ctx, name, &info, msg, sizeof(msg)))
			return NBD_NEG_CLOSE;
		nbd_buf_u64(out, info.size);
		nbd_buf_u16(out, info.tflags);
		if (!neg->no_zeroes)
			nbd_buf_zero(out, 124);
		return enter_transmission(neg, name, &info);
	case NBD_OPT_ABORT:
		reply(out, opt->option, NBD_REP_ACK, 0);
		return NBD_NEG_CLOSE;
	case NBD_OPT_LIST:
		if (opt->length) {
			reply_err(out, opt->option, NBD_REP_ERR_INVALID, "LIST takes no data");
			return NBD_NEG_CONTINUE;
		}
		ops->list(ops->ctx, emit_server, &l);
		reply(out, opt->option, NBD_REP_ACK, 0);
		return NBD_NEG_CONTINUE;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return do_info_go(neg, opt, data, out, ops);
	case NBD_OPT_STRUCTURED_REPLY:
		if (opt->length) {
			reply_err(out, opt->option, NBD_REP_ERR_INVALID,
				  "STRUCTURED_REPLY takes no data");
			return NBD_NEG_CONTINUE;
		}
		neg->structured = true;
		reply(out, opt->option, NBD_REP_ACK, 0);
		return NBD_NEG_CONTINUE;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return do_meta(neg, opt, data, out, ops);
	case NBD_OPT_STARTTLS:
		reply_err(out, opt->option, NBD_REP_ERR_POLICY,
			  "TLS is not supported by this server");
		return NBD_NEG_CONTINUE;
	default:
		reply_err(out, opt->option, NBD_REP_ERR_UNSUP, "unknown option");
		return NBD_NEG_CONTINUE;
	}
}
