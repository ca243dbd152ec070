/* Limits and defaults shared by sheep, dog and the tests. Values follow the original sheepdog. */
#ifndef SD_CONSTANTS_H
#define SD_CONSTANTS_H

#include <stdint.h>

#define SD_VERSION		  "0.1.0"
#define SD_LISTEN_PORT		  7000
#define SD_NBD_PORT		  10809
#define SD_DEFAULT_COPIES	  3
#define SD_MAX_COPIES		  31
#define SD_EC_MAX_STRIP		  16
#define SD_DEFAULT_VNODES	  128
#define SD_MAX_VNODES		  65535
#define SD_NR_VDIS		  (1U << 24)
#define SD_MAX_VDI_LEN		  256 /* bytes of the name field, NUL included */
#define SD_MAX_VDI_TAG_LEN	  256
#define SD_MAX_VDI_ATTR_KEY_LEN	  256
#define SD_MAX_VDI_ATTR_VALUE_LEN 65536
#define SD_DEFAULT_BLOCK_SHIFT	  22 /* 4 MiB data objects */
#define SD_MIN_BLOCK_SHIFT	  20
#define SD_MAX_BLOCK_SHIFT	  31
#define SD_DATA_OBJ_SIZE	  (UINT64_C(1) << SD_DEFAULT_BLOCK_SHIFT)
#define SD_INODE_DATA_INDEX	  (UINT32_C(1) << 20) /* entries of the data object map */
#define SD_MAX_NODES		  6144

#endif
