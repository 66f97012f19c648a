//! The bytecode interpreter: one dispatch loop over an explicit stack of activations.
//!
//! Owns: frame entry and exit, the handlers of every bytecode, and unwinding (non-local
//! return, errors, exit). A SOM send to a method with code, or an evaluation of a block,
//! pushes a frame and continues the same loop — no Rust recursion per SOM call. Only
//! primitives that call back into SOM (`perform:`, `doesNotUnderstand:` handling, …) nest a
//! new loop through `Engine::run_code`. Must never: keep a value in a Rust local across a
//! send or a safepoint (the GC moves objects); values live on the value stack.

use lang::compile::hir::Code;
use lang::runtime::class::Class;
use lang::runtime::control;
use lang::runtime::dispatch::{self, MAX_PRIMITIVE_ARGS};
use lang::runtime::engine::{Result, Unwind};
use lang::runtime::method::{Method, MethodBody};
use lang::runtime::object;
use lang::runtime::universe::NO_PC;
use lang::runtime::value::Value;

use crate::bytecode::{Op, DECODE};
use crate::method::BcMethod;
use crate::BcEngine;

/// Where execution continues in a caller: after the send at the recorded pc. Every
/// instruction that can push an activation is a send-like one of this length.
const RESUME_AFTER_SEND: usize = Op::Send.length();
const _: () = assert!(
    Op::SuperSend.length() == RESUME_AFTER_SEND
        && Op::Add.length() == RESUME_AFTER_SEND
        && Op::Equal.length() == RESUME_AFTER_SEND
);

#[inline(always)]
fn u8_at(code: &[u8], pc: usize) -> usize {
    code[pc] as usize
}

#[inline(always)]
fn u16_at(code: &[u8], pc: usize) -> usize {
    u16::from_le_bytes([code[pc], code[pc + 1]]) as usize
}

