"""User source to the normalized grammar: `parse` (source, positions, callees resolved),
`validate` (the one place user syntax is rejected; `views`: no in-place write into memory another
name sees), `normalize` (three-address form, helpers inlined) with `structure` (one return, loop
exits as flags)."""
