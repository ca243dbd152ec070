/*
 * Result codes of the control protocol (the original sheepdog's SD_RES_* numbers) and the one
 * mapping from the daemon's internal negative errno values to them.
 */
#ifndef SD_RESULT_H
#define SD_RESULT_H

enum sd_result {
	SD_RES_SUCCESS = 0x00,
	SD_RES_UNKNOWN = 0x01,
	SD_RES_NO_OBJ = 0x02,
	SD_RES_EIO = 0x03,
	SD_RES_VDI_EXIST = 0x04,
	SD_RES_INVALID_PARMS = 0x05,
	SD_RES_SYSTEM_ERROR = 0x06,
	SD_RES_VDI_LOCKED = 0x07,
	SD_RES_NO_VDI = 0x08,
	SD_RES_NO_BASE_VDI = 0x09,
	SD_RES_VDI_READ = 0x0A,
	SD_RES_VDI_WRITE = 0x0B,
	SD_RES_BASE_VDI_READ = 0x0C,
	SD_RES_BASE_VDI_WRITE = 0x0D,
	SD_RES_NO_TAG = 0x0E,
	SD_RES_STARTUP = 0x0F,
	SD_RES_VDI_NOT_LOCKED = 0x10,
	SD_RES_SHUTDOWN = 0x11,
	SD_RES_NO_MEM = 0x12,
	SD_RES_FULL_VDI = 0x13,
	SD_RES_VER_MISMATCH = 0x14,
	SD_RES_NO_SPACE = 0x15,
	SD_RES_WAIT_FOR_FORMAT = 0x16,
	SD_RES_WAIT_FOR_JOIN = 0x17,
	SD_RES_JOIN_FAILED = 0x18,
	SD_RES_HALT = 0x19,
	SD_RES_READONLY = 0x1A,
	SD_RES_NOT_FORMATTED = 0x83,
	SD_RES_NOT_LEADER = 0xA0, /* between sheep (not in the original): ask the Raft leader */
	SD_RES_NO_STORE = 0x8A,
	SD_RES_NO_SUPPORT = 0x8B,
};

/* The text the original dog prints for a result code. */
const char *sd_strerror(int result);

/* Maps a negative errno from the daemon's internals to a result code. */
enum sd_result sd_result_from_errno(int neg_errno);

/* dog's exit codes (the original's include/exits.h). */
enum dog_exit {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_SYSFAIL = 2,
	EXIT_EXISTS = 3,
	EXIT_FULL = 4,
	EXIT_MISSING = 5,
	EXIT_USAGE = 64,
};

/* The dog exit code for a failed request's result. */
enum dog_exit dog_exit_from_result(int result);

#endif
