"""The user-facing objects, built on `pipeline.differentiate`; no code generation here:
`gradient` (grad, value_and_grad, GradientFunction), `compose` (jvp, vjp, jacobian, hvp,
hessian), `batch`, `arguments` (checks and conversion), `failures`, `cache`."""
