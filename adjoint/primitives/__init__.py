"""What adjoint knows about each primitive: the derivative table (`rules`), the machinery that
registers and instantiates rules (`registry`), and the helpers emitted code calls (`runtime`)."""
