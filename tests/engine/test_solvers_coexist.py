"""ortools 9.15 and highspy must load in one process (highspy 1.15 cannot); both must solve."""

import highspy
import pulp
from ortools.sat.python import cp_model


def test_cpsat_and_highs_in_one_process():
    m = cp_model.CpModel()
    x = m.new_int_var(0, 10, "x")
    y = m.new_int_var(0, 10, "y")
    m.add(x + 2 * y <= 14)
    m.maximize(3 * x + 4 * y)
    s = cp_model.CpSolver()
    assert s.solve(m) == cp_model.OPTIMAL
    assert s.objective_value == 38  # x=10, y=2

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    prob = pulp.LpProblem("t", pulp.LpMaximize)
    a = prob.add_variable("a", 0, 10, cat=pulp.LpInteger)
    b = prob.add_variable("b", 0, 10, cat=pulp.LpInteger)
    prob += 3 * a + 4 * b
    prob += a + 2 * b <= 14
    prob.solve(pulp.HiGHS(msg=False))
    assert pulp.value(prob.objective) == 38


def test_cbc_is_bundled():
    prob = pulp.LpProblem("t", pulp.LpMinimize)
    a = prob.add_variable("a", 0, 5, cat=pulp.LpInteger)
    prob += a
    prob += a >= 2.5
    prob.solve(pulp.PULP_CBC_CMD(msg=False))
    assert a.varValue == 3
