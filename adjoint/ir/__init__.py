"""The shared vocabulary of every stage: building nodes (`nodes`), walking and copying trees
quickly (`trees`), deterministic fresh names (`names`) and the normalized grammar the later
stages rely on (`grammar`). Imports nothing else from the package but `errors`."""
