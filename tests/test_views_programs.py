"""Random programs of views, aliases and in-place writes (tests/views_programs.py): adjoint
rejects each or differentiates it right, against central differences of the function."""

import pytest

from tests import views_programs

CASES = [(seed, "vectors") for seed in range(40)] + [(seed, "matrices") for seed in range(30)]


@pytest.mark.parametrize("seed, family", CASES)
def test_a_program_of_views_and_writes_is_rejected_or_right(seed, family, tmp_path):
    found = views_programs.check(seed, str(tmp_path), family)
    assert not found["wrong"], "\n".join(found["wrong"]) + "\n\n" + views_programs.source(seed, family)


def test_the_programs_exercise_both_outcomes(tmp_path):
    """Enough of them are accepted for the check to mean something (and enough rejected for
    the generator to reach the writes the views check is there for)."""
    for family in ("vectors", "matrices"):
        accepted = rejected = 0
        for seed in range(12):
            found = views_programs.check(seed, str(tmp_path), family)
            accepted += found["accepted"]
            rejected += found["rejected"]
        assert accepted >= 8 and rejected >= 8, (family, accepted, rejected)
