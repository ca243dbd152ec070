/*
 * Text checks on a serialized control request, before protobuf-c unpacks it. protobuf-c copies a
 * string field up to its first NUL and never looks at the encoding, so "ab\0cd" would reach the
 * cluster as "ab" and invalid UTF-8 as it came; proto3 requires strings to be UTF-8 anyway.
 */
#ifndef SD_CTL_STRINGS_H
#define SD_CTL_STRINGS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting deeper than this is refused: no request of the protocol comes close. */
#define CTL_STRINGS_MAX_DEPTH 16

/*
 * Walks buf[0..len) as a message of type desc, into every nested message field, and checks each
 * string field's bytes. Returns 0 when all are UTF-8 without NUL; -EILSEQ for one that is not,
 * or -ELOOP for messages nested deeper than CTL_STRINGS_MAX_DEPTH, with a message for the
 * operator naming the field in err. Bytes that are not a well-formed message are not judged
 * here (the walk stops and returns 0): the unpack that follows refuses them.
 */
int ctl_strings_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		      char *err, size_t errlen);

#endif
