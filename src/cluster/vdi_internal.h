/* Helpers shared by the VDI operation files; not for use outside src/cluster. */
#ifndef SD_VDI_INTERNAL_H
#define SD_VDI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/byteorder.h"
#include "vdi.h"

#define VDI_PREALLOC_BATCH 64
#define VDI_REMOVE_BATCH   128

/* Writes map[first..last] of v to its inode object, durably. Returns 0 or -errno. */
int vdi_write_map_range(struct vdi *v, uint32_t first, uint32_t last);
/* Fills err from a negative errno and returns the matching SD_RES (EIO or NO_SPACE). */
int vdi_fail_errno(int neg_errno, char *err, size_t errlen, const char *what);
/* Checks copies / an EC policy against the cluster's zones. Returns an SD_RES code. */
int vdi_check_redundancy(uint8_t copies, uint8_t copy_policy, char *err, size_t errlen);
/* Removes objects in batches; returns how many failed (they are logged). */
int vdi_remove_objects(const uint64_t *oids, size_t n);

#endif
