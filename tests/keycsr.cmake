# key, csr: unit tests and fuzz targets.
cairn_unit(key)
cairn_unit(csr)
cairn_fuzz(csr)
cairn_fuzz(keyimport)
