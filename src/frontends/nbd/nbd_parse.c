/* NBD protocol parsing and request validation. */
#include "nbd_parse.h"

#include <errno.h>

#include "../../core/byteorder.h"

int nbd_parse_request(const uint8_t *buf, size_t len, struct nbd_request *req)
{
	if (len < NBD_REQUEST_SIZE)
		return 0;
	if (get_be32(buf) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	req->flags = get_be16(buf + 4);
	req->type = get_be16(buf + 6);
	req->cookie = get_be64(buf + 8);
	req->offset = get_be64(buf + 16);
	req->length = get_be32(buf + 24);
	return NBD_REQUEST_SIZE;
}

static bool in_range(const struct nbd_request *req, uint64_t size)
{
	return req->offset <= size && req->length <= size - req->offset;
}

int nbd_validate_request(const struct nbd_request *req, const struct nbd_export_caps *caps)
{
	uint16_t allowed = NBD_CMD_FLAG_FUA;

	switch (req->type) {
	case NBD_CMD_READ:
		if (caps->structured)
			allowed |= NBD_CMD_FLAG_DF;
		break;
	case NBD_CMD_WRITE_ZEROES:
		allowed |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
		break;
	case NBD_CMD_BLOCK_STATUS:
		allowed |= NBD_CMD_FLAG_REQ_ONE;
		break;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
	case NBD_CMD_FLUSH:
	case NBD_CMD_CACHE:
	case NBD_CMD_DISC:
		break;
	default:
		return NBD_EINVAL;
	}
	if (req->flags & ~allowed)
		return NBD_EINVAL;

	switch (req->type) {
	case NBD_CMD_READ:
		/*
		 * Over the advertised maximum block size is EINVAL by the protocol; EOVERFLOW is
		 * only for a DF read that cannot be sent in one chunk, which never happens here.
		 */
		if (req->length > NBD_MAX_PAYLOAD)
			return NBD_EINVAL;
		return in_range(req, caps->size) ? 0 : NBD_EINVAL;
	case NBD_CMD_WRITE:
		if (caps->read_only)
			return NBD_EPERM;
		if (req->length > NBD_MAX_PAYLOAD)
			return NBD_EINVAL;
		return in_range(req, caps->size) ? 0 : NBD_ENOSPC;
	case NBD_CMD_WRITE_ZEROES:
		if (caps->read_only)
			return NBD_EPERM;
		return in_range(req, caps->size) ? 0 : NBD_ENOSPC;
	case NBD_CMD_TRIM:
		if (caps->read_only)
			return NBD_EPERM;
		return in_range(req, caps->size) ? 0 : NBD_EINVAL;
	case NBD_CMD_CACHE:
		return in_range(req, caps->size) ? 0 : NBD_EINVAL;
	case NBD_CMD_BLOCK_STATUS:
		if (!caps->structured || !(caps->meta_base_allocation || caps->meta_dirty))
			return NBD_EINVAL;
		return in_range(req, caps->size) && req->length ? 0 : NBD_EINVAL;
	case NBD_CMD_FLUSH:
	case NBD_CMD_DISC:
		return req->offset || req->length ? NBD_EINVAL : 0;
	}
	return NBD_EINVAL;
}

int nbd_parse_option(const uint8_t *buf, size_t len, struct nbd_option *opt)
{
	if (len < NBD_OPTION_HDR_SIZE)
		return 0;
	if (get_be64(buf) != NBD_IHAVEOPT)
		return -EPROTO;
	opt->option = get_be32(buf + 8);
	opt->length = get_be32(buf + 12);
	return NBD_OPTION_HDR_SIZE;
}

int nbd_parse_go(const uint8_t *data, uint32_t len, struct nbd_go *go)
{
	uint32_t off;

	*go = (struct nbd_go){ 0 };
	if (len < 4)
		return -EINVAL;
	go->name_len = get_be32(data);
	if (go->name_len > NBD_MAX_STRING || go->name_len > len - 4 || len - 4 - go->name_len < 2)
		return -EINVAL;
	go->name = data + 4;
	off = 4 + go->name_len;
	go->nr_info = get_be16(data + off);
	off += 2;
	if ((uint32_t)go->nr_info * 2 != len - off)
		return -EINVAL;
	for (uint16_t i = 0; i < go->nr_info; i++) {
		switch (get_be16(data + off + 2u * i)) {
		case NBD_INFO_BLOCK_SIZE:
			go->want_block_size = true;
			break;
		case NBD_INFO_NAME:
			go->want_name = true;
			break;
		case NBD_INFO_DESCRIPTION:
			go->want_description = true;
			break;
		default:
			break; /* unknown requests are ignored */
		}
	}
	return 0;
}

int nbd_parse_meta_context(const uint8_t *data, uint32_t len, struct nbd_meta_query *q)
{
	uint32_t off, pos = 0, n = 0, slen;

	*q = (struct nbd_meta_query){ 0 };
	if (len < 4)
		return -EINVAL;
	q->name_len = get_be32(data);
	if (q->name_len > NBD_MAX_STRING || q->name_len > len - 4 || len - 4 - q->name_len < 4)
		return -EINVAL;
	q->name = data + 4;
	off = 4 + q->name_len;
	q->nr_queries = get_be32(data + off);
	off += 4;
	q->queries = data + off;
	q->queries_len = len - off;
	/* Walk once so that the iterator can trust every length. */
	while (pos < q->queries_len) {
		if (q->queries_len - pos < 4)
			return -EINVAL;
		slen = get_be32(q->queries + pos);
		if (slen > NBD_MAX_STRING || slen > q->queries_len - pos - 4)
			return -EINVAL;
		pos += 4 + slen;
		n++;
	}
	return n == q->nr_queries ? 0 : -EINVAL;
}

int nbd_meta_next_query(const struct nbd_meta_query *q, uint32_t *pos, const uint8_t **query,
			uint32_t *query_len)
{
	if (*pos >= q->queries_len)
		return 0;
	*query_len = get_be32(q->queries + *pos);
	*query = q->queries + *pos + 4;
	*pos += 4 + *query_len;
	return 1;
}

uint32_t nbd_errno_to_wire(int neg_errno)
{
	switch (-neg_errno) {
	case 0:
		return 0;
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case ENOTSUP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}
