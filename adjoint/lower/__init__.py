"""Target-specific rewrites and the single printer: numpy calls numba compiles poorly (`numba`),
the allocation-free device variant (`device`), gast to source (`emit`, `unparse`)."""
