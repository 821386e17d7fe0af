"""The two AD transformations: `reverse` (Speelpenning's adjoint, with `tapes` for loops) and
`forward` (tangent code from the same rules)."""
