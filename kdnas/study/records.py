"""Names of what each trial records in the Optuna storage (user attributes), in one place.

The storage is the single source of truth: reports and resume read these, nothing else.
"""

from __future__ import annotations

ARCH = "arch"  # canonical architecture text
STATUS = "status"  # ok | infeasible | failed | duplicate
REASON = "reason"  # why a trial failed or was infeasible
VAL_ACC = "val_acc"
SCORE = "score"  # what ranked the trial (higher is better): val_acc, -val_loss, -tse, -tse_late or the similarity
SIMILARITY = "similarity"  # the similarity proxy: {measure, stages: [[student module, teacher stage]], probe_size}
MACS = "macs"
PARAMS = "params"
LATENCY_MS = "latency_ms"
LATENCY_TABLE_MS = "latency_table_ms"  # the latency table's prediction (latency.mode table, table_then_measure)
LATENCY_SOURCE = "latency_source"  # where latency_ms came from: measured | table
CONSTRAINTS = "constraints"  # {limit name: value}, <= 0 means satisfied (Optuna's convention)
WALL_S = "wall_s"
METRICS = "metrics"  # dict of proxy measurements (train_s, eval_s, final_loss, ...)
WHERE = "where"  # host, pid, executor, CUDA_VISIBLE_DEVICES
DUPLICATE_OF = "duplicate_of"
RETRY_OF = "retry_of"
# Successive halving (search.strategy halving): one trial per student and rung.
RUNG = "rung"  # the rung's index (0: the first); absent on a plain study's trials
RUNG_STEPS = "rung_steps"  # proxy steps the student had trained when this trial's values were measured
BELOW_TOP = "below_top"  # True on a result of a rung below the top: not a full-budget result, never on a front
PROMOTED_FROM = "promoted_from"  # the trial, one rung below, whose state this one continued
STUDENT = "student"  # the trial that sampled the student: its seed (seed + that number) serves every rung
SCREEN_VALUES = "screen_values"  # a similarity screen's (similarity, costs...): its trial is PRUNED, with no values
RUNG_ATTRS = (RUNG, RUNG_STEPS, BELOW_TOP, PROMOTED_FROM, STUDENT)  # what a re-queued trial carries over
TRAINED = "trained"  # True when a student was trained, whether it succeeded or failed: it took a budget place

# Reason prefixes of trials stopped by an interrupt (Ctrl-C, a driver that died): not the student's
# fault, so they are queued again and take no budget place.
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"

# Study-level attributes.
STUDY_CONFIG = "config"
STUDY_TEACHER = "teacher"  # name, checkpoint, sha256, val_acc, macs, params, latency_ms
STUDY_LATENCY_SPEC = "latency_spec"  # the latency spec (backend, device, threads, batch...) and the provider used
STUDY_SPACE = "space"  # name and size
STUDY_SCORE = "score"  # what the first objective ("score") holds: accuracy, val_loss, tse, tse_late, similarity
STUDY_RUNGS = "rungs"  # successive halving: the proxy steps of each rung, the last the whole run
STUDY_PROBE = "similarity_probe"  # the similarity proxy's probe batch: its indices in the training split

STATUS_OK, STATUS_INFEASIBLE, STATUS_FAILED, STATUS_DUPLICATE = "ok", "infeasible", "failed", "duplicate"
