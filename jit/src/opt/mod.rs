//! The optimizer: small passes, each in its own module with one job, run in order by
//! `optimize`. Every pass takes a well-formed trace and returns one (`Trace::check`).
//!
//! Owns: the pass order. Must never: change what a trace computes or where it leaves.

pub mod cse;
pub mod dce;
pub mod fold;
pub mod hoist;
pub mod loads;

use crate::ir::Trace;

/// Runs every pass: folding first (it exposes identical instructions), then CSE, redundant
/// loads, the removal of what became dead, and constants moved before the loop.
pub fn optimize(trace: &Trace) -> Trace {
    hoist::hoist(&dce::dce(&loads::loads(&cse::cse(&fold::fold(trace)))))
}

/// Test helper: runs `pass` on the trace `input` and compares the result, which must be
/// well-formed, with `expected` (both as text).
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_pass(pass: fn(&Trace) -> Trace, input: &str, expected: &str) {
    let out = pass(&crate::text::parse(input).unwrap());
    out.check().unwrap();
    assert_eq!(crate::text::print(&out), expected);
}

#[cfg(test)]
mod tests {
    use crate::text::{parse, print};

    #[test]
    fn the_passes_together_on_a_counting_loop() {
        // `[i < n] whileTrue: [i := i + 1]` as recorded: type guards and unboxing repeated
        // for every use, a constant recorded twice.
        let recorded = "\
%0 = input #1
%1 = input #2
loop
guard_int %0 @0
%4 = unbox_int %0
guard_int %1 @0
%6 = unbox_int %1
%7 = lt_int %4 %6
guard_true %7 @0
guard_int %0 @1
%10 = unbox_int %0
%11 = const_int #1
%12 = add_ov %10 %11 @1
%13 = box_int %12
%14 = const_int #1
phi %0 %13
jump
@0: 0x100 [0] %0 %1
@1: 0x100 [5] %0 %1
";
        let optimized = super::optimize(&parse(recorded).unwrap());
        optimized.check().unwrap();
        assert_eq!(
            print(&optimized),
            "\
%0 = const_int #1
%1 = input #1
%2 = input #2
loop
guard_int %1 @0
%5 = unbox_int %1
guard_int %2 @0
%7 = unbox_int %2
%8 = lt_int %5 %7
guard_true %8 @0
%10 = add_ov %5 %0 @1
%11 = box_int %10
phi %1 %11
jump
@0: 0x100 [0] %1 %2
@1: 0x100 [5] %1 %2
"
        );
    }
}
