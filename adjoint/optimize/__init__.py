"""Make the adjoint lean: scalar passes and dead-code elimination to a fixpoint (`passes`), then
the loop rewrites it schedules (`allocate`, `carry`, `chunks`)."""
