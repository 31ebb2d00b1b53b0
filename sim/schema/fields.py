"""Field types shared by scenario and event tables: fractions, the partnership ladder."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

# The Ministry of Foreign Affairs' partnership ladder, lowest to highest (source C).
LEVELS = ("initial", "extended", "comprehensive", "strategic", "comprehensive_strategic")
Level = Literal["initial", "extended", "comprehensive", "strategic", "comprehensive_strategic"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
