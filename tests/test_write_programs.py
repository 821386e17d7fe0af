"""Random programs of in-place writes: views, aliases, loops (tests/write_programs.py). adjoint
rejects each or differentiates it right, against central differences of the function."""

import pytest

from tests import write_programs

CASES = [(seed, "vectors") for seed in range(40)] + [(seed, "matrices") for seed in range(30)] \
    + [(seed, "loops") for seed in range(30)]


@pytest.mark.parametrize("seed, family", CASES)
def test_a_program_of_views_and_writes_is_rejected_or_right(seed, family, tmp_path):
    found = write_programs.check(seed, str(tmp_path), family)
    assert not found["wrong"], "\n".join(found["wrong"]) + "\n\n" + write_programs.source(seed, family)


def test_the_programs_exercise_both_outcomes(tmp_path):
    """Enough of them are accepted for the check to mean something (and enough rejected for
    the generator to reach the writes the views check is there for)."""
    for family in ("vectors", "matrices"):       # (the loops family is all accepted)
        accepted = rejected = 0
        for seed in range(12):
            found = write_programs.check(seed, str(tmp_path), family)
            accepted += found["accepted"]
            rejected += found["rejected"]
        assert accepted >= 8 and rejected >= 8, (family, accepted, rejected)
