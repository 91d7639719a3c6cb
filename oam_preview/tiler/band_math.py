"""Band math: ``expression=b1-b2/b1+b2`` (rio-tiler's syntax, evaluated by numexpr, never ``eval``).

An :class:`Expression` is parsed from the query and checked before anything is
read: only band names ``b1``, ``b2``… (1-based band indexes), numbers, operators
and numexpr's element-wise functions, in an allowed alphabet; one output
(grey, or a colormap) or three (RGB), separated by ``;``. Its canonical
spelling (:attr:`Expression.text`) goes into cache keys and emitted URLs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import numexpr
import numpy as np
from numexpr.expressions import functions as NUMEXPR_FUNCTIONS
from rio_tiler.errors import InvalidExpression
from rio_tiler.expression import apply_expression

from ..errors import BadRequest

#: Longest expression accepted, characters.
MAX_LENGTH = 512
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
        found = cls(tuple(blocks), tuple(sorted(bands)))
        found._trial()
        return found

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


def _canonical(source: str) -> tuple[str, set[int]]:
    """One block's canonical spelling (``ast.unparse`` without spaces: the grammar allowed has
    no keywords or strings) and the bands it names; :class:`BadRequest` for anything else."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        raise BadRequest(f"expression {source.strip()[:60]!r} is not a formula: {HELP}") from None
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
    return ast.unparse(tree).replace(" ", ""), bands
