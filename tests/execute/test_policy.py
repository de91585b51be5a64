"""Failure kinds, retries, the batch size after running out of memory, the failure budget."""

from __future__ import annotations

import pytest

from radbench.errors import ConfigError, DataError
from radbench.execute.policy import FailureBudget, RetryPolicy, classify_exception, \
    next_batch_size
from radbench.store import CellFailure
from tests.execute.conftest import write_cell


def failure(kind: str, reason: str = "r", **fields) -> CellFailure:
    return CellFailure(kind=kind, reason=reason, **fields)


def test_out_of_memory_is_recognised_from_each_backend():
    import tensorflow as tf

    tf_oom = tf.errors.ResourceExhaustedError(
        None, None, "OOM when allocating tensor with shape[256,64,128,128] and type float")
    assert classify_exception(tf_oom) == "out_of_memory"
    assert classify_exception(MemoryError()) == "out_of_memory"
    assert classify_exception(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")) \
        == "out_of_memory"
    jax_errors = pytest.importorskip("jax.errors")
    jax_oom = jax_errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to "
                                         "allocate 1.2GiB")
    assert classify_exception(jax_oom) == "out_of_memory"


def test_bad_config_data_and_bugs_are_not_transient():
    assert classify_exception(ConfigError("x")) == "bad_config"
    assert classify_exception(DataError("x")) == "bad_data"
    assert classify_exception(ValueError("shapes differ")) == "ValueError"
    policy = RetryPolicy(retries=3)
    for kind in ("bad_config", "bad_data", "ValueError"):
        assert policy.retry(None, failure(kind), 1) is None


def test_transient_failures_retry_up_to_the_limit(tmp_path):
    cell = write_cell(tmp_path)
    policy = RetryPolicy(retries=2)
    for kind in ("crashed", "out_of_memory"):
        assert policy.retry(cell, failure(kind, batch_size=16), 1) == ""
        assert policy.retry(cell, failure(kind, batch_size=16), 2) == ""
        assert policy.retry(cell, failure(kind, batch_size=16), 3) is None
    assert not cell.overrides_file.exists()  # the grid did not allow a smaller batch
    assert RetryPolicy().retry(cell, failure("crashed"), 1) is None  # no retries by default


def test_out_of_memory_halves_the_batch_when_allowed_and_records_it(tmp_path):
    cell = write_cell(tmp_path)
    policy = RetryPolicy(retries=5, halve_batch_on_oom=True, min_batch_size=4)
    assert "16 -> 8" in policy.retry(cell, failure("out_of_memory", batch_size=16,
                                                   reason="MemoryError: oom"), 1)
    assert cell.overrides()["batch_size"] == 8
    assert "8 -> 4" in policy.retry(cell, failure("out_of_memory", batch_size=8), 2)
    assert policy.retry(cell, failure("out_of_memory", batch_size=4), 3) is None
    changes = cell.overrides()["changes"]
    assert [c["batch_size"] for c in changes] == [{"from": 16, "to": 8}, {"from": 8, "to": 4}]
    assert changes[0]["reason"] == "MemoryError: oom"


@pytest.mark.parametrize("kind, batch, attempts, expected", [
    ("out_of_memory", 256, 1, 128), ("out_of_memory", 20, 1, 10), ("out_of_memory", 6, 1, 4),
    ("out_of_memory", 4, 1, None), ("out_of_memory", 256, 4, None), ("crashed", 256, 1, 0),
    ("ValueError", 256, 1, None)])
def test_next_batch_size_is_a_pure_decision(kind, batch, attempts, expected):
    policy = RetryPolicy(retries=3, halve_batch_on_oom=True, min_batch_size=4)
    assert next_batch_size(failure(kind, batch_size=batch), attempts, policy) == expected


def test_failure_budget_counts_failures_in_a_row():
    budget = FailureBudget(3)
    for ok in (False, False, True, False, False):
        budget.record(ok, "r")
    assert not budget.exhausted and budget.in_a_row == 2
    budget.record(False, "last")
    assert budget.exhausted and budget.reasons[-1] == "last"
    never = FailureBudget(0)
    for _ in range(10):
        never.record(False)
    assert not never.exhausted
