/* shared/src/store_int.h - store internals for white-box tests. Never
 * installed, never included outside shared/src and tests/unit. */
#ifndef CAIRN_STORE_INT_H
#define CAIRN_STORE_INT_H

#include "cairn/store.h"

/* Like cairn_store_open() but applies migration steps only up to
 * `version` (1..CAIRN_STORE_SCHEMA_VERSION), so tests can build a database
 * as an older Cairn left it and check the upgrade path. Calls whose tables
 * do not exist yet fail with CAIRN_ERR_DB. */
int cairn__store_open_version(const char *path, int version,
                              struct cairn_store **out);

#endif
