"""The loop: the stages composed into one continual step, its flows, and its replay.

- ``plan.py``: the step's data windows (``StepPlan``) from the store and the champion;
- ``stages.py``: drift, trigger, train, gate, conclude and alerts over a plan;
- ``step.py``: the step as a state machine (``run_step`` over ``Stages``);
- ``outcome.py``: the typed outcome (``StepOutcome``, ``StepStatus``);
- ``train.py``: the one train-and-register (``recloop train`` and the step use it);
- ``run_lifecycle.py``: a training's MLflow run ends honestly (KILLED, reaped when stale);
- ``ingest.py``: batch files into the store, catalogs first;
- ``monitor.py``: one drift-monitoring pass (drift + registry + notify);
- ``flows.py`` (+ ``orchestration.py``): the Prefect flows ``continual``, ``ingest_flow``,
  ``monitor``;
- ``simulate.py`` (+ ``simulation_report.py``): the replay simulation and its report.

Nothing here is imported by the stage packages; the loop imports them (see
``docs/architecture.md`` for the layers).
"""
