"""The paper's measured claims as experiments: a grid of training runs, each an ordinary
work directory, and a report of the effects with their uncertainty.

- `claims`: the claims, their sections, and the config overrides of each arm.
- `runner`: runs the grid (resumable, splittable by claim and seed).
- `statistics`: mean ± sd, paired differences, Student-t intervals.
- `report`: report.md, report.json; `plots`: the PNGs.

The command: `python -m tools.experiments` (`alexnet-experiments`).
"""
