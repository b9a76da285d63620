/* applibs storage: the app's mutable storage file ("MutableStorage" capability) and read-only
 * files of its image package. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* Open (creating if needed) the mutable storage file read-write; -1 with errno (EPERM when the app
 * has no mutable storage). Writes past the SizeKB quota fail with ENOSPC or EDQUOT. */
int Storage_OpenMutableFile(void);
int Storage_DeleteMutableFile(void);
/* Open a file of the image package read-only; RELATIVE_PATH must not be absolute or contain "..". */
int Storage_OpenFileInImagePackage(const char *relativePath);
/* Absolute path of a package file (malloc'd; free it), or NULL with errno. */
char *Storage_GetAbsolutePathInImagePackage(const char *relativePath);

#ifdef __cplusplus
}
#endif
