"""Band math: ``expression=b1-b2/b1+b2`` (rio-tiler's syntax, evaluated by numexpr, never ``eval``).

An :class:`Expression` is parsed from the query and checked before anything is
read: only band names ``b1``, ``b2``… (1-based band indexes), numbers, operators
and numexpr's element-wise functions, in an allowed alphabet; one output
(grey, or a colormap) or three (RGB), separated by ``;``. Its canonical
spelling (:attr:`Expression.text`) goes into cache keys and emitted URLs.

Every expression's work is bounded *before* numexpr sees it: numexpr's parser
hands the text to Python, which computes constant sub-expressions as exact
integers (``9**9**7`` is millions of digits: seconds holding the GIL) and
recurses once per nesting level. So the text is pre-scanned for its nesting
(parentheses, operators in a row) before :func:`ast.parse`, its tree is bounded
in depth and size, and its constant sub-expressions are folded here with a
bounded magnitude (:data:`MAX_CONSTANT`; a power is judged by its logarithm
before it is computed). What passes is compiled (a trial on one pixel) once
per canonical spelling.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import numexpr
import numpy as np
from numexpr.expressions import functions as NUMEXPR_FUNCTIONS
from rio_tiler.errors import InvalidExpression
from rio_tiler.expression import apply_expression

from ..errors import BadRequest

#: Longest expression accepted, characters.
MAX_LENGTH = 512
#: Deepest nesting of one output's formula (its syntax tree's levels of operations, calls, operands).
MAX_DEPTH = 48
#: Most operands, operations and calls in one output's formula.
MAX_NODES = 200
#: Most operator characters in a row (``b1*-2`` has two): more is only nesting, e.g. ``----b1``.
MAX_OPERATOR_RUN = 4
#: Largest magnitude of a number in an expression, written or computed from numbers alone
#: (``10**15``): past it, Python's exact integers grow without bound before numexpr sees them.
MAX_CONSTANT = 1e15
#: Expressions compiled (their trial passed) kept per worker, by canonical spelling.
COMPILED_KEPT = 256
#: Outputs an expression may have: grey (or a colormap), or RGB.
OUTPUT_COUNTS = (1, 3)
#: What an expression may be written with: no quotes, brackets, attribute dots after names…
ALPHABET = re.compile(r"^[a-z0-9_.+\-*/%()<>=!&|~^;, ]*$")
BAND_NAME = re.compile(r"^b([1-9][0-9]{0,3})$")
#: numexpr's functions that work pixel by pixel on real numbers (not its reductions, strings
#: or complex numbers, whose results are no image).
FUNCTIONS = frozenset(NUMEXPR_FUNCTIONS) - {
    "complex", "conj", "imag", "real", "contains", "sum", "prod", "max", "min",
}  # fmt: skip
_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Constant, ast.Name, ast.Call, ast.Load,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv, ast.USub, ast.UAdd,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.BitAnd, ast.BitOr, ast.BitXor, ast.Invert,
)  # fmt: skip

#: How the operators fold numbers (Python's, as numexpr's parser computes them).
_FOLDS: dict[type[ast.AST], Callable[..., object]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
}  # fmt: skip
_OPERATOR_CHARACTERS = frozenset("+-*/%<>=!&|~^")

HELP = "e.g. expression=(b1-b2)/(b1+b2) or b3;b2;b1: band names b1, b2…, numbers, + - * / ** and numexpr functions"


@dataclass(frozen=True)
class Expression:
    """``blocks``: the canonical spelling of each output; ``bands``: the 1-based band indexes
    they name, ascending: the only bands read."""

    blocks: tuple[str, ...]
    bands: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Expression:
        """The expression of a query value; :class:`BadRequest` saying what is accepted."""
        lowered = text.strip().lower()
        if len(lowered) > MAX_LENGTH:
            raise BadRequest(f"expression is longer than {MAX_LENGTH} characters")
        if not ALPHABET.match(lowered):
            raise BadRequest(f"expression has a character it cannot use: {HELP}")
        sources = [b for b in lowered.split(";") if b.strip()]
        if len(sources) not in OUTPUT_COUNTS:
            raise BadRequest("expression must have 1 output (grey) or 3 separated by ';' (RGB)")
        blocks, bands = [], set()
        for source in sources:
            block, named = _canonical(source)
            blocks.append(block)
            bands |= named
        if not bands:
            raise BadRequest(f"expression names no band: {HELP}")
        return _compiled(cls(tuple(blocks), tuple(sorted(bands))))

    @property
    def text(self) -> str:
        return ";".join(self.blocks)

    @property
    def band_names(self) -> list[str]:
        return [f"b{b}" for b in self.bands]

    def apply(self, array: np.ma.MaskedArray) -> np.ma.MaskedArray:
        """The outputs (outputs, rows, cols) of ``array`` (:attr:`bands`, rows, cols), by
        rio-tiler's own ``apply_expression`` (non-finite results as ``nan_to_num`` makes them);
        a pixel is masked where any band read is, as rio-tiler does."""
        try:
            data = apply_expression(self.blocks, self.band_names, array)
        except InvalidExpression as exc:
            raise BadRequest(f"expression cannot be computed on this image: {str(exc)[:200]}") from None
        invalid = np.logical_or.reduce(np.ma.getmaskarray(array), axis=0)
        return np.ma.MaskedArray(data.data, mask=np.broadcast_to(invalid, data.shape).copy())

    def _trial(self) -> None:
        """Compile every block with numexpr on one pixel (integers, then floats: bitwise
        operators take integers only), so that what cannot compute is a 400 before any read."""
        for block in self.blocks:
            errors = []
            for dtype in (np.int32, np.float64):
                local = {name: np.ones(1, dtype=dtype) for name in self.band_names}
                try:
                    result = numexpr.evaluate(block, local_dict=local)
                except Exception as exc:  # numexpr documents no exception types  # noqa: BLE001
                    errors.append(str(exc))
                    continue
                if result.shape != (1,) or result.dtype.kind not in "biuf":
                    raise BadRequest(f"expression {block!r} does not give one number per pixel")
                break
            else:
                raise BadRequest(f"expression {block!r} cannot be computed: {errors[-1][:200]}")


@functools.lru_cache(maxsize=COMPILED_KEPT)
def _compiled(expression: Expression) -> Expression:
    """``expression`` once its trial passed: each canonical spelling is compiled once per worker
    (a failed one is not kept, and is answered by the same bounded trial again)."""
    expression._trial()
    return expression


def _canonical(source: str) -> tuple[str, set[int]]:
    """One block's canonical spelling (``ast.unparse`` without spaces: the grammar allowed has
    no keywords or strings) and the bands it names; :class:`BadRequest` for anything else,
    bounded work included (:func:`check_nesting`, :func:`check_size`, :func:`fold_constants`)."""
    check_nesting(source)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # the parser's own limits
        raise BadRequest(f"expression {source.strip()[:60]!r} is not a formula: {HELP}") from None
    check_size(tree)
    bands: set[int] = set()
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise BadRequest(f"expression cannot use {type(node).__name__}: {HELP}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                name = node.func.id if isinstance(node.func, ast.Name) else "?"
                raise BadRequest(f"expression cannot call {name!r}: {HELP}")
        elif isinstance(node, ast.Name) and id(node) not in called:
            match = BAND_NAME.match(node.id)
            if match is None:
                raise BadRequest(f"expression names {node.id!r}, not a band (b1, b2…): {HELP}")
            bands.add(int(match.group(1)))
        elif isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise BadRequest(f"expression constants are numbers: {HELP}")
    fold_constants(tree.body)
    return ast.unparse(tree).replace(" ", ""), bands


def check_nesting(source: str) -> None:
    """:class:`BadRequest` for text nested deeper than :data:`MAX_DEPTH` parentheses or with more
    than :data:`MAX_OPERATOR_RUN` operator characters in a row (``------b1``): a scan of the
    characters, before a parser recurses once per level."""
    depth = run = 0
    for char in source:
        if char == " ":
            continue
        run = run + 1 if char in _OPERATOR_CHARACTERS else 0
        if run > MAX_OPERATOR_RUN:
            raise BadRequest(f"expression has more than {MAX_OPERATOR_RUN} operators in a row: {HELP}")
        if char == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise BadRequest(f"expression nests parentheses deeper than {MAX_DEPTH} levels")
        elif char == ")":
            depth -= 1


def check_size(tree: ast.AST) -> None:
    """:class:`BadRequest` for a formula deeper than :data:`MAX_DEPTH` levels of expressions or
    with more than :data:`MAX_NODES` of them; measured without recursion."""
    count = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.expr):
            count += 1
            depth += 1
            if depth > MAX_DEPTH:
                raise BadRequest(f"expression nests deeper than {MAX_DEPTH} levels")
            if count > MAX_NODES:
                raise BadRequest(f"expression has more than {MAX_NODES} operands and operations")
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))


def fold_constants(node: ast.AST) -> float | int | None:
    """The value of ``node`` when it is computed from numbers alone (as numexpr's parser would
    compute it, in Python), else ``None``; every sub-expression is visited. :class:`BadRequest`
    for a number past :data:`MAX_CONSTANT`, written or computed, a power judged before it is
    computed. Recursive: call it on a tree :func:`check_size` bounded."""
    if isinstance(node, ast.Constant):
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp):
        operand = fold_constants(node.operand)
        return None if operand is None else _fold(node.op, operand)
    if isinstance(node, ast.BinOp):
        left, right = fold_constants(node.left), fold_constants(node.right)
        return None if left is None or right is None else _fold(node.op, left, right)
    for child in ast.iter_child_nodes(node):
        fold_constants(child)
    return None


def _fold(op: ast.AST, *operands: float | int) -> float | int:
    """``op`` of numbers, bounded: a power whose result would pass :data:`MAX_CONSTANT` is not
    computed (its size is known from logarithms); :class:`BadRequest` for any that fails."""
    if isinstance(op, ast.Pow):
        base, exponent = operands
        if base != 0 and exponent * math.log10(abs(base)) > math.log10(MAX_CONSTANT):
            raise BadRequest(f"expression computes a number larger than {MAX_CONSTANT:g} from constants")
    try:
        value = _FOLDS[type(op)](*operands)
    except (ArithmeticError, TypeError, ValueError):
        raise BadRequest(f"expression's constants cannot be computed: {HELP}") from None
    return _bounded(value)


def _bounded(value: object) -> float | int:
    """A number of an expression, or :class:`BadRequest` past :data:`MAX_CONSTANT` (or complex)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise BadRequest(f"expression constants are real numbers: {HELP}")
    if not abs(value) <= MAX_CONSTANT:  # NaN too
        raise BadRequest(f"expression has a number larger than {MAX_CONSTANT:g}: {HELP}")
    return value
