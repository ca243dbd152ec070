/*
 * The garbage sweep: this node's objects that nothing can use any more are removed in the
 * background, a directory batch per tick of the control thread. Deletes, copy-ups and TRIMs
 * free what they stop naming at once (vdi_reclaim.h); the sweep catches what those cannot see:
 *
 * - copies of objects freed while this node was away and that it learnt of from a state
 *   snapshot rather than the commands themselves;
 * - objects a write created in a VDI that a snapshot froze before the write could record them
 *   (the write then went to the new working VDI): a snapshot's map never changes again, so an
 *   object of it that no live map names is garbage;
 * - leftovers of interrupted removals.
 *
 * An object is garbage when its VDI is deleted or a snapshot, and no live VDI's map names it;
 * an inode or attribute object when its VDI is deleted and no live map names any of its
 * objects. Objects of a working VDI, or of a VDI this node does not know, are never touched.
 * The sweep runs a while after each kick, and every SWEEP_PERIOD_S anyway.
 */
#ifndef SD_OBJ_SWEEP_H
#define SD_OBJ_SWEEP_H

struct evloop;

#define SWEEP_PERIOD_S 600
#define SWEEP_DELAY_MS 2000 /* after a kick: changes that come in bursts are swept once */

void obj_sweep_start(struct evloop *loop);
/* Control thread: something may have left garbage; a sweep runs soon. */
void obj_sweep_kick(void);
void obj_sweep_stop(void);

#endif
