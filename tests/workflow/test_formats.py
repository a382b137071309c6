"""PSPLIB and job-shop readers read what the files say, and every writer round-trips through its reader."""

from __future__ import annotations

import pytest

from solver.workflow.formats import FormatError, read_jobshop, read_psplib, write_jobshop, write_psplib
from tests.workflow.conftest import DATA, JOBSHOP, PSPLIB, j30_optima, jobshop, psplib


def test_psplib_sm_is_read_as_written():
    inst = psplib("j301_1")
    assert [t.id for t in inst.tasks] == [str(j) for j in range(1, 33)]
    assert [(r.name, r.capacity) for r in inst.resources] == [("R1", 12), ("R2", 13), ("R3", 4), ("R4", 12)]
    assert not inst.nonrenewable
    by_id = {t.id: t for t in inst.tasks}
    # "2  1  3  6 11 15" and "2  1  8  4 0 0 0": job 2 lasts 8 with 4 of R1 and precedes 6, 11, 15
    assert by_id["2"].modes[0].duration == 8 and by_id["2"].modes[0].demands == {"R1": 4}
    assert [p.task for p in by_id["6"].predecessors] == ["2"]
    assert [p.task for p in by_id["32"].predecessors] == ["29", "30", "31"]
    assert by_id["1"].modes[0].duration == 0 and not by_id["1"].predecessors
    assert all(p.min_lag == 0 for t in inst.tasks for p in t.predecessors)


def test_psplib_mm_reads_modes_and_budgets():
    inst = read_psplib((DATA / "tiny.mm").read_text())
    assert [(r.name, r.capacity) for r in inst.resources] == [("R1", 3), ("R2", 2)]
    assert [(r.name, r.budget) for r in inst.nonrenewable] == [("N1", 6), ("N2", 5)]
    job3 = inst.tasks[2]
    assert [(m.duration, m.demands) for m in job3.modes] == [
        (2, {"R1": 2, "R2": 1, "N1": 5, "N2": 1}),
        (4, {"R1": 1, "R2": 1, "N1": 2, "N2": 1}),
        (6, {"R2": 1, "N2": 3}),
    ]
    assert [p.task for p in inst.tasks[3].predecessors] == ["2", "3"]


@pytest.mark.parametrize("name", sorted(j30_optima()))
def test_psplib_round_trip(name):
    inst = psplib(name)
    text = write_psplib(inst)
    assert read_psplib(text) == inst
    assert "MPM-Time" in text and "RESOURCEAVAILABILITIES" in text


def test_psplib_mm_round_trip():
    inst = read_psplib((DATA / "tiny.mm").read_text())
    assert read_psplib(write_psplib(inst)) == inst


def test_psplib_writer_refuses_what_the_format_cannot_say(small):
    from models.workflow import WorkflowInstance

    inst = WorkflowInstance.model_validate(small)
    with pytest.raises(ValueError, match="lags of task c"):
        write_psplib(inst)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda t: t.replace(
                "  - doubly constrained        :  0   D", "  - doubly constrained        :  1   D"
            ),
            "doubly",
        ),
        (
            lambda t: t.replace(
                "  3        1          3           7   8  13", "  3        1          3           7   x  13"
            ),
            "line 21",
        ),
        (lambda t: t.replace("PRECEDENCE RELATIONS:", "PRECEDENCES:"), "no 'PRECEDENCE RELATIONS' section"),
        (lambda t: t.replace("   12   13    4   12", "   12   13    4"), "resource availabilities"),
        (
            lambda t: t.replace(
                "  2      1     8       4    0    0    0", "  2      1     8       4    0    0"
            ),
            "line 56",
        ),
    ],
    ids=["doubly constrained", "bad number", "no section", "short availabilities", "short request"],
)
def test_psplib_errors_say_where(edit, expected):
    text = edit((PSPLIB / "j301_1.sm").read_text())
    with pytest.raises(FormatError, match=expected):
        read_psplib(text)


def test_jobshop_orlib_is_read_as_written():
    inst = jobshop("ft06")
    assert len(inst.tasks) == 36
    assert [(r.name, r.capacity) for r in inst.resources] == [(f"M{k}", 1) for k in range(6)]
    # first job: "2 1 0 3 1 6 3 7 5 3 4 6"
    first = [(t.modes[0].demands, t.modes[0].duration) for t in inst.tasks[:6]]
    assert first == [
        ({"M2": 1}, 1),
        ({"M0": 1}, 3),
        ({"M1": 1}, 6),
        ({"M3": 1}, 7),
        ({"M5": 1}, 3),
        ({"M4": 1}, 6),
    ]
    assert [p.task for p in inst.tasks[1].predecessors] == ["j0-o0"] and not inst.tasks[6].predecessors
    assert inst.tasks[6].id == "j1-o0"


@pytest.mark.parametrize("name", ["ft06", "ft10", "la01"])
@pytest.mark.parametrize("fmt", ["orlib", "taillard"])
def test_jobshop_round_trip(name, fmt):
    inst = jobshop(name)
    assert read_jobshop(write_jobshop(inst, fmt)) == inst


def test_taillard_file_with_its_header_is_read():
    text = (
        "Nb of jobs, Nb of Machines, Time seed, Machine seed, Upper bound, Lower bound\n"
        "2 3 840612802 398197754 20 18\n"
        "Times\n 5 3 4\n 2 6 1\nMachines\n 1 3 2\n 3 2 1\n"
    )
    inst = read_jobshop(text)
    assert [(t.id, t.modes[0].duration, t.modes[0].demands) for t in inst.tasks] == [
        ("j0-o0", 5, {"M0": 1}),
        ("j0-o1", 3, {"M2": 1}),
        ("j0-o2", 4, {"M1": 1}),
        ("j1-o0", 2, {"M2": 1}),
        ("j1-o1", 6, {"M1": 1}),
        ("j1-o2", 1, {"M0": 1}),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "first line"),
        ("2 2\n0 3 1 2\n1 4\n", "expected 2 rows of 4"),
        ("1 2\n0 3 5 2\n", "machine 5 out of range"),
    ],
)
def test_jobshop_errors_say_what(text, expected):
    with pytest.raises(FormatError, match=expected):
        read_jobshop(text)


def test_jobshop_writer_refuses_a_non_job_shop():
    inst = psplib("j301_1")
    with pytest.raises(ValueError, match="not a job-shop machine"):
        write_jobshop(inst)


def test_shared_files_exist():
    assert (JOBSHOP / "ft06.txt").exists() and (PSPLIB / "j30_dev_optima.csv").exists()
