"""Reading runs and trials back from MLflow (the read half of ``mlflow_tracker.MLflowTracker``).

Records come from the ``autosearch.*`` tags of active MLflow runs (a deleted run is gone); a trial's epochs
from its metric histories. Liveness applies as in every backend: a RUNNING run whose process is gone
reads INTERRUPTED, and so do its RUNNING trials.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from autosearch.errors import UnknownRunError, UnknownTrialError
from autosearch.tracking.mlflow_client import Client, quoted
from autosearch.tracking.mlflow_records import (
    ID,
    OUTCOME,
    RECORD,
    RUN,
    TYPE,
    epochs_from_history,
    run_from_tags,
    trial_from_tags,
    unpacked,
)
from autosearch.tracking.records import RunInfo, RunStatus, TrialKind, TrialRecord, TrialState


class MLflowReads:
    """Reads for a tracker holding ``client`` and ``uri``; ``_ids`` caches autosearch id -> MLflow run id."""

    client: Client
    uri: str
    _ids: dict[str, tuple[str, str]]  # autosearch run or trial id -> (MLflow run id, experiment id)

    def _unknown_run(self, run_id: str) -> UnknownRunError:
        return UnknownRunError(f"run '{run_id}' not found in {self.uri}; run 'autosearch runs' to list ids.")

    def _unknown_trial(self, trial_id: str) -> UnknownTrialError:
        return UnknownTrialError(f"trial '{trial_id}' not found in {self.uri}; run 'autosearch leaderboard' "
                                 "to list ids.")

    def _find(self, id_: str, type_: str, experiment_ids: list[str] | None = None) -> Any | None:
        """The active MLflow run holding the autosearch run or trial ``id_``, or None."""
        found = list(self.client.search(f"tags.`{ID}` = {quoted(id_)} AND tags.`{TYPE}` = '{type_}'",
                                        experiment_ids))
        if not found:
            return None
        self._ids[id_] = (found[0].info.run_id, found[0].info.experiment_id)
        return found[0]

    def _fetch(self, id_: str, type_: str) -> Any | None:
        """The MLflow run of ``id_`` read fresh: through the cached MLflow id when still active, else searched."""
        cached = self._ids.get(id_)
        if cached is not None:
            run = self.client.call("to read a run", lambda: self.client.mlflow.get_run(cached[0]))
            if run.info.lifecycle_stage == "active":
                return run
            self._ids.pop(id_, None)
        return self._find(id_, type_)

    def _parent(self, run_id: str) -> Any:
        if (found := self._fetch(run_id, "run")) is None:
            raise self._unknown_run(run_id)
        return found

    def _child(self, trial_id: str) -> Any:
        if (found := self._fetch(trial_id, "trial")) is None:
            raise self._unknown_trial(trial_id)
        return found

    def _ids_of(self, id_: str, type_: str) -> tuple[str, str]:
        """(MLflow run id, experiment id) of ``id_``: cached once written or read here (writes need no fresh read)."""
        if id_ not in self._ids:
            (self._parent if type_ == "run" else self._child)(id_)
        return self._ids[id_]

    @staticmethod
    def _dead(parents: Iterable[Any]) -> dict[str, str]:
        """run id -> why, for the stored-RUNNING parents whose process is gone."""
        dead = {}
        for p in parents:
            if unpacked(p.data.tags, OUTCOME)["status"] == RunStatus.RUNNING.value:
                run = run_from_tags(p.data.tags)
                if run.status is RunStatus.INTERRUPTED:
                    dead[run.run_id] = run.error or "the search stopped"
        return dead

    def _epochs(self, child: Any) -> tuple:
        keys = [k for k in child.data.metrics if not k.startswith("autosearch.")]
        history = {k: self.client.call("to read metrics", lambda k=k: self.client.mlflow.get_metric_history(
            child.info.run_id, k)) for k in keys}
        return epochs_from_history(history)

    def _trial(self, child: Any, dead: dict[str, str], with_epochs: bool) -> TrialRecord:
        self._ids[child.data.tags[ID]] = (child.info.run_id, child.info.experiment_id)
        return trial_from_tags(child.data.tags, dead, self._epochs(child) if with_epochs else ())

    # -- the Tracker's reads ------------------------------------------------------
    def get_run(self, run_id: str) -> RunInfo:
        return run_from_tags(self._parent(run_id).data.tags)

    def _parents(self) -> list[Any]:
        parents = list(self.client.search(f"tags.`{TYPE}` = 'run'"))
        for p in parents:
            self._ids[p.data.tags[ID]] = (p.info.run_id, p.info.experiment_id)
        return parents

    def list_runs(self) -> list[RunInfo]:
        runs = [run_from_tags(p.data.tags) for p in self._parents()]
        return sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)

    def get_trial(self, trial_id: str, *, with_epochs: bool = True) -> TrialRecord:
        child = self._child(trial_id)
        run_id = child.data.tags[RUN]
        stored_running = unpacked(child.data.tags, RECORD)["state"] == TrialState.RUNNING.value
        parent = self._fetch(run_id, "run") if stored_running else None
        return self._trial(child, self._dead([parent] if parent is not None else []), with_epochs)

    def list_trials(self, run_id: str, *, with_epochs: bool = False) -> list[TrialRecord]:
        parent = self._parent(run_id)
        children = self.client.search(f"tags.`{RUN}` = {quoted(run_id)} AND tags.`{TYPE}` = 'trial'",
                                      [parent.info.experiment_id])
        dead = self._dead([parent])
        trials = [self._trial(c, dead, with_epochs) for c in children]
        return sorted(trials, key=lambda t: (t.started_at, t.trial_id))

    def find_trials(self, run_ids: Sequence[str] | None = None, *, states: Sequence[TrialState] | None = None,
                    kinds: Sequence[TrialKind] | None = None, top: int | None = None) -> list[TrialRecord]:
        if run_ids is not None and not run_ids or states is not None and not states or top == 0:
            return []
        parents = {p.data.tags[ID]: p for p in self._parents()}
        wanted = set(parents) if run_ids is None else set(run_ids) & set(parents)
        dead = self._dead(parents[i] for i in wanted)
        found = [t for c in self.client.search(f"tags.`{TYPE}` = 'trial'")
                 if c.data.tags.get(RUN) in wanted
                 and (t := self._trial(c, dead, False))
                 and (states is None or t.state in states) and (kinds is None or t.kind in kinds)]
        found.sort(key=lambda t: (t.run_id, t.started_at, t.trial_id))
        if top is None:
            return found
        directions = {i: run_from_tags(parents[i].data.tags, live=False).direction for i in wanted}
        return sorted(found, key=lambda t: t.leaderboard_key(directions[t.run_id]))[:top]
