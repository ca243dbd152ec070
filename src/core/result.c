/* Result code texts and the errno -> result and result -> exit code mappings. */
#include "result.h"

#include <errno.h>
#include <stdio.h>

const char *sd_strerror(int result)
{
	static __thread char unknown[32];

	switch (result) {
	case SD_RES_SUCCESS:
		return "Success";
	case SD_RES_UNKNOWN:
		return "Unknown error";
	case SD_RES_NO_OBJ:
		return "No object found";
	case SD_RES_EIO:
		return "I/O error";
	case SD_RES_VDI_EXIST:
		return "VDI exists already";
	case SD_RES_INVALID_PARMS:
		return "Invalid parameters";
	case SD_RES_SYSTEM_ERROR:
		return "System error";
	case SD_RES_VDI_LOCKED:
		return "VDI is already locked";
	case SD_RES_NO_VDI:
		return "No VDI found";
	case SD_RES_NO_BASE_VDI:
		return "No base VDI found";
	case SD_RES_VDI_READ:
		return "Failed to read from requested VDI";
	case SD_RES_VDI_WRITE:
		return "Failed to write to requested VDI";
	case SD_RES_BASE_VDI_READ:
		return "Failed to read from base VDI";
	case SD_RES_BASE_VDI_WRITE:
		return "Failed to write to base VDI";
	case SD_RES_NO_TAG:
		return "Failed to find requested tag";
	case SD_RES_STARTUP:
		return "System is still booting";
	case SD_RES_VDI_NOT_LOCKED:
		return "VDI is not locked";
	case SD_RES_SHUTDOWN:
		return "System is shutting down";
	case SD_RES_NO_MEM:
		return "Out of memory on server";
	case SD_RES_FULL_VDI:
		return "Maximum number of VDIs reached";
	case SD_RES_VER_MISMATCH:
		return "Protocol version mismatch";
	case SD_RES_NO_SPACE:
		return "Server has no space for new objects";
	case SD_RES_WAIT_FOR_FORMAT:
		return "Waiting for cluster to be formatted";
	case SD_RES_WAIT_FOR_JOIN:
		return "Waiting for other nodes to join cluster";
	case SD_RES_JOIN_FAILED:
		return "Node has failed to join cluster";
	case SD_RES_HALT:
		return "IO has halted as there are not enough living nodes";
	case SD_RES_READONLY:
		return "Object is read-only";
	case SD_RES_NOT_FORMATTED:
		return "Cluster has not been formatted";
	case SD_RES_NOT_LEADER:
		return "Not the cluster's leader";
	case SD_RES_NO_STORE:
		return "Targeted backend store is not found";
	case SD_RES_NO_SUPPORT:
		return "Operation is not supported";
	}
	snprintf(unknown, sizeof(unknown), "Invalid error code %x", (unsigned)result);
	return unknown;
}

enum sd_result sd_result_from_errno(int neg_errno)
{
	switch (-neg_errno) {
	case 0:
		return SD_RES_SUCCESS;
	case ENOENT:
		return SD_RES_NO_OBJ;
	case EIO:
		return SD_RES_EIO;
	case EEXIST:
		return SD_RES_VDI_EXIST;
	case EINVAL:
	case ERANGE:
	case EOVERFLOW:
	case ENAMETOOLONG:
		return SD_RES_INVALID_PARMS;
	case ENOMEM:
		return SD_RES_NO_MEM;
	case ENOSPC:
	case EDQUOT:
		return SD_RES_NO_SPACE;
	case EROFS:
	case EPERM:
		return SD_RES_READONLY;
	case ESHUTDOWN:
		return SD_RES_SHUTDOWN;
	case EOPNOTSUPP:
		return SD_RES_NO_SUPPORT;
	default:
		return SD_RES_SYSTEM_ERROR;
	}
}

enum dog_exit dog_exit_from_result(int result)
{
	switch (result) {
	case SD_RES_SUCCESS:
		return EXIT_OK;
	case SD_RES_VDI_EXIST:
		return EXIT_EXISTS;
	case SD_RES_FULL_VDI:
	case SD_RES_NO_SPACE:
		return EXIT_FULL;
	case SD_RES_NO_VDI:
	case SD_RES_NO_OBJ:
	case SD_RES_NO_TAG:
	case SD_RES_NO_BASE_VDI:
		return EXIT_MISSING;
	case SD_RES_SYSTEM_ERROR:
	case SD_RES_SHUTDOWN:
	case SD_RES_WAIT_FOR_FORMAT:
	case SD_RES_WAIT_FOR_JOIN:
	case SD_RES_NOT_FORMATTED:
	case SD_RES_HALT:
	case SD_RES_NO_MEM:
	case SD_RES_VER_MISMATCH:
		return EXIT_SYSFAIL;
	default:
		return EXIT_FAIL;
	}
}
