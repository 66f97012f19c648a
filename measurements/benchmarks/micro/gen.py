#!/usr/bin/env python3
"""Generates the interpreter microbenchmarks (one SOM class per operation) in this directory.

    python3 measurements/benchmarks/micro/gen.py

Each program is run as `som <Operation>.som K ITERATIONS`: its loop runs ITERATIONS times, and
the loop body repeats the operation's *unit* (a statement, see OPERATIONS) K times, written out
in the source — one method per K in K_VALUES. `measurements micro` runs K and 2K under
callgrind; the difference of the two instruction counts divided by K × ITERATIONS is the cost of
one unit, because everything else (start-up, the loop, the per-iteration check) is the same in
both runs.

Rules the units follow so that both engines run the same operations:
- every unit's value is used (assigned, or sent to): our bytecode compiler drops pure reads in
  statement position, so a bare `x.` would measure nothing on one engine only;
- a unit is one statement of the form `s := <operation>` unless said otherwise, so most units
  include one local write; compare with LocalRead (`s := x`) to isolate an operation;
- trivial methods (`^constant`, getters, setters, `^self`) run without an activation in both
  engines, so self sends are measured to a trivial and to a non-trivial callee;
- the per-iteration check (`check := check + s`) is outside the repeated part, so it cancels.
The program verifies its result (exit status 1 and a message if wrong) and prints one line.
"""

import os

K_VALUES = [10, 20, 50, 100, 200]

# name: (description, unit or None, per-iteration code after the units, expected result,
#        setup before the loop).
# `expected` is a SOM expression in k and n.
OPERATIONS = {
    "ConstPush": ("push a constant: `s := 7`", "s := 7", "check := check + s", "7 * n", ""),
    "LocalRead": ("read a local: `s := x`", "s := x", "check := check + s", "7 * n", ""),
    "LocalWrite": (
        "write a local, value kept: the unit is `x := ` in one statement `s := x := … := x := 7`",
        None,
        "check := check + s",
        "7 * n",
        "",
    ),
    "ArgRead": ("read an argument: `s := a`", "s := a", "check := check + s", "7 * n", ""),
    "FieldRead": ("read a field: `s := f`", "s := f", "check := check + s", "7 * n", "f := 7."),
    "FieldWrite": (
        "write a field from a local: `f := x` (no local write)",
        "f := x",
        "check := check + f. f := 0",
        "7 * n",
        "f := 0.",
    ),
    "GlobalRead": (
        "read a global (a class): `s := Array`",
        "s := Array",
        "check := check + (s == Array ifTrue: [ 7 ] ifFalse: [ 0 ])",
        "7 * n",
        "",
    ),
    "SelfSendTrivial": (
        "self send to a trivial method (`trivial = ( ^7 )`, no activation): `s := self trivial`",
        "s := self trivial",
        "check := check + s",
        "7 * n",
        "",
    ),
    "SelfSend": (
        "self send to a non-trivial method (`nonTrivial = ( | t | ^7 )`): `s := self nonTrivial`",
        "s := self nonTrivial",
        "check := check + s",
        "7 * n",
        "",
    ),
    "BlockSend": (
        "evaluate a block held in a local (`b := [ 7 ]`): `s := b value`",
        "s := b value",
        "check := check + s",
        "7 * n",
        "b := [ 7 ].",
    ),
    "NonLocalReturn": (
        "send to `nonLocalReturn = ( [ ^7 ] value. ^0 )`: a send, a block, its evaluation and "
        "a non-local return (compare BlockReturn): `s := self nonLocalReturn`",
        "s := self nonLocalReturn",
        "check := check + s",
        "7 * n",
        "",
    ),
    "BlockReturn": (
        "send to `blockReturn = ( ^[ 7 ] value )`: NonLocalReturn's baseline with a local "
        "return: `s := self blockReturn`",
        "s := self blockReturn",
        "check := check + s",
        "7 * n",
        "",
    ),
    "ArrayRead": (
        "read an array element (`arr` a local): `s := arr at: 1`",
        "s := arr at: 1",
        "check := check + s",
        "7 * n",
        "arr := Array new: 1. arr at: 1 put: 7.",
    ),
    "ArrayWrite": (
        "write an array element (statement, value unused): `arr at: 1 put: x`",
        "arr at: 1 put: x",
        "check := check + (arr at: 1). arr at: 1 put: 0",
        "7 * n",
        "arr := Array new: 1.",
    ),
    "IntAdd": (
        "small-integer add into a local: `s := s + x` (`x` = 7; not the `x := x + 1` "
        "super-instruction)",
        "s := s + x",
        "check := check + s. s := 0",
        "7 * k * n",
        "",
    ),
    "ToDoLoop": (
        "one iteration of an inlined `to:do:` whose body is `s := j`: the unit is the loop "
        "`1 to: K do: [ :j | s := j ]` run once per iteration (compare LocalRead)",
        None,
        "check := check + s",
        "k * n",
        "",
    ),
}

