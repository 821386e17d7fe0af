"""The `# Analyzing the line: "..."` comments that head the reverse sweep's blocks: one per
run of blocks from the same user line (most user lines are several normalized statements,
whose blocks follow each other), built only where kept.
"""

from __future__ import annotations

import gast

from ..ir import annotations, nodes


def line_text(stmt) -> str:
    return annotations.get(stmt, "source_text") or ""


def marked(comment):
    annotations.set(comment, "block_head", True)
    return comment


def regrouped(head, grouped):
    """group_comments(head + grouped) where `grouped` is grouped already: only its first
    comment or compound statement may change (the state of the grouping is the same after it
    whatever came before)."""
    for k, stmt in enumerate(grouped):
        kind = type(stmt)
        if kind is gast.AugAssign or kind is gast.Assign:
            continue
        if nodes.is_comment(stmt) and annotations.get(stmt, "block_head") \
                or not nodes.is_comment(stmt) and isinstance(stmt, (gast.If, gast.For, gast.While)):
            return group_comments(head + grouped[:k + 1]) + grouped[k + 1:]
    return group_comments(head + grouped)


class LineHead:
    """The `# Analyzing the line` comment that heads the reverse block of `stmt`, made by
    group_comments where it keeps it: most user lines are several normalized statements,
    whose blocks follow each other, and only the first block keeps its comment."""
    __slots__ = ("stmt", "key")

    def __init__(self, stmt):
        self.stmt = stmt
        # the comment's own key (group_comments): its text, file and line (nodes.located's)
        self.key = (f'Analyzing the line: "{line_text(stmt)}"', annotations.get(stmt, "source_file"),
                    stmt.__dict__.get("lineno"))

    def comment(self):
        return marked(nodes.comment(self.key[0], self.stmt))


def group_comments(stmts):
    """One `# Analyzing the line` per run of blocks from the same user line (a LineHead
    becomes its comment where it is kept)."""
    out, last = [], None
    for stmt in stmts:
        kind = type(stmt)
        if kind is gast.AugAssign or kind is gast.Assign:    # most: passed on
            out.append(stmt)
            continue
        if kind is LineHead:
            if stmt.key != last:
                last = stmt.key
                out.append(stmt.comment())
            continue
        if nodes.is_comment(stmt) and annotations.get(stmt, "block_head"):
            key = (stmt.value.value, annotations.get(stmt, "source_file"), stmt.lineno)
            if key == last:
                continue
            last = key
        elif not nodes.is_comment(stmt) and isinstance(stmt, (gast.If, gast.For, gast.While)):
            last = None
        out.append(stmt)
    return out
