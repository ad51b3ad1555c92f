"""Complete values for a trial the oracle hands over half-filled, the same in every process.

AutoKeras' GreedyOracle returns each of its ``initial_hps`` as given (for us: only a model family), and
KerasTuner's ``Oracle.create_trial`` fills every other active hyperparameter with ``hp.random_sample()``
(``HyperParameters.ensure_active_values``): unseeded, so a search's first trials took different learning
rates and settings in every process, and a seeded search did not repeat. Here the missing values are
each hyperparameter's default (a pipeline's first listed value) before KerasTuner sees them.
"""

from __future__ import annotations

from typing import Any, Mapping


def with_defaults(space: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` plus the default of every hyperparameter of ``space`` (a ``HyperParameters``) that they
    make active and leave out, parents before children (the space's order)."""
    hps = space.copy()
    hps.values = dict(values)
    for hp in hps.space:
        if hp.name not in hps.values and hps.is_active(hp):
            hps.values[hp.name] = hp.default
    return dict(hps.values)


def fill_initial_values(oracle: Any) -> None:
    """Make ``oracle.populate_space`` (an instance's own, so its class keeps its code) complete the values
    it returns with defaults. A worker's oracle is KerasTuner's client, which populates nothing: the chief's does."""
    populate = getattr(oracle, "populate_space", None)
    if populate is None:
        return

    def populate_space(trial_id: str) -> dict[str, Any]:
        response = populate(trial_id)
        values = response.get("values")
        if values is None:
            return response
        return {**response, "values": with_defaults(oracle.hyperparameters, values)}

    oracle.populate_space = populate_space
