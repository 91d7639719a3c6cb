"""Hypothesis strategies of hostile query values, shared by the property and fuzz tests."""

from __future__ import annotations

from hypothesis import strategies as st

#: Any short UTF-8 text (no lone surrogates: a URL cannot carry them).
text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
    max_size=40,
)
#: Texts that look like numbers, almost numbers, or not at all.
numberish = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "0x10", "1e3", "٣", "１", "+1", "01", " 1", "1 ", "9" * 40, "%00", "NaN"]),
    text,
)
