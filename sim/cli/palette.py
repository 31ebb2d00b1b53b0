"""One palette for the report figures (sim/cli/plots.py) and the dashboard (sim/app.py):
the same partner or group has the same colour on paper and on the page."""

from __future__ import annotations

GROUP_COLOURS = {
    "China": "#c0392b",
    "Russia": "#2c6fbb",
    "Third neighbours": "#27ae60",
    "Rest of world": "#95a5a6",
}
# Single partners beyond the two neighbours, in turn (third neighbours drawn one by one).
OTHER_COLOURS = ("#8e44ad", "#e67e22", "#16a085", "#d4ac0d", "#7f8c8d")
AUTONOMY = "#2c3e50"
PRESSURE = "#e67e22"
CONCESSIONS = "#c0392b"


def partner_colour(name: str, k: int) -> str:
    """A group colour for China and Russia, else the k-th of the other colours."""
    return GROUP_COLOURS.get(name, OTHER_COLOURS[k % len(OTHER_COLOURS)])
