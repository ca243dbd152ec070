/* Ids of deleted VDIs of which nothing is left, kept across restarts (vdi_retired.c). */
#ifndef SD_VDI_RETIRED_H
#define SD_VDI_RETIRED_H

/* Rewrites the list from the VDI table (local driver without -R; otherwise nothing). */
void vdi_retired_save(void);
/* At start-up, after the inodes are loaded: the ids it lists stay used. 0 or -errno. */
int vdi_retired_load(void);
/* A format: every id is free again. */
void vdi_retired_forget(void);

#endif
