/* The NBD export (`sheep --nbd`): every VDI is an export named after it. */
#ifndef SD_NBD_SERVER_H
#define SD_NBD_SERVER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Control thread, once the shards run: listens on addr:port (port 0: no TCP) and on socket_path
 * (NULL: none), and starts accepting on shard 0, which deals connections out to the shards in
 * turn. Returns 0, or -errno with err filled for the operator.
 */
int nbd_server_start(const char *addr, uint16_t port, const char *socket_path, char *err,
		     size_t errlen);

/*
 * Control thread, at shut-down: stops accepting, closes every connection and waits (bounded) for
 * their requests to end, calling pump meanwhile so that work they wait on keeps moving.
 */
void nbd_server_stop(void (*pump)(void));

#endif
