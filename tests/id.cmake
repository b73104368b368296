# SPIFFE ID module: unit tests and fuzz target.
cairn_unit(id)
cairn_fuzz(id)
