/* Shared declarations of the dog CLI. */
#ifndef SD_DOG_H
#define SD_DOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sheepdog.pb-c.h"

/* Options common to every subcommand, and those some subcommands take. */
struct dog_opts {
	const char *addr;
	const char *port;
	bool raw;
	bool verbose;
	bool prealloc;
	bool force;
	bool exclusive;
	bool del;
	bool recycle_vid;
	bool strict;
	bool copies_set;
	bool local;	/* node kill -l */
	bool exist;	/* vdi check -e */
	bool index_set; /* vdi object location -i */
	uint32_t index;
	const char *snap; /* -s: a snapshot's tag or id */
	const char *from; /* -F: the older snapshot of an incremental backup */
	uint8_t copies;
	uint8_t copy_policy;
	const char *store;
	uint8_t block_size_shift;
};

extern struct dog_opts opts;
extern const char *dog_cmd_name; /* "vdi create": for messages */

struct subcommand {
	const char *name;
	const char *args;  /* positional arguments, for the usage line */
	const char *flags; /* short options this subcommand accepts besides a, p, h */
	const char *desc;
	const char *help; /* the Options: section of its --help, without the common ones */
	int min_args, max_args;
	int (*fn)(int argc, char **argv);
	const char *about; /* what it does, for its --help (optional) */
};

extern const struct subcommand cluster_cmds[], node_cmds[], vdi_cmds[];

/* client.c: one connection to a sheep, reused for all requests of a command. */
/* Sends req and returns the response (caller frees with sdctl__response__free_unpacked), or NULL
 * after printing why (the caller exits with EXIT_SYSFAIL). */
Sdctl__Response *dog_call(Sdctl__Request *req);
/*
 * Sends req to one node of the node list on a connection of its own (node info, node kill).
 * Returns the response, or NULL with why filled (nothing printed).
 */
Sdctl__Response *dog_call_node(const Sdctl__Node *n, Sdctl__Request *req, char *why, size_t len);
/* The node list of the sheep dog talks to (body node_list), or NULL with *ret set (printed). */
Sdctl__Response *dog_node_list(int *ret);
/*
 * dog_call, dog_result and dog_expect at once: the response with that body (the caller frees
 * it), or NULL with *ret the exit code (why is printed).
 */
Sdctl__Response *dog_call_expect(Sdctl__Request *req, const char *what,
				 Sdctl__Response__BodyCase body, int *ret);
/* Asks question on the terminal; true only for "yes". */
bool dog_confirm(const char *question);
/* Checks that a successful reply carries the expected body; else prints why, EXIT_SYSFAIL. */
int dog_expect(const Sdctl__Response *rsp, Sdctl__Response__BodyCase body);
/* If rsp failed, prints "<what>: <message>" and returns its exit code; else 0. */
int dog_result(const Sdctl__Response *rsp, const char *what);
/* cmd_vdi.c: dog vdi check NAME, its output included. */
int dog_vdi_check(const char *name);
/* "host:port" of a node of the node list. */
void host_port(const Sdctl__Node *n, char *buf, size_t len);
/* dog cluster check's last step: every node's objects that no VDI owns. */
int dog_report_orphans(void);
/* The vdi subcommands, one file per family (cmd_vdi*.c). */
int vdi_object_cmd(int argc, char **argv);
int vdi_object_map_cmd(const char *name);
int vdi_track_cmd(int argc, char **argv);
int vdi_read_cmd(int argc, char **argv);
int vdi_write_cmd(int argc, char **argv);
int vdi_snapshot_cmd(int argc, char **argv);
int vdi_clone_cmd(int argc, char **argv);
int vdi_rollback_cmd(int argc, char **argv);
int vdi_delete_cmd(int argc, char **argv);
int vdi_tree_cmd(int argc, char **argv);
int vdi_lock_cmd(int argc, char **argv);
int vdi_alter_copy_cmd(int argc, char **argv);
int vdi_backup_cmd(int argc, char **argv);
int vdi_restore_cmd(int argc, char **argv);
/* cmd_node.c: a recovery request without values (enable, disable) to the cluster. */
int dog_recovery_ctl(Sdctl__RecoveryCtlReq__What what, const char *fail_what);
/* Sends a request whose response has no body: returns 0 or the exit code (error printed). */
int dog_call_simple(Sdctl__Request *req, const char *what);
/* Fetches the information of one VDI, or prints an error. Returns 0 or an exit code. */
int dog_vdi_info(const char *name, Sdctl__Response **rsp);

/* Parsers shared by subcommands; both print their own error. */
int parse_size_arg(const char *s, uint64_t *out, const char *what);
int parse_copies(const char *s, uint8_t *copies, uint8_t *policy);

void format_copies(char *buf, size_t len, uint32_t copies, uint32_t policy);

#endif
