"""Field types shared by scenario and event tables: fractions, the partnership ladder."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

# The Ministry of Foreign Affairs' partnership ladder, lowest to highest (source C).
LEVELS = ("initial", "extended", "comprehensive", "strategic", "comprehensive_strategic")
Level = Literal["initial", "extended", "comprehensive", "strategic", "comprehensive_strategic"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]

# Every number has a finite range a user could mean: a typo such as 1e200 or inf is an
# error at load time, never an overflow in the middle of a run.
BnUsd = Annotated[float, Field(ge=0.0, le=100.0)]  # a flow or stock, bn USD
Weight = Annotated[float, Field(ge=0.0, le=100.0)]  # a relative weight (shares are formed)
Elasticity = Annotated[float, Field(ge=0.0, le=20.0)]


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _safe_name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(
            "letters, digits, '_', '-' or '.', starting with a letter or digit, at most "
            "64 characters"
        )
    return name


# A name that is used as a folder name: never a path, never empty.
SafeName = Annotated[str, AfterValidator(_safe_name)]
