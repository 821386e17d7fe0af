"""The README's benchmark summary table, generated from benchmarks/RESULTS.md.

    python benchmarks/readme_table.py           rewrite README.md between the two markers
    python benchmarks/readme_table.py --check   exit 1 when README.md differs from RESULTS.md

Only the full run's benchmarks/RESULTS.md is read: --quick figures never reach the README.
benchmarks/run.py calls main() after every full run (`make bench`), and
tests/test_readme_table.py fails when the committed README.md and RESULTS.md disagree.
Every figure is a cell or a sentence of RESULTS.md, its inverse ('0.35x' as '2.9x faster'),
or the quotient of two of its cells.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
README = HERE.parent / "README.md"
BEGIN = "<!-- results-table:begin"
END = "<!-- results-table:end -->"
BEGIN_LINE = (BEGIN + " (generated from benchmarks/RESULTS.md by "
              "`python benchmarks/readme_table.py`: do not edit by hand) -->")
HEADERS = ["workload", "adjoint gradient / primal", "adjoint / hand-written numba adjoint",
           "against peers (same process)"]
PEERS = ("jax", "torch", "autograd", "warp")
NONE = "—"


class Missing(LookupError):
    """A section, row or column the summary needs is not in RESULTS.md (a partial run)."""


# ---------------------------------------------------------------------------------------------
# parsing RESULTS.md: headings, their prose and their markdown tables

@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]

    def records(self):
        return [dict(zip(self.headers, row)) for row in self.rows]

    def get(self, label, column):
        """The cell in `column` of the first row whose first cell is `label`."""
        for record in self.records():
            if record[self.headers[0]] == label:
                if column not in record:
                    raise Missing(f"column {column!r}")
                return record[column]
        raise Missing(f"row {label!r}")


@dataclass
class Section:
    title: str                       # the heading without its #s ('' before the first one)
    parent: str = ""                 # the enclosing '## ' title of a '### ' section
    prose: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    @property
    def table(self):
        if not self.tables:
            raise Missing(f"a table in {self.title!r}")
        return self.tables[0]

    def find(self, pattern):
        """The first group of `pattern` searched in the section's prose, or Missing."""
        match = re.search(pattern, "\n".join(self.prose), re.MULTILINE)
        if match is None:
            raise Missing(f"{pattern!r} in {self.title!r}")
        return match.group(1)


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(text):
    """RESULTS.md as a list of Sections, in order."""
    sections, parent = [Section("")], ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"(#{1,3}) (.*)", line)
        if heading:
            level, title = len(heading.group(1)), heading.group(2).strip()
            parent = title if level <= 2 else parent
            sections.append(Section(title, parent if level == 3 else ""))
        elif line.startswith("|") and i + 1 < len(lines) and re.match(r"\|[\s|:-]+\|$",
                                                                        lines[i + 1].strip()):
            headers, rows = _cells(line), []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            sections[-1].tables.append(Table(headers, rows))
            continue
        elif line.strip():
            sections[-1].prose.append(line)
        i += 1
    return sections


def section(sections, prefix):
    for s in sections:
        if s.title.startswith(prefix):
            return s
    raise Missing(f"section {prefix!r}")


def subsections(sections, parent_prefix):
    """The '### ' sections under the '## ' section whose title starts with parent_prefix."""
    found = [s for s in sections if s.parent.startswith(parent_prefix)]
    if not found:
        raise Missing(f"section {parent_prefix!r}")
    return found


def ratio(cell):
    """'1.07x' -> 1.07; '-' (not measured) -> None."""
    return None if cell == "-" else float(cell.rstrip("x").replace(",", ""))


UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def seconds(cell):
    """'81.6 ns' -> 8.16e-08."""
    value, unit = cell.split()
    return float(value) * UNITS[unit]


# ---------------------------------------------------------------------------------------------
# the summary rows

def times(value, digits=3):
    """A factor rounded for prose: 1.04x, 2.9x (digits=2), 37x, 8,400x."""
    if value < 10:
        return f"{value:.{digits}g}x"
    if value < 100:
        return f"{value:.0f}x"
    return f"{float(f'{value:.2g}'):,.0f}x"


