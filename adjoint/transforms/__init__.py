"""The two AD transformations: `reverse` (Speelpenning's adjoint, with `tapes` for loops,
`checkpoints` for loops under a snapshot budget and `stored` for the costly intermediates a
loop keeps) and `forward` (tangent code from the same rules)."""
