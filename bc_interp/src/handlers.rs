//! The handler of every bytecode, one function each, shared by all dispatch variants.
//!
//! Owns: what each instruction does to the activation's registers (`Regs`), the value stack
//! and the frames. A handler is entered with `r.pc` at its own instruction and says with
//! `Flow` where the loop goes on: the next instruction, a pc it set, or nowhere (the run is
//! over). Must never: fetch or
//! decode the next instruction (that is the dispatch loop's job, in `dispatch_loop`), or
//! keep a value in a Rust local across a send or a safepoint (the GC moves objects).

use lang::runtime::class::Class;
use lang::runtime::control;
use lang::runtime::dispatch;
use lang::runtime::engine::{Result, Unwind};
use lang::runtime::method::Method;
use lang::runtime::object;
use lang::runtime::value::Value;

use crate::bytecode::{Instr, Op};
use crate::method::BcMethod;
use crate::BcEngine;

/// The dispatch loop's registers: the running activation's code, frame pointer and the pc
/// of the instruction being executed. Kept in machine registers by the `match` variant.
#[derive(Clone, Copy)]
pub(crate) struct Regs {
    pub code: &'static BcMethod,
    pub instrs: &'static [Instr],
    pub fp: usize,
    pub pc: usize,
}

impl Regs {
    /// Continues `distance` instructions after the next one (a forward jump).
    #[inline(always)]
    fn forward(&mut self, distance: u16) -> Result<Flow> {
        self.pc += 1 + distance as usize;
        Ok(Flow::Goto)
    }

    /// Continues `distance` instructions before the next one (a backward jump: a loop
    /// header).
    #[inline(always)]
    fn backward(&mut self, distance: u16) -> Result<Flow> {
        self.pc = self.pc + 1 - distance as usize;
        Ok(Flow::Goto)
    }
}

/// What a handler tells the dispatch loop.
pub(crate) enum Flow {
    /// Go on with the instruction after `r.pc`. (The loop advances `pc`, not the handler,
    /// so that the advance sits in the dispatch sequence that LLVM replicates into every
    /// handler.)
    Next,
    /// Go on with the instruction at `r.pc`, which the handler set (a jump, a call, a return).
    Goto,
    /// The activation the loop was started for has returned this value.
    Done(Value),
    /// Hand over to the other dispatch loop (recording starts or ends) at `r.pc`.
    Switch,
}

/// The signature every handler has, so that they can stand in a table.
pub(crate) type Handler = fn(&mut BcEngine, &mut Regs, Instr) -> Result<Flow>;

/// Every op and its handler; `dispatch_loop` generates both variants from this list.
#[macro_export]
#[doc(hidden)]
macro_rules! with_handlers {
    ($generate:ident) => {
        $generate! {
            PushSlot => push_slot,
            StoreSlot => store_slot,
            PopSlot => pop_slot,
            PushContext => push_context,
            StoreContext => store_context,
            PushField => push_field,
            StoreField => store_field,
            PushFieldOf => push_field_of,
            StoreFieldOf => store_field_of,
            PushConst => push_const,
            PushNil => push_nil,
            PushTrue => push_true,
            PushFalse => push_false,
            PushGlobal => push_global,
            PushBlock => push_block,
            Pop => pop,
            Dup => dup,
            Send => send,
            SuperSend => super_send,
            Add => add,
            Subtract => subtract,
            Multiply => multiply,
            LessThan => less_than,
            GreaterThan => greater_than,
            LessOrEqual => less_or_equal,
            GreaterOrEqual => greater_or_equal,
            Equal => equal,
            Return => return_top,
            ReturnNonLocal => return_non_local,
            Jump => jump,
            JumpBack => jump_back,
            JumpIfTrue => jump_if_boolean,
            JumpIfFalse => jump_if_boolean,
            JumpIfNil => jump_if_nil,
            JumpIfNotNil => jump_if_not_nil,
            ForTest => for_test,
            ForNext => for_next,
            TimesInit => times_init,
            TimesTest => times_test,
            PopField => pop_field,
            ReturnSlot => return_slot,
            IncrementSlot => increment_slot,
        }
    };
}

