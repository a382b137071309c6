************************************************************************
file with basedata            : hand-written for the schedopt tests
initial value random generator: 0
************************************************************************
projects                      :  1
jobs (incl. supersource/sink ):  6
horizon                       :  25
RESOURCES
  - renewable                 :  2   R
  - nonrenewable              :  2   N
  - doubly constrained        :  0   D
************************************************************************
PROJECT INFORMATION:
pronr.  #jobs rel.date duedate tardcost  MPM-Time
    1      4      0       10        2        8
************************************************************************
PRECEDENCE RELATIONS:
jobnr.    #modes  #successors   successors
   1        1          2           2   3
   2        2          1           4
   3        3          2           4   5
   4        2          1           6
   5        1          1           6
   6        1          0
************************************************************************
REQUESTS/DURATIONS:
jobnr. mode duration  R 1  R 2  N 1  N 2
------------------------------------------------------------------------
  1      1     0       0    0    0    0
  2      1     3       2    0    4    0
         2     5       1    0    0    2
  3      1     2       2    1    5    1
         2     4       1    1    2    1
         3     6       0    1    0    3
  4      1     2       3    0    3    0
         2     4       1    0    1    0
  5      1     5       0    2    0    0
  6      1     0       0    0    0    0
************************************************************************
RESOURCEAVAILABILITIES:
  R 1  R 2  N 1  N 2
    3    2    6    5
************************************************************************
