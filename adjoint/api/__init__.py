"""The user-facing objects, built on `pipeline.differentiate`; no code generation here:
`gradient` (grad, value_and_grad, GradientFunction; its mixins `compiling`, `failures` and
`presented`), `compose` (jvp, vjp, jacobian, hvp, hessian), `batch` (its drivers' source in
`drivers`), `arguments` (checks and conversion), `cache` (what its key hashes in
`dependencies`)."""