impl BcEngine {
    #[inline(always)]
    fn save_pc(&mut self, r: &Regs) {
        self.u.set_pc(r.pc as u32);
    }

    /// After a send or block evaluation: continue in the activation it pushed, if any.
    #[inline(always)]
    fn continue_after(&mut self, r: &mut Regs, pushed: bool) -> Result<Flow> {
        if pushed {
            *r = self.top_regs();
            if self.u.options.jit.enabled && r.pc == 0 {
                // A method's entry: it may run as a trace or be recorded.
                let (flow, pc) = self.method_entry(r.code, r.fp)?;
                r.pc = pc;
                return Ok(flow);
            }
            return Ok(Flow::Goto);
        }
        Ok(Flow::Next)
    }

    /// After a back edge, at a loop header: with the JIT on, the loop may run as a trace or
    /// be recorded.
    #[inline(always)]
    fn at_loop_header(&mut self, r: &mut Regs) -> Result<Flow> {
        if self.u.options.jit.enabled {
            let (flow, pc) = self.back_edge(r.code, r.fp, r.pc)?;
            r.pc = pc;
            return Ok(flow);
        }
        Ok(Flow::Goto)
    }

    /// Leaves the running activation with `v`: the run is over, or its caller goes on.
    #[inline(always)]
    fn return_value(&mut self, r: &mut Regs, v: Value, entry: usize) -> Result<Flow> {
        self.leave();
        if self.u.frames.len() == entry {
            return Ok(Flow::Done(v));
        }
        self.u.stack.push(v);
        *r = self.top_regs();
        Ok(Flow::Goto)
    }

