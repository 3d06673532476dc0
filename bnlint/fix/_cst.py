"""Argument-list surgery on libcst ``Call`` nodes that keeps the user's layout.

A call's layout lives in the whitespace libcst attaches to each argument: the
``comma`` after it (with the comment that ends its line, if any) and, for the
last argument, ``whitespace_after_arg`` (what stands before the closing
parenthesis). These helpers add, drop and re-order arguments while keeping

- each argument's own end-of-line comment with that argument,
- the indentation of one-argument-per-line calls,
- a trailing comma (or its absence) and whatever precedes the ``)``.

Only libcst and the stdlib: no torch.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

_NO_SPACE = cst.SimpleWhitespace("")
_SPACE = cst.SimpleWhitespace(" ")


def keyword_arg(name: str, value: cst.BaseExpression) -> cst.Arg:
    """``name=value`` written the PEP 8 way (no spaces around ``=``)."""
    return cst.Arg(
        value=value,
        keyword=cst.Name(name),
        equal=cst.AssignEqual(whitespace_before=_NO_SPACE, whitespace_after=_NO_SPACE),
    )


def _line_break(ws: cst.BaseParenthesizableWhitespace | None) -> cst.ParenthesizedWhitespace | None:
    """The line break and indentation in ``ws``, without its comment and the
    comment lines that follow it: the separator one argument per line uses."""
    if not isinstance(ws, cst.ParenthesizedWhitespace):
        return None
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(), empty_lines=[], indent=ws.indent, last_line=ws.last_line
    )


def _separator(call: cst.Call) -> cst.ParenthesizedWhitespace | None:
    """How this call separates its arguments when it puts one per line: the
    whitespace after an inner comma, else after the ``(``. None for a call
    written on one line (a new argument then goes on the last argument's line)."""
    args = call.args
    if len(args) >= 2 and isinstance(args[-2].comma, cst.Comma):
        return _line_break(args[-2].comma.whitespace_after)
    if len(args) == 1 and isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        return _line_break(call.whitespace_before_args)
    return None


def _tail(arg: cst.Arg) -> cst.BaseParenthesizableWhitespace:
    """What follows the last argument up to the ``)``: after its trailing
    comma if it has one, else after the argument itself."""
    return arg.comma.whitespace_after if isinstance(arg.comma, cst.Comma) else arg.whitespace_after_arg


def _end_line(
    comment_from: cst.BaseParenthesizableWhitespace, sep: cst.ParenthesizedWhitespace
) -> cst.ParenthesizedWhitespace:
    """A line break after an argument that keeps the argument's end-of-line
    comment (from ``comment_from``) and continues with ``sep``'s indentation."""
    first = comment_from.first_line if isinstance(comment_from, cst.ParenthesizedWhitespace) else cst.TrailingWhitespace()
    return sep.with_changes(first_line=first)


def _closing(tail: cst.BaseParenthesizableWhitespace) -> cst.BaseParenthesizableWhitespace:
    """``tail`` (what stood before the ``)``) without the end-of-line comment
    that belonged to the argument it followed."""
    if isinstance(tail, cst.ParenthesizedWhitespace):
        return tail.with_changes(first_line=cst.TrailingWhitespace())
    return tail


def append_arg(call: cst.Call, new: cst.Arg) -> cst.Call:
    """``call`` with ``new`` as its last argument, laid out like the others."""
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    sep = _separator(call)
    tail = _tail(last)
    trailing_comma = isinstance(last.comma, cst.Comma)
    if sep is None:
        # One line: `, new` right after the last argument; the last
        # argument's trailing comma, comment and closing whitespace move
        # after the new one, so a comment stays on its line.
        args[-1] = last.with_changes(
            comma=cst.Comma(whitespace_before=_NO_SPACE, whitespace_after=_SPACE),
            whitespace_after_arg=_NO_SPACE,
        )
        args.append(new.with_changes(comma=last.comma, whitespace_after_arg=last.whitespace_after_arg))
        return call.with_changes(args=args)
    # One argument per line: the old last argument keeps its comment and
    # ends its line like the others; the new one takes the closing layout.
    before = last.comma.whitespace_before if trailing_comma else _NO_SPACE
    args[-1] = last.with_changes(
        comma=cst.Comma(whitespace_before=before, whitespace_after=_end_line(tail, sep)),
        whitespace_after_arg=last.whitespace_after_arg if trailing_comma else _NO_SPACE,
    )
    closing = _closing(tail)
    if trailing_comma:
        new = new.with_changes(comma=cst.Comma(whitespace_before=_NO_SPACE, whitespace_after=closing))
    else:
        new = new.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=closing)
    args.append(new)
    return call.with_changes(args=args)


def prepend_arg(call: cst.Call, new: cst.Arg) -> cst.Call:
    """``call`` with ``new`` as its first argument, laid out like the others."""
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new])
    first = args[0]
    sep = None
    if isinstance(first.comma, cst.Comma):
        sep = _line_break(first.comma.whitespace_after)
    elif isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        sep = _line_break(call.whitespace_before_args)
    comma = cst.Comma(whitespace_before=_NO_SPACE, whitespace_after=sep if sep is not None else _SPACE)
    return call.with_changes(args=[new.with_changes(comma=comma), *args])


