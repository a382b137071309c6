"""Bad input is an InvalidInstance naming the JSON path of the field and the reason; the request's
discriminated union keeps paths as the caller wrote them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import solver
from solver.engine.errors import InvalidInstance
from tests.workflow.conftest import request

CASES: dict[str, tuple[Any, tuple, str]] = {
    # case: (edit of the small instance, expected loc under `instance`, expected words in the message)
    "duplicate id": (
        lambda i: i["tasks"][4].update(id="a"),
        ("tasks", 4, "id"),
        "duplicate task id (also tasks[0])",
    ),
    "unknown predecessor": (
        lambda i: i["tasks"][1]["predecessors"][0].update(task="zz"),
        ("tasks", 1, "predecessors", 0, "task"),
        "unknown task id",
    ),
    "own predecessor": (
        lambda i: i["tasks"][0].update(predecessors=[{"task": "a"}]),
        ("tasks", 0, "predecessors", 0, "task"),
        "its own predecessor",
    ),
    "cycle": (
        lambda i: i["tasks"][0].update(predecessors=[{"task": "d"}]),
        ("tasks", 0, "predecessors"),
        "cycle: a -> b -> d -> a",
    ),
    "negative duration": (
        lambda i: i["tasks"][2]["modes"][0].update(duration=-1),
        ("tasks", 2, "modes", 0, "duration"),
        "greater than or equal to 0",
    ),
    "negative demand": (
        lambda i: i["tasks"][2]["modes"][0]["demands"].update(gpu=-2),
        ("tasks", 2, "modes", 0, "demands", "gpu"),
        "greater than or equal to 0",
    ),
    "unknown resource": (
        lambda i: i["tasks"][2]["modes"][0]["demands"].update(tpu=1),
        ("tasks", 2, "modes", 0, "demands", "tpu"),
        "unknown resource (known: cpu, gpu)",
    ),
    "no modes": (lambda i: i["tasks"][0].update(modes=[]), ("tasks", 0, "modes"), "at least 1 item"),
    "typo": (
        lambda i: i["tasks"][0]["modes"][0].update(durations=3),
        ("tasks", 0, "modes", 0, "durations"),
        "Extra inputs are not permitted",
    ),
    "duplicate resource": (
        lambda i: i.update(nonrenewable=[{"name": "gpu", "budget": 5}]),
        ("nonrenewable", 0, "name"),
        "duplicate resource name (also resources[0])",
    ),
    "overlapping windows": (
        lambda i: i["resources"][0].update(
            calendar=[{"start": 2, "end": 6, "capacity": 1}, {"start": 5, "end": 8, "capacity": 0}]
        ),
        ("resources", 0, "calendar", 1, "start"),
        "overlaps calendar[0] [2, 6)",
    ),
    "empty window": (
        lambda i: i["resources"][0].update(calendar=[{"start": 4, "end": 4, "capacity": 1}]),
        ("resources", 0, "calendar", 0, "end"),
        "must end after it starts",
    ),
    "window above capacity": (
        lambda i: i["resources"][0].update(calendar=[{"start": 0, "end": 4, "capacity": 5}]),
        ("resources", 0, "calendar", 0, "capacity"),
        "can only lower the capacity (3 for gpu)",
    ),
    "unknown task in a disjunctive set": (
        lambda i: i.update(disjunctive=[["a", "nope"]]),
        ("disjunctive", 0, 1),
        "unknown task id",
    ),
    "task twice in a disjunctive set": (
        lambda i: i.update(disjunctive=[["a", "b", "a"]]),
        ("disjunctive", 0, 2),
        "listed twice",
    ),
    "unknown objective": (lambda i: i.update(objective="tardiness"), ("objective",), "Input should be"),
}


@pytest.mark.parametrize("case", CASES)
def test_invalid_instance_names_the_field(small: dict, case: str) -> None:
    edit, loc, words = CASES[case]
    inst = copy.deepcopy(small)
    edit(inst)
    with pytest.raises(InvalidInstance) as err:
        solver.solve(request(inst))
    errors = err.value.errors
    assert [e.loc for e in errors] == [("instance", *loc)], errors
    assert words in errors[0].msg


def test_several_errors_are_all_reported(small: dict) -> None:
    small["tasks"][4]["id"] = "a"
    small["tasks"][3]["predecessors"][0]["task"] = "zz"
    with pytest.raises(InvalidInstance) as err:
        solver.validate("workflow", small)
    assert {e.loc for e in err.value.errors} == {
        ("instance", "tasks", 4, "id"),
        ("instance", "tasks", 3, "predecessors", 0, "task"),
    }


def test_cycle_names_a_task_on_it(small: dict) -> None:
    small["tasks"].append({"id": "x", "modes": [{"duration": 1}], "predecessors": [{"task": "y"}]})
    small["tasks"].append(
        {"id": "y", "modes": [{"duration": 1}], "predecessors": [{"task": "x"}, {"task": "a"}]}
    )
    with pytest.raises(InvalidInstance) as err:
        solver.validate("workflow", small)
    [e] = err.value.errors
    assert e.loc == ("instance", "tasks", 5, "predecessors") and e.value == "x"
    assert "cycle: x -> y -> x" in e.msg


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"instance": {"tasks": []}}, ("kind",)),
        ({"kind": "flow", "instance": {}}, ("kind",)),
        ({"kind": "workflow", "instance": {"tasks": []}}, ("instance", "tasks")),
        (
            {
                "kind": "workflow",
                "instance": {"tasks": [{"id": "a", "modes": [{"duration": 1}]}]},
                "options": {"time_limit_s": 0},
            },
            ("options", "time_limit_s"),
        ),
    ],
    ids=["missing kind", "unknown kind", "no tasks", "zero time limit"],
)
def test_request_errors_keep_the_callers_paths(body: dict, loc: tuple) -> None:
    with pytest.raises(InvalidInstance) as err:
        solver.parse_request(body)
    assert [e.loc for e in err.value.errors] == [loc]


def test_pods_requests_keep_their_paths() -> None:
    body = {"kind": "pods", "instance": {"nodes": [{"name": "n", "capacity": {"cpu_m": -1}}]}}
    with pytest.raises(InvalidInstance) as err:
        solver.parse_request(body)
    assert [e.loc for e in err.value.errors] == [("instance", "nodes", 0, "capacity", "cpu_m")]
