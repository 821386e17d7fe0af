"""Make the adjoint lean: scalar passes run to a fixpoint by `passes.optimize` (folding, seed
propagation, first accumulations, copy forwarding) with dead-code elimination (`dce`), all
reading each statement's loads and writes from `summaries`; then the loop rewrites it schedules
(`allocate`, `carry`, `chunks`) and, last, `tidy` for the reader."""