def keep_args(call: cst.Call, kept: Sequence[cst.Arg]) -> cst.Call:
    """``call`` with only ``kept`` (arguments of ``call``, possibly changed
    in place, in their new order); the last of them closes the call the way
    the old last argument did."""
    args = list(call.args)
    if not args or not kept:
        return call.with_changes(args=list(kept))
    kept = list(kept)
    old_last = args[-1]
    if kept[-1] is old_last:
        return call.with_changes(args=kept)
    arg = kept[-1]
    own = _tail(arg)
    tail = _tail(old_last)
    closing: cst.BaseParenthesizableWhitespace = tail
    if isinstance(tail, cst.ParenthesizedWhitespace) and isinstance(own, cst.ParenthesizedWhitespace):
        closing = tail.with_changes(first_line=own.first_line)  # its own comment stays
    if isinstance(old_last.comma, cst.Comma):
        before = arg.comma.whitespace_before if isinstance(arg.comma, cst.Comma) else _NO_SPACE
        kept[-1] = arg.with_changes(comma=cst.Comma(whitespace_before=before, whitespace_after=closing))
    else:
        kept[-1] = arg.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=closing)
    # An argument that moved off the end needs a comma to separate it.
    for i, a in enumerate(kept[:-1]):
        if not isinstance(a.comma, cst.Comma):
            kept[i] = a.with_changes(
                comma=cst.Comma(whitespace_before=_NO_SPACE, whitespace_after=_SPACE),
                whitespace_after_arg=_NO_SPACE,
            )
    return call.with_changes(args=kept)


def add_import_name(node: cst.ImportFrom, name: str) -> cst.ImportFrom:
    """``from m import a, b`` -> ``from m import a, b, name``, laid out like
    the statement (parenthesized, one name per line, trailing comma)."""
    if isinstance(node.names, cst.ImportStar):
        return node
    names = list(node.names)
    last = names[-1]
    alias = cst.ImportAlias(name=cst.Name(name))
    inner = names[-2].comma if len(names) >= 2 and isinstance(names[-2].comma, cst.Comma) else None
    sep = _line_break(inner.whitespace_after) if inner is not None else None
    if sep is None and len(names) == 1 and node.lpar is not None:
        sep = _line_break(node.lpar.whitespace_after)
    if isinstance(last.comma, cst.Comma):  # `(\n    a,\n    b,\n)`
        trailing = last.comma
        if sep is not None:
            names[-1] = last.with_changes(
                comma=trailing.with_changes(whitespace_after=_end_line(trailing.whitespace_after, sep))
            )
            names.append(alias.with_changes(comma=cst.Comma(whitespace_after=_closing(trailing.whitespace_after))))
        else:
            names[-1] = last.with_changes(comma=cst.Comma(whitespace_after=_SPACE))
            names.append(alias.with_changes(comma=trailing))
    else:
        names[-1] = last.with_changes(comma=cst.Comma(whitespace_after=sep if sep is not None else _SPACE))
        names.append(alias)
    return node.with_changes(names=names)
