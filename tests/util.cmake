# util, err, log, buf, b64, pem: unit tests and fuzz targets.
cairn_unit(util)
cairn_fuzz(pem)