impl BcEngine {
    /// The verified bytecode of a method, compiled on its first call.
    #[inline(always)]
    pub(crate) fn code_of(&mut self, method: &'static Method) -> Result<&'static BcMethod> {
        match method.engine_index.get() {
            0 => self.compile(method),
            i => Ok(self.compiled[i as usize - 1]),
        }
    }

    #[inline(never)]
    fn compile(&mut self, method: &'static Method) -> Result<&'static BcMethod> {
        let code: &Code = method.code().expect("only methods with code are compiled");
        let compiled =
            crate::compiler::compile(&mut self.u, method, code).map_err(|e| self.u.error(e.0))?;
        if let Err(e) = crate::verifier::verify(&compiled) {
            return Err(self.u.error(format!(
                "internal error: {} failed verification: {e}",
                method.display_name()
            )));
        }
        let any = method.engine_code.get_or_init(|| Box::new(compiled));
        let code: &'static BcMethod = any
            .downcast_ref()
            .expect("bytecode on a method run by the bytecode engine");
        self.compiled.push(code);
        method.engine_index.set(self.compiled.len() as u32);
        Ok(code)
    }

    /// Pushes an activation of `method` whose receiver (or block) and arguments are the top
    /// `nargs + 1` values of the stack.
    fn enter(&mut self, method: &'static Method, nargs: usize) -> Result<()> {
        let fp = self.u.stack.len() - nargs - 1;
        let code = match self.code_of(method) {
            Ok(c) => c,
            Err(e) => {
                self.u.stack.truncate(fp);
                return Err(e);
            }
        };
        self.u.safepoint();
        if let Err(e) = self.u.push_frame(method, code.line, fp) {
            self.u.stack.truncate(fp);
            return Err(e);
        }
        let nil = self.u.nil;
        self.u.stack.resize(fp + code.frame_slots, nil);
        if code.is_block {
            let block = self.u.stack[fp];
            self.u.stack[fp + code.self_slot] = object::value_at(block, object::BLOCK_RECEIVER);
            if code.context_size == 0 {
                self.u.stack[fp + code.head_slot] = object::value_at(block, object::BLOCK_OUTER);
            }
        }
        if code.context_size > 0 {
            let outer = if code.is_block {
                object::value_at(self.u.stack[fp], object::BLOCK_OUTER)
            } else {
                nil
            };
            let ctx = self.u.new_context(outer, code.context_size)?;
            for &(slot, index) in &code.captured_params {
                object::init_value_at(ctx, index as usize, self.u.stack[fp + slot as usize]);
            }
            self.u.stack[fp + code.context_slot] = ctx;
        }
        Ok(())
    }

    /// Pops the current activation; its value stack ends at its frame pointer.
    fn leave(&mut self) {
        let base = self.u.frames.last().expect("a frame to leave").base;
        self.u.pop_frame();
        self.u.stack.truncate(base);
    }

    /// Runs `method` to completion: the entry point for sends from the runtime.
    pub(crate) fn execute(&mut self, method: &'static Method, nargs: usize) -> Result<Value> {
        let entry = self.u.frames.len();
        let base = self.u.stack.len() - nargs - 1;
        self.enter(method, nargs)?;
        loop {
            match self.run(entry) {
                Ok(v) => return Ok(v),
                Err(Unwind::NonLocalReturn { home, value }) => {
                    match self.u.frames[entry..].iter().rposition(|f| f.id == home) {
                        Some(i) => {
                            // The home activation returns `value` to its caller.
                            let home_index = entry + i;
                            while self.u.frames.len() > home_index {
                                self.leave();
                            }
                            if home_index == entry {
                                return Ok(value);
                            }
                            self.u.stack.push(value);
                        }
                        None => {
                            self.unwind_to(entry, base);
                            return Err(Unwind::NonLocalReturn { home, value });
                        }
                    }
                }
                Err(e) => {
                    self.unwind_to(entry, base);
                    return Err(e);
                }
            }
        }
    }

    fn unwind_to(&mut self, entry: usize, base: usize) {
        while self.u.frames.len() > entry {
            self.u.pop_frame();
        }
        self.u.stack.truncate(base);
    }

    /// The error for a non-Boolean reaching an inlined test at `pc`.
    fn not_boolean(&mut self, code: &BcMethod, pc: usize, v: Value) -> Unwind {
        let line = code.lines[pc];
        control::not_boolean(&mut self.u, v, code.jump_selector(pc), line)
    }

    /// The dispatch loop. Runs until the activation at depth `entry` returns.
    fn run(&mut self, entry: usize) -> Result<Value> {
        let mut code: &'static BcMethod;
        let mut bytes: &'static [u8];
        let mut fp: usize;
        let mut pc: usize;
        // Loads the state of the activation on top: a new one starts at 0, a caller
        // continues after the send it recorded.
        macro_rules! reload {
            () => {{
                let f = *self.u.frames.last().expect("a frame to run");
                code = self.compiled[f.method.engine_index.get() as usize - 1];
                bytes = &code.code;
                fp = f.base;
                pc = if f.pc == NO_PC {
                    0
                } else {
                    f.pc as usize + RESUME_AFTER_SEND
                };
            }};
        }
        macro_rules! save_pc {
            ($at:expr) => {{
                self.u.set_pc($at as u32);
            }};
        }
        reload!();
        loop {
            let at = pc;
            let op = DECODE[bytes[pc] as usize];
            #[cfg(feature = "dispatch-counts")]
            self.counts.record(op);
            pc += op.length();
            match op {
                Op::PushSlot => {
                    let v = self.u.stack[fp + u8_at(bytes, at + 1)];
                    self.u.stack.push(v);
                }
                Op::StoreSlot => {
                    let v = *self.u.stack.last().unwrap();
                    self.u.stack[fp + u8_at(bytes, at + 1)] = v;
                }
                Op::PopSlot => {
                    let v = self.u.stack.pop().unwrap();
                    self.u.stack[fp + u8_at(bytes, at + 1)] = v;
                }
                Op::PushContext => {
                    let ctx = self.context(code, fp, u8_at(bytes, at + 1));
                    let v = object::values(ctx)[u8_at(bytes, at + 2)];
                    self.u.stack.push(v);
                }
                Op::StoreContext => {
                    let ctx = self.context(code, fp, u8_at(bytes, at + 1));
                    let v = *self.u.stack.last().unwrap();
                    let index = u8_at(bytes, at + 2);
                    self.u.store(ctx, index, v);
                }
                Op::PushField => {
                    let receiver = self.u.stack[fp];
                    let v = object::value_at(receiver, u8_at(bytes, at + 1));
                    self.u.stack.push(v);
                }
                Op::StoreField => {
                    let receiver = self.u.stack[fp];
                    let v = *self.u.stack.last().unwrap();
                    self.u.store(receiver, u8_at(bytes, at + 1), v);
                }
                Op::PushFieldOf => {
                    let obj = self.u.stack.pop().unwrap();
                    let i = u8_at(bytes, at + 1);
                    let v = match Class::try_from_value(obj) {
                        Some(class) => class.class_side_values.borrow()[i],
                        None => object::value_at(obj, i),
                    };
                    self.u.stack.push(v);
                }
                Op::StoreFieldOf => {
                    let obj = self.u.stack.pop().unwrap();
                    let v = *self.u.stack.last().unwrap();
                    let i = u8_at(bytes, at + 1);
                    match Class::try_from_value(obj) {
                        Some(class) => class.class_side_values.borrow_mut()[i] = v,
                        None => self.u.store(obj, i, v),
                    }
                }
                Op::PushConst => {
                    let v = code.literals[u16_at(bytes, at + 1)];
                    self.u.stack.push(v);
                }
                Op::PushNil => {
                    let v = self.u.nil;
                    self.u.stack.push(v);
                }
                Op::PushTrue => {
                    let v = self.u.true_;
                    self.u.stack.push(v);
                }
                Op::PushFalse => {
                    let v = self.u.false_;
                    self.u.stack.push(v);
                }
                Op::PushGlobal => {
                    let cache = &code.globals[u16_at(bytes, at + 1)];
                    let v = match cache.read(&mut self.u) {
                        Some(v) => v,
                        None => {
                            let receiver = self.u.stack[fp + code.self_slot];
                            save_pc!(at);
                            dispatch::unknown_global(self, receiver, cache.name)?
                        }
                    };
                    self.u.stack.push(v);
                }
                Op::PushBlock => {
                    let method = Method::from_value(code.literals[u16_at(bytes, at + 1)]);
                    let outer = if code.context_size > 0 || code.is_block {
                        self.u.stack[fp + code.head_slot]
                    } else {
                        self.u.nil
                    };
                    let receiver = self.u.stack[fp + code.self_slot];
                    let home = if code.is_block {
                        object::value_at(self.u.stack[fp], object::BLOCK_HOME).small_int_unchecked()
                            as u64
                    } else {
                        self.u.frames.last().expect("a running frame").id
                    };
                    let block = self.u.new_block(method, outer, receiver, home)?;
                    self.u.stack.push(block);
                }
                Op::Pop => {
                    self.u.stack.pop();
                }
                Op::Dup => {
                    let v = *self.u.stack.last().unwrap();
                    self.u.stack.push(v);
                }
                Op::Send => {
                    let site = &code.sites[u16_at(bytes, at + 1)];
                    let nargs = site.nargs;
                    let receiver = self.u.stack[self.u.stack.len() - nargs - 1];
                    let class = self.u.class_of(receiver);
                    save_pc!(at);
                    let method = site.cache.lookup(&mut self.u, class, site.selector);
                    if self.perform(method, site.selector, nargs)? {
                        reload!();
                    }
                }
                Op::SuperSend => {
                    let site = &code.sites[u16_at(bytes, at + 1)];
                    let nargs = site.nargs;
                    save_pc!(at);
                    let method = site.super_cache.lookup(&mut self.u, site.selector);
                    if self.perform(method, site.selector, nargs)? {
                        reload!();
                    }
                }
                Op::Add
                | Op::Subtract
                | Op::Multiply
                | Op::LessThan
                | Op::GreaterThan
                | Op::LessOrEqual
                | Op::GreaterOrEqual
                | Op::Equal => {
                    let site = &code.sites[u16_at(bytes, at + 1)];
                    let len = self.u.stack.len();
                    let (l, r) = (self.u.stack[len - 2], self.u.stack[len - 1]);
                    if let Some(v) = self.arithmetic(op, site.int_fast, site.double_fast, l, r) {
                        self.u.stack.truncate(len - 2);
                        self.u.stack.push(v);
                    } else {
                        let class = self.u.class_of(l);
                        save_pc!(at);
                        let method = site.cache.lookup(&mut self.u, class, site.selector);
                        if self.perform(method, site.selector, 1)? {
                            reload!();
                        }
                    }
                }
                Op::Return => {
                    let v = self.u.stack.pop().unwrap();
                    self.leave();
                    if self.u.frames.len() == entry {
                        return Ok(v);
                    }
                    self.u.stack.push(v);
                    reload!();
                }
                Op::ReturnNonLocal => {
                    let v = self.u.stack.pop().unwrap();
                    let block = self.u.stack[fp];
                    let home =
                        object::value_at(block, object::BLOCK_HOME).small_int_unchecked() as u64;
                    if self.u.frame_alive(home) {
                        return Err(Unwind::NonLocalReturn { home, value: v });
                    }
                    // The home method has returned: its receiver is told, and the block
                    // answers what `escapedBlock:` answers.
                    let receiver = object::value_at(block, object::BLOCK_RECEIVER);
                    self.u.stack.push(receiver);
                    self.u.stack.push(block);
                    save_pc!(at);
                    let sel = self.u.symbols.escaped_block;
                    let answer = dispatch::send(self, sel, 1)?;
                    self.leave();
                    if self.u.frames.len() == entry {
                        return Ok(answer);
                    }
                    self.u.stack.push(answer);
                    reload!();
                }
                Op::PopField => {
                    let receiver = self.u.stack[fp];
                    let v = self.u.stack.pop().unwrap();
                    self.u.store(receiver, u8_at(bytes, at + 1), v);
                }
                Op::ReturnSlot => {
                    let v = self.u.stack[fp + u8_at(bytes, at + 1)];
                    self.leave();
                    if self.u.frames.len() == entry {
                        return Ok(v);
                    }
                    self.u.stack.push(v);
                    reload!();
                }
                Op::IncrementSlot => {
                    let slot = fp + u8_at(bytes, at + 1);
                    let v = self.u.stack[slot];
                    match v
                        .small_add(Value::small_int(1))
                        .filter(|_| v.is_small_int())
                    {
                        Some(n) => self.u.stack[slot] = n,
                        None => {
                            // Not a small integer, or overflow: the real send of `+`.
                            let site = &code.sites[u16_at(bytes, at + 2)];
                            save_pc!(at);
                            self.u.stack.push(v);
                            self.u.stack.push(Value::small_int(1));
                            let n = dispatch::send(self, site.selector, 1)?;
                            self.u.stack[slot] = n;
                        }
                    }
                }
                Op::Invalid => unreachable!("the verifier rejects invalid opcodes"),
                Op::Jump => pc += u16_at(bytes, at + 1),
                Op::JumpBack => {
                    pc -= u16_at(bytes, at + 1);
                    self.u.safepoint();
                }
                Op::JumpIfTrue | Op::JumpIfFalse => {
                    let v = self.u.stack.pop().unwrap();
                    let jump_on = if op == Op::JumpIfTrue {
                        self.u.true_
                    } else {
                        self.u.false_
                    };
                    if v == jump_on {
                        pc += u16_at(bytes, at + 1);
                    } else if v != self.u.true_ && v != self.u.false_ {
                        save_pc!(at);
                        return Err(self.not_boolean(code, at, v));
                    }
                }
                Op::JumpIfNil => {
                    let v = self.u.stack.pop().unwrap();
                    if v == self.u.nil {
                        pc += u16_at(bytes, at + 1);
                    }
                }
                Op::JumpIfNotNil => {
                    let v = self.u.stack.pop().unwrap();
                    if v != self.u.nil {
                        pc += u16_at(bytes, at + 1);
                    }
                }
                Op::ForTest => {
                    let c = fp + u8_at(bytes, at + 1);
                    let (i, end, step) =
                        (self.u.stack[c], self.u.stack[c + 1], self.u.stack[c + 2]);
                    let go = match (i.as_small_int(), end.as_small_int(), step.as_small_int()) {
                        (Some(_), Some(_), Some(0)) => {
                            save_pc!(at);
                            return Err(control::zero_step(&mut self.u, code.lines[at]));
                        }
                        (Some(i), Some(end), Some(step)) => {
                            (step > 0 && i <= end) || (step < 0 && i >= end)
                        }
                        _ => {
                            save_pc!(at);
                            self.generic_loop_test(c, code.lines[at])?
                        }
                    };
                    if !go {
                        pc += u16_at(bytes, at + 2);
                    }
                }
                Op::ForNext => {
                    let c = fp + u8_at(bytes, at + 1);
                    let (i, step) = (self.u.stack[c], self.u.stack[c + 2]);
                    let small = match (i.as_small_int(), step.as_small_int()) {
                        (Some(i), Some(s)) => i.checked_add(s).and_then(Value::try_small_int),
                        _ => None,
                    };
                    // Past the small integers the counter goes on as a big one: the end of
                    // the loop may be a big integer too.
                    let next = match small {
                        Some(n) => n,
                        None => {
                            save_pc!(at);
                            self.u.stack.push(i);
                            self.u.stack.push(step);
                            let plus = self.plus;
                            dispatch::send(self, plus, 1)?
                        }
                    };
                    self.u.stack[c] = next;
                    pc -= u16_at(bytes, at + 2);
                    self.u.safepoint();
                }
                Op::TimesInit => {
                    let v = self.u.stack.pop().unwrap();
                    if !v.is_small_int() {
                        save_pc!(at);
                        return Err(control::times_repeat_not_integer(
                            &mut self.u,
                            v,
                            code.lines[at],
                        ));
                    }
                    self.u.stack[fp + u8_at(bytes, at + 1)] = v;
                }
                Op::TimesTest => {
                    let k = fp + u8_at(bytes, at + 1);
                    let left = self.u.stack[k].small_int_unchecked();
                    if left <= 0 {
                        pc += u16_at(bytes, at + 2);
                    } else {
                        self.u.stack[k] = Value::small_int(left - 1);
                    }
                }
            }
        }
    }

    /// The end of every send: runs the method found, or `doesNotUnderstand:arguments:`.
    /// Answers true when a new activation was pushed.
    #[inline(always)]
    fn perform(
        &mut self,
        method: Option<&'static Method>,
        selector: Value,
        nargs: usize,
    ) -> Result<bool> {
        match method {
            Some(m) => self.call(m, nargs),
            None => {
                let v = dispatch::does_not_understand(self, selector, nargs)?;
                self.u.stack.push(v);
                Ok(false)
            }
        }
    }

    /// Invokes `m` for a send whose receiver and arguments are on the stack. Answers true when
    /// a new activation was pushed (the loop continues in it), false when the result is
    /// already on the stack (primitives).
    #[inline]
    fn call(&mut self, m: &'static Method, nargs: usize) -> Result<bool> {
        if let Some(v) = dispatch::run_trivial(&mut self.u, m, nargs) {
            self.u.stack.push(v);
            return Ok(false);
        }
        match &m.body {
            MethodBody::Code(_) => {
                self.enter(m, nargs)?;
                Ok(true)
            }
            // Only a real block: a library on the classpath may give other receivers the
            // block primitives (`Integer = Block (...)`), and the primitive reports that.
            MethodBody::Primitive(_, index)
                if self.block_primitives[*index] && {
                    let receiver = self.u.stack[self.u.stack.len() - nargs - 1];
                    receiver.is_ref() && object::kind(receiver) == lang::gc::Kind::Block
                } =>
            {
                let block = self.u.stack[self.u.stack.len() - nargs - 1];
                let method = Method::from_value(object::value_at(block, object::BLOCK_METHOD));
                if method.params != nargs {
                    // The runtime words the arity error the same way for every engine.
                    let v = dispatch::call_block(self, nargs)?;
                    self.u.stack.push(v);
                    return Ok(false);
                }
                self.enter(method, nargs)?;
                Ok(true)
            }
            _ => {
                debug_assert!(nargs < MAX_PRIMITIVE_ARGS);
                let v = dispatch::invoke(self, m, nargs)?;
                self.u.stack.push(v);
                Ok(false)
            }
        }
    }

    /// The context at `level` from this activation's chain head.
    #[inline(always)]
    fn context(&self, code: &BcMethod, fp: usize, level: usize) -> Value {
        let mut ctx = self.u.stack[fp + code.head_slot];
        for _ in 0..level {
            ctx = object::value_at(ctx, object::CONTEXT_OUTER);
        }
        ctx
    }

    /// Arithmetic and comparisons on small integers and immediate doubles, as the primitives
    /// would compute them; `None` means "send the message".
    #[inline(always)]
    fn arithmetic(
        &mut self,
        op: Op,
        int_fast: bool,
        double_fast: bool,
        l: Value,
        r: Value,
    ) -> Option<Value> {
        if int_fast && l.is_small_int() && r.is_small_int() {
            let (x, y) = (l.small_int_unchecked(), r.small_int_unchecked());
            return Some(match op {
                Op::Add => l.small_add(r)?,
                Op::Subtract => l.small_sub(r)?,
                Op::Multiply => Value::try_small_int(x.checked_mul(y)?)?,
                Op::LessThan => self.u.boolean(x < y),
                Op::GreaterThan => self.u.boolean(x > y),
                Op::LessOrEqual => self.u.boolean(x <= y),
                Op::GreaterOrEqual => self.u.boolean(x >= y),
                _ => self.u.boolean(x == y),
            });
        }
        if double_fast && l.is_immediate_double() && r.is_immediate_double() {
            let (x, y) = (
                l.immediate_double_unchecked(),
                r.immediate_double_unchecked(),
            );
            return Some(match op {
                Op::Add => self.u.double(x + y),
                Op::Subtract => self.u.double(x - y),
                Op::Multiply => self.u.double(x * y),
                Op::LessThan => self.u.boolean(x < y),
                Op::GreaterThan => self.u.boolean(x > y),
                Op::LessOrEqual => self.u.boolean(x <= y),
                Op::GreaterOrEqual => self.u.boolean(x >= y),
                _ => self.u.boolean(x == y),
            });
        }
        None
    }

    /// The loop test of an inlined `to:do:` over numbers other than small integers: by
    /// sends of `<=` (or `>=` for a negative step), as the AST engine does.
    fn generic_loop_test(&mut self, c: usize, line: u32) -> Result<bool> {
        let (i, end, step) = (self.u.stack[c], self.u.stack[c + 1], self.u.stack[c + 2]);
        let descending = control::step_descends(&mut self.u, step, line)?;
        self.u.stack.push(i);
        self.u.stack.push(end);
        let sel = if descending {
            self.greater_or_equal
        } else {
            self.less_or_equal
        };
        let answer = dispatch::send(self, sel, 1)?;
        Ok(answer == self.u.true_)
    }
}
