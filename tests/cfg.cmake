# cfg: unit tests (HCL subset parser, getters, unused keys, limits) and a
# fuzz target (parse, walk, getters, unused check, print and re-parse).
cairn_unit(cfg)
cairn_fuzz(cfg)
