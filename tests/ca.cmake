# ca: unit tests of the CA manager (rotation with a fake clock, journal,
# key managers, upstream disk + callback, signing). Uses the openssl CLI
# for one cross-check of an upstream-signed chain.
cairn_unit(ca)