def versus(peer_over_adjoint, digits=3):
    """A peer's time / adjoint's time as '<factor> slower' or '<factor> faster'. RESULTS.md
    prints ratios with two decimals, so one below 1 has two significant digits at most."""
    if peer_over_adjoint is None:
        return "not timed"
    if peer_over_adjoint >= 1:
        return f"{times(peer_over_adjoint, digits)} slower"
    return f"{times(1 / peer_over_adjoint, 2)} faster"


def drop_note(label):
    """'vectorized (prod of exp)' -> 'vectorized': the trailing parenthesis is detail."""
    return re.sub(r" \(.*\)$", "", label)


def peer_phrase(table, column):
    """'jax 1.83x slower (vectorized) and 10x slower (lax.fori_loop), torch 16x slower' from
    the rows of `table` whose label names a peer; `column` holds peer time / adjoint time."""
    found = {}
    for record in table.records():
        label = record[table.headers[0]]
        name = re.match(r"[a-z]+", label)
        if name and name.group(0) in PEERS:
            wrong = " (WRONG gradient" in label
            label = label.split(" (WRONG gradient")[0]
            variant = drop_note(label.rsplit(", ", 1)[1]) if ", " in label else ""
            if wrong:          # a wrong gradient is no comparison: said, never timed against
                variant, value = f"{variant}: wrong gradient", None
            else:
                value = ratio(record[column])
            found.setdefault(name.group(0), []).append((value, variant))
    phrases = []
    for peer in (p for p in PEERS if p in found):
        # its fastest variant first (the fair comparison); one not timed ('-') last
        timed = sorted(found[peer], key=lambda rv: float("inf") if rv[0] is None else rv[0])
        phrases.append(f"{peer} " + " and ".join(
            (versus(r) + (f" ({variant})" if variant else "")) if not variant.endswith(
                "wrong gradient") else variant for r, variant in timed))
    return ", ".join(phrases) or "no peer installed"


def f4_rows(sections):
    s = section(sections, "f4 (seed")
    t, adjoint = s.table, "adjoint .adjoint (numba)"
    points = int(t.get(adjoint, "points"))
    peers = []
    autograd = "autograd.grad(f4) (Python loop)"
    try:
        per_point = seconds(t.get(autograd, "time per point (median)"))
        from_python = seconds(t.get("adjoint g(x) from Python (API call, checks args)",
                                    "time per point (median)"))
        in_loop = seconds(t.get(adjoint, "time per point (median)"))
        peers.append(f"autograd {versus(per_point / from_python)} than adjoint's g(x) from "
                     f"Python, {versus(per_point / in_loop)} than its njit loop")
    except Missing:
        peers.append("no peer installed")
    hand = (f"{t.get(adjoint, 'vs seed, scalar init')} (the seed's grad_f4 with scalar init; "
            f"{t.get(adjoint, 'vs seed verbatim')} the seed as written)")
    return [[f"f4, {points:,} points from an njit loop",
             f"{t.get(adjoint, 'vs primal (njit f4)')} (the primal allocates nothing)", hand,
             "; ".join(peers)]]


def loops_rows(sections):
    rows = []
    for s in subsections(sections, "Loops"):
        t, adjoint = s.table, "adjoint .adjoint"
        hand = t.get(adjoint, "/ hand-written")
        try:
            fast = s.find(r"with fastmath on both: adjoint/hand-written = ([0-9.]+x)")
            hand += f" ({fast} both with fastmath)"
        except Missing:
            pass
        peers = peer_phrase(t, "/ adjoint")
        try:
            parallel = ratio(t.get(f"{adjoint}, parallel", "/ adjoint"))
            peers += ("; against adjoint with jit_options parallel (all cores, "
                      f"{t.get(f'{adjoint}, parallel', '/ primal')} its primal): "
                      + peer_phrase(_over(t, "/ adjoint", parallel, "/ parallel"), "/ parallel"))
        except Missing:
            pass
        rows.append([s.title.split(":")[0], t.get(adjoint, "/ primal"), hand, peers])
    return rows


def _over(table, column, divisor, name):
    """`table` with a column `name`: `column`'s ratios divided by `divisor` (a peer's time
    over adjoint's, turned into a peer's time over another adjoint row's)."""
    at = table.headers.index(column)
    rows = [row + [f"{ratio(row[at]) / divisor:.2f}x" if ratio(row[at]) is not None else "-"]
            for row in table.rows]
    return Table(table.headers + [name], rows)