PER_LINE = 8


def body(name, unit, k):
    """The repeated part of the loop body, as lines of SOM (without indentation)."""
    if name == "LocalWrite":
        parts = ["s :="] + ["x :="] * k + ["7."]
        return [" ".join(parts[i : i + 16]) for i in range(0, len(parts), 16)]
    if name == "ToDoLoop":
        return [f"1 to: {k} do: [ :j | s := j ]."]
    units = [unit + "."] * k
    return [" ".join(units[i : i + PER_LINE]) for i in range(0, k, PER_LINE)]


def program(name):
    description, unit, check, expected, setup = OPERATIONS[name]
    i1, i2, i3, i4 = "    ", "        ", "            ", "                "
    out = [
        f'"{name}: {description}.',
        f" Generated by gen.py (do not edit): som {name}.som K ITERATIONS, K one of "
        + ", ".join(map(str, K_VALUES))
        + '."',
        "",
        f"{name} = (",
        f"{i1}| f |",
        "",
        f"{i1}run: args = (",
        f"{i2}| k n result expected |",
        f"{i2}args length < 3 ifTrue: [",
        f"{i3}'Usage: {name}.som K ITERATIONS' println.",
        f"{i3}^ system exit: 2 ].",
        f"{i2}k := (args at: 2) asInteger.",
        f"{i2}n := (args at: 3) asInteger.",
        f"{i2}result := self run: k iterations: n.",
        f"{i2}expected := {expected}.",
        f"{i2}result = expected ifFalse: [",
        f"{i3}('{name}: wrong result ' , result asString , ', expected ' , expected asString) println.",
        f"{i3}^ system exit: 1 ].",
        f"{i2}('{name} k=' , k asString , ' iterations=' , n asString , ': ok') println )",
        "",
        f"{i1}run: k iterations: n = (",
    ]
    for k in K_VALUES:
        out.append(f"{i2}k = {k} ifTrue: [ ^ self k{k}: n arg: 7 ].")
    out += [
        f"{i2}('{name}: no body for K=' , k asString , ' (one of {', '.join(map(str, K_VALUES))})') println.",
        f"{i2}^ system exit: 2 )",
        "",
        f"{i1}trivial = ( ^ 7 )",
        f"{i1}nonTrivial = ( | t | ^ 7 )",
        f"{i1}nonLocalReturn = ( [ ^ 7 ] value. ^ 0 )",
        f"{i1}blockReturn = ( ^ [ 7 ] value )",
    ]
    for k in K_VALUES:
        out += [
            "",
            f"{i1}k{k}: n arg: a = (",
            f"{i2}| x s b arr check |",
            f"{i2}x := 7. s := 0. check := 0. {setup}".rstrip(),
            f"{i2}1 to: n do: [ :i |",
        ]
        out += [i3 + line for line in body(name, unit, k)]
        out.append(f"{i3}{check} ].")
        out.append(f"{i2}^ check )")
    out.append(")")
    return "\n".join(out) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for name in OPERATIONS:
        with open(os.path.join(here, f"{name}.som"), "w") as f:
            f.write(program(name))
    with open(os.path.join(here, "operations.txt"), "w") as f:
        f.write("# operation<TAB>unit (generated by gen.py)\n")
        for name, spec in OPERATIONS.items():
            f.write(f"{name}\t{spec[0]}\n")


if __name__ == "__main__":
    main()