    #[inline(always)]
    pub(crate) fn push_slot(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = self.u.stack[r.fp + i.a as usize];
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn store_slot(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = *self.u.stack.last().unwrap();
        self.u.stack[r.fp + i.a as usize] = v;
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn pop_slot(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = self.u.stack.pop().unwrap();
        self.u.stack[r.fp + i.a as usize] = v;
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_context(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let ctx = self.context(r.code, r.fp, i.a as usize);
        let v = object::values(ctx)[i.b as usize];
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn store_context(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let ctx = self.context(r.code, r.fp, i.a as usize);
        let v = *self.u.stack.last().unwrap();
        self.u.store(ctx, i.b as usize, v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_field(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let receiver = self.u.stack[r.fp];
        let v = object::value_at(receiver, i.a as usize);
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn store_field(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let receiver = self.u.stack[r.fp];
        let v = *self.u.stack.last().unwrap();
        self.u.store(receiver, i.a as usize, v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn pop_field(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let receiver = self.u.stack[r.fp];
        let v = self.u.stack.pop().unwrap();
        self.u.store(receiver, i.a as usize, v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_field_of(&mut self, _: &mut Regs, i: Instr) -> Result<Flow> {
        let obj = self.u.stack.pop().unwrap();
        let index = i.a as usize;
        let v = match Class::try_from_value(obj) {
            Some(class) => class.class_side_values.borrow()[index],
            None => object::value_at(obj, index),
        };
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn store_field_of(&mut self, _: &mut Regs, i: Instr) -> Result<Flow> {
        let obj = self.u.stack.pop().unwrap();
        let v = *self.u.stack.last().unwrap();
        let index = i.a as usize;
        match Class::try_from_value(obj) {
            Some(class) => class.class_side_values.borrow_mut()[index] = v,
            None => self.u.store(obj, index, v),
        }
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_const(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = r.code.literals[i.b as usize];
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_nil(&mut self, _: &mut Regs, _: Instr) -> Result<Flow> {
        let v = self.u.nil;
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_true(&mut self, _: &mut Regs, _: Instr) -> Result<Flow> {
        let v = self.u.true_;
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_false(&mut self, _: &mut Regs, _: Instr) -> Result<Flow> {
        let v = self.u.false_;
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_global(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let cache = &r.code.globals[i.b as usize];
        let v = match cache.read(&mut self.u) {
            Some(v) => v,
            None => {
                let receiver = self.u.stack[r.fp + r.code.self_slot];
                self.save_pc(r);
                dispatch::unknown_global(self, receiver, cache.name)?
            }
        };
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn push_block(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let code = r.code;
        let method = Method::from_value(code.literals[i.b as usize]);
        let outer = if code.context_size > 0 || code.is_block {
            self.u.stack[r.fp + code.head_slot]
        } else {
            self.u.nil
        };
        let receiver = self.u.stack[r.fp + code.self_slot];
        let home = if code.is_block {
            object::value_at(self.u.stack[r.fp], object::BLOCK_HOME).small_int_unchecked() as u64
        } else {
            self.u.frames.last().expect("a running frame").id
        };
        let block = self.u.new_block(method, outer, receiver, home)?;
        self.u.stack.push(block);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn pop(&mut self, _: &mut Regs, _: Instr) -> Result<Flow> {
        self.u.stack.pop();
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn dup(&mut self, _: &mut Regs, _: Instr) -> Result<Flow> {
        let v = *self.u.stack.last().unwrap();
        self.u.stack.push(v);
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn send(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let site = &r.code.sites[i.b as usize];
        let nargs = site.nargs;
        let receiver = self.u.stack[self.u.stack.len() - nargs - 1];
        let class = self.u.class_of(receiver);
        self.save_pc(r);
        let method = site.cache.lookup(&mut self.u, class, site.selector);
        let pushed = self.perform(method, site.selector, nargs)?;
        self.continue_after(r, pushed)
    }

    #[inline(always)]
    pub(crate) fn super_send(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let site = &r.code.sites[i.b as usize];
        self.save_pc(r);
        let method = site.super_cache.lookup(&mut self.u, site.selector);
        let pushed = self.perform(method, site.selector, site.nargs)?;
        self.continue_after(r, pushed)
    }

    /// `add` … `equal`: numbers directly, else the site's send. One handler per op, so
    /// that `op` is a constant in each and no handler dispatches a second time.
    #[inline(always)]
    fn arithmetic(&mut self, r: &mut Regs, i: Instr, op: Op) -> Result<Flow> {
        let site = &r.code.sites[i.b as usize];
        let len = self.u.stack.len();
        let (left, right) = (self.u.stack[len - 2], self.u.stack[len - 1]);
        if let Some(v) = self.compute(op, site.int_fast, site.double_fast, left, right) {
            self.u.stack.truncate(len - 2);
            self.u.stack.push(v);
            return Ok(Flow::Next);
        }
        let class = self.u.class_of(left);
        self.save_pc(r);
        let method = site.cache.lookup(&mut self.u, class, site.selector);
        let pushed = self.perform(method, site.selector, 1)?;
        self.continue_after(r, pushed)
    }

    #[inline(always)]
    pub(crate) fn return_top(&mut self, r: &mut Regs, _: Instr) -> Result<Flow> {
        let v = self.u.stack.pop().unwrap();
        let entry = self.entry;
        self.return_value(r, v, entry)
    }

    #[inline(always)]
    pub(crate) fn return_slot(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = self.u.stack[r.fp + i.a as usize];
        let entry = self.entry;
        self.return_value(r, v, entry)
    }

    #[inline(always)]
    pub(crate) fn return_non_local(&mut self, r: &mut Regs, _: Instr) -> Result<Flow> {
        let v = self.u.stack.pop().unwrap();
        let block = self.u.stack[r.fp];
        let home = object::value_at(block, object::BLOCK_HOME).small_int_unchecked() as u64;
        if self.u.frame_alive(home) {
            return Err(Unwind::NonLocalReturn { home, value: v });
        }
        // The home method has returned: its receiver is told, and the block answers what
        // `escapedBlock:` answers.
        let receiver = object::value_at(block, object::BLOCK_RECEIVER);
        self.u.stack.push(receiver);
        self.u.stack.push(block);
        self.save_pc(r);
        let sel = self.u.symbols.escaped_block;
        let answer = dispatch::send(self, sel, 1)?;
        let entry = self.entry;
        self.return_value(r, answer, entry)
    }

    #[inline(always)]
    pub(crate) fn increment_slot(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let slot = r.fp + i.a as usize;
        let v = self.u.stack[slot];
        match v
            .small_add(Value::small_int(1))
            .filter(|_| v.is_small_int())
        {
            Some(n) => self.u.stack[slot] = n,
            None => {
                // Not a small integer, or overflow: the real send of `+`.
                let site = &r.code.sites[i.b as usize];
                self.save_pc(r);
                self.u.stack.push(v);
                self.u.stack.push(Value::small_int(1));
                let n = dispatch::send(self, site.selector, 1)?;
                self.u.stack[slot] = n;
            }
        }
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn jump(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        r.forward(i.b)
    }

    #[inline(always)]
    pub(crate) fn jump_back(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        self.u.safepoint();
        r.backward(i.b)?;
        self.at_loop_header(r)
    }

    /// `jump_if_true` and `jump_if_false`.
    #[inline(always)]
    pub(crate) fn jump_if_boolean(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = self.u.stack.pop().unwrap();
        let jump_on = if i.op == Op::JumpIfTrue {
            self.u.true_
        } else {
            self.u.false_
        };
        if v == jump_on {
            return r.forward(i.b);
        } else if v != self.u.true_ && v != self.u.false_ {
            self.save_pc(r);
            return Err(self.not_boolean(r.code, r.pc, v));
        }
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn jump_if_nil(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = self.u.stack.pop().unwrap();
        if v == self.u.nil {
            return r.forward(i.b);
        }
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn jump_if_not_nil(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = self.u.stack.pop().unwrap();
        if v != self.u.nil {
            return r.forward(i.b);
        }
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn for_test(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let c = r.fp + i.a as usize;
        let (counter, end, step) = (self.u.stack[c], self.u.stack[c + 1], self.u.stack[c + 2]);
        let line = r.code.lines[r.pc];
        let go = match (
            counter.as_small_int(),
            end.as_small_int(),
            step.as_small_int(),
        ) {
            (Some(_), Some(_), Some(0)) => {
                self.save_pc(r);
                return Err(control::zero_step(&mut self.u, line));
            }
            (Some(counter), Some(end), Some(step)) => {
                (step > 0 && counter <= end) || (step < 0 && counter >= end)
            }
            _ => {
                self.save_pc(r);
                self.generic_loop_test(c, line)?
            }
        };
        if !go {
            return r.forward(i.b);
        }
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn for_next(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let c = r.fp + i.a as usize;
        let (counter, step) = (self.u.stack[c], self.u.stack[c + 2]);
        let small = match (counter.as_small_int(), step.as_small_int()) {
            (Some(n), Some(s)) => n.checked_add(s).and_then(Value::try_small_int),
            _ => None,
        };
        // Past the small integers the counter goes on as a big one: the end of the loop
        // may be a big integer too.
        let next = match small {
            Some(n) => n,
            None => {
                self.save_pc(r);
                self.u.stack.push(counter);
                self.u.stack.push(step);
                let plus = self.plus;
                dispatch::send(self, plus, 1)?
            }
        };
        self.u.stack[c] = next;
        self.u.safepoint();
        r.backward(i.b)?;
        self.at_loop_header(r)
    }

    #[inline(always)]
    pub(crate) fn times_init(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let v = self.u.stack.pop().unwrap();
        if !v.is_small_int() {
            self.save_pc(r);
            let line = r.code.lines[r.pc];
            return Err(control::times_repeat_not_integer(&mut self.u, v, line));
        }
        self.u.stack[r.fp + i.a as usize] = v;
        Ok(Flow::Next)
    }

    #[inline(always)]
    pub(crate) fn times_test(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
        let k = r.fp + i.a as usize;
        let left = self.u.stack[k].small_int_unchecked();
        if left <= 0 {
            return r.forward(i.b);
        }
        self.u.stack[k] = Value::small_int(left - 1);
        Ok(Flow::Next)
    }
}

/// The arithmetic handlers, one per op (`op` a constant in each).
macro_rules! arithmetic_handlers {
    ($($name:ident => $op:ident),*) => {
        impl BcEngine {
            $(
                #[inline(always)]
                pub(crate) fn $name(&mut self, r: &mut Regs, i: Instr) -> Result<Flow> {
                    self.arithmetic(r, i, Op::$op)
                }
            )*
        }
    };
}

arithmetic_handlers!(add => Add, subtract => Subtract, multiply => Multiply,
    less_than => LessThan, greater_than => GreaterThan, less_or_equal => LessOrEqual,
    greater_or_equal => GreaterOrEqual, equal => Equal);