def arrays_rows(sections):
    return [[s.title.split(":")[0], s.table.get("adjoint", "gradient / primal"), NONE,
             peer_phrase(s.table, "gradient / adjoint's")]
            for s in subsections(sections, "Arrays")]


def batch_rows(sections):
    return [[f"{drop_note(s.title)} (batched, all cores)", NONE, NONE,
             peer_phrase(s.table, "/ adjoint batch")]
            for s in subsections(sections, "Batched")]


def short(workload):
    """'MLP loss w.r.t. W1 (64x128); X 512x64' -> 'MLP'."""
    return re.split(r",| w\.r\.t\.| loss", workload)[0]


def hvp_rows(sections):
    s = section(sections, "HVP time / gradient time")
    adjoint, jax = [], []
    for r in s.table.records():
        if r["tool"].startswith("adjoint: grad(f)(x)"):
            adjoint.append(f"{r['hvp / gradient']} ({short(r['workload'])})")
        elif r["tool"].startswith("jax"):
            jax.append(ratio(r["hvp / gradient"]))
    peers = f"jax's hvp / gradient {min(jax):.2f}-{max(jax):.2f}x" if jax else "no jax"
    # '- <workload>: adjoint/<jax variant>: gradient 13.11x, hvp 21.06x (paired).'
    paired = re.findall(r"^- (.+?): adjoint/(.+?): gradient [0-9.]+x, hvp ([0-9.]+x)",
                        "\n".join(s.prose), re.MULTILINE)
    if paired:
        peers += "; jax's hvp " + ", ".join(
            f"{versus(1 / ratio(hvp), 2)} ({short(w)}, {variant})" for w, variant, hvp in paired)
    return [["Hessian-vector product: hvp time / gradient time", ", ".join(adjoint), NONE,
             peers]]


ROWS = [f4_rows, loops_rows, arrays_rows, batch_rows, hvp_rows]


def provenance(sections):
    """One sentence on the run the figures come from (RESULTS.md's header and machine table)."""
    head = section(sections, "Benchmarks")
    machine = dict(row[:2] for row in head.table.rows)
    commit = machine.get("adjoint_commit", "?")
    commit = commit.split()[0] + (" with uncommitted changes" if "uncommitted" in commit else "")
    shared = ("other processes shared the machine, so rely on the ratios rather than on the "
              "absolute times" if "Other processes shared the machine" in "\n".join(head.prose)
              else "the machine was otherwise quiet")
    return (f"Figures from the run of {head.find(r'^Run (.+?)[.] ')} on "
            f"{machine.get('cpu_count', '?')} CPUs ({machine.get('cpu', '?')}), adjoint at "
            f"{commit}; {shared}. A peer that is *slower* takes longer than adjoint for the "
            "same gradient.")


def render(results_text):
    """The README region, marker lines included, for the text of RESULTS.md."""
    sections = parse(results_text)
    rows = []
    for build in ROWS:
        try:
            rows += build(sections)
        except Missing as missing:   # that benchmark was not part of the run
            rows.append([f"{build.__name__.split('_')[0]}: not in RESULTS.md ({missing})",
                         NONE, NONE, NONE])
    table = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    try:
        intro = provenance(sections)
    except Missing:
        intro = "RESULTS.md does not say which run it comes from."
    # blank lines around the table: a comment line right after it would end it early elsewhere
    return "\n".join([BEGIN_LINE, textwrap.fill(intro, 95), "", *table, "", END]) + "\n"


def replace_region(readme_text, region):
    """readme_text with the lines from the begin marker to the end marker replaced by region."""
    lines = readme_text.splitlines(keepends=True)
    begin = [i for i, line in enumerate(lines) if line.startswith(BEGIN)]
    end = [i for i, line in enumerate(lines) if line.startswith(END)]
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise ValueError(f"README.md needs exactly one {BEGIN} ... {END} region")
    return "".join(lines[:begin[0]]) + region + "".join(lines[end[0] + 1:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when README.md is out of date")
    args = parser.parse_args(argv)
    old = README.read_text()
    new = replace_region(old, render(RESULTS.read_text()))
    if args.check:
        if new != old:
            print("README.md's results table differs from benchmarks/RESULTS.md: run "
                  "python benchmarks/readme_table.py", file=sys.stderr)
            return 1
        return 0
    if new != old:
        README.write_text(new)
        print(f"updated the results table in {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
