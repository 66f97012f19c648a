//! Evaluation of the node tree.
//!
//! Owns: what each node does when run, on the frame whose slot 0 is at `fp` in the value
//! stack. Must never: hold a value in a Rust local across the evaluation of a child that can
//! send (the GC may move it) — such values are pushed on the value stack first.

use lang::compile::hir::Test;
use lang::runtime::class::Class;
use lang::runtime::control;
use lang::runtime::dispatch;
use lang::runtime::engine::{Result, Unwind};
use lang::runtime::method::Method;
use lang::runtime::object;
use lang::runtime::value::Value;

use crate::node::{
    ArithNode, ArithOp, Head, IfNode, Node, Place, SendNode, SuperSendNode, ToDoNode,
};
use crate::AstEngine;

impl AstEngine {
    #[inline(always)]
    fn receiver(&self, fp: usize, in_block: bool) -> Value {
        let slot0 = self.u.stack[fp];
        if in_block {
            object::value_at(slot0, object::BLOCK_RECEIVER)
        } else {
            slot0
        }
    }

    #[inline(always)]
    fn head(&self, fp: usize, head: Head) -> Value {
        match head {
            Head::Own(slot) => self.u.stack[fp + slot as usize],
            Head::BlockOuter => object::value_at(self.u.stack[fp], object::BLOCK_OUTER),
            Head::Nil => self.u.nil,
        }
    }

    #[inline(always)]
    fn context(&self, fp: usize, head: Head, level: u32) -> Value {
        let mut ctx = self.head(fp, head);
        for _ in 0..level {
            ctx = object::value_at(ctx, object::CONTEXT_OUTER);
        }
        ctx
    }

    #[inline(always)]
    fn read(&self, fp: usize, place: Place) -> Value {
        match place {
            Place::Slot(s) => self.u.stack[fp + s as usize],
            Place::Context { head, level, index } => {
                object::value_at(self.context(fp, head, level), index as usize)
            }
        }
    }

    #[inline(always)]
    fn write(&mut self, fp: usize, place: Place, v: Value) {
        match place {
            Place::Slot(s) => self.u.stack[fp + s as usize] = v,
            Place::Context { head, level, index } => {
                let ctx = self.context(fp, head, level);
                self.u.store(ctx, index as usize, v);
            }
        }
    }

    /// The id of the method activation a `^` in this frame returns from.
    fn home_id(&self, fp: usize, in_block: bool) -> u64 {
        if in_block {
            object::value_at(self.u.stack[fp], object::BLOCK_HOME).small_int_unchecked() as u64
        } else {
            self.u.frames.last().map(|f| f.id).unwrap_or(0)
        }
    }

    pub(crate) fn eval(&mut self, node: &Node, fp: usize) -> Result<Value> {
        #[cfg(feature = "dispatch-counts")]
        self.counts.record(node.kind_index());
        match node {
            Node::Const(v) => Ok(*v),
            Node::SelfRef { in_block } => Ok(self.receiver(fp, *in_block)),
            Node::Read(place) => Ok(self.read(fp, *place)),
            Node::Write(place, value) => {
                let v = self.eval(value, fp)?;
                self.write(fp, *place, v);
                Ok(v)
            }
            Node::ReadField {
                index,
                in_block,
                class_side,
            } => {
                let r = self.receiver(fp, *in_block);
                Ok(if *class_side {
                    Class::from_value(r).class_side_values.borrow()[*index as usize]
                } else {
                    object::value_at(r, *index as usize)
                })
            }
            Node::WriteField {
                index,
                in_block,
                class_side,
                value,
            } => {
                let v = self.eval(value, fp)?;
                let r = self.receiver(fp, *in_block);
                if *class_side {
                    Class::from_value(r).class_side_values.borrow_mut()[*index as usize] = v;
                } else {
                    self.u.store(r, *index as usize, v);
                }
                Ok(v)
            }
            Node::Global(g) => match g.cache.read(&mut self.u) {
                Some(v) => Ok(v),
                None => {
                    let receiver = self.receiver(fp, g.in_block);
                    self.u.set_line(g.line);
                    dispatch::unknown_global(self, receiver, g.cache.name)
                }
            },
            Node::Send(s) => self.send(s, fp),
            Node::SuperSend(s) => self.super_send(s, fp),
            Node::Arith(a) => self.arith(a, fp),
            Node::Block {
                method,
                head,
                in_block,
            } => {
                let outer = self.head(fp, *head);
                let receiver = self.receiver(fp, *in_block);
                let home = self.home_id(fp, *in_block);
                self.u.new_block(method, outer, receiver, home)
            }
            Node::Return(value) => {
                let v = self.eval(value, fp)?;
                let home = self.home_id(fp, false);
                Err(Unwind::NonLocalReturn { home, value: v })
            }
            Node::NonLocalReturn(value, line) => self.non_local_return(value, *line, fp),
            Node::Seq(items) => {
                let (last, rest) = items.split_last().expect("sequences are never empty");
                for item in rest {
                    self.eval(item, fp)?;
                }
                self.eval(last, fp)
            }
            Node::If(i) => self.eval_if(i, fp),
            Node::While {
                cond,
                line,
                while_true,
                body,
            } => {
                loop {
                    let c = self.eval(cond, fp)?;
                    if c == self.u.true_ {
                        if !*while_true {
                            break;
                        }
                    } else if c == self.u.false_ {
                        if *while_true {
                            break;
                        }
                    } else {
                        let sel = control::while_selector(*while_true);
                        return Err(control::not_boolean(&mut self.u, c, sel, *line));
                    }
                    self.eval(body, fp)?;
                    self.u.safepoint();
                }
                Ok(self.u.nil)
            }
            Node::ToDo(t) => self.eval_to_do(t, fp),
            Node::TimesRepeat { count, line, body } => {
                let n = self.eval(count, fp)?;
                let Some(times) = n.as_small_int() else {
                    return Err(control::times_repeat_not_integer(&mut self.u, n, *line));
                };
                self.u.stack.push(n);
                for _ in 0..times.max(0) {
                    self.eval(body, fp)?;
                    self.u.safepoint();
                }
                Ok(self.u.stack.pop().unwrap())
            }
            Node::AndOr {
                left,
                line,
                right,
                and,
            } => {
                let l = self.eval(left, fp)?;
                if l == self.u.true_ {
                    if *and {
                        self.eval(right, fp)
                    } else {
                        Ok(l)
                    }
                } else if l == self.u.false_ {
                    if *and {
                        Ok(l)
                    } else {
                        self.eval(right, fp)
                    }
                } else {
                    let sel = control::and_or_selector(*and);
                    Err(control::not_boolean(&mut self.u, l, sel, *line))
                }
            }
        }
    }

    /// Evaluates receiver and arguments onto the stack, then sends through the inline cache.
    #[inline]
    fn send(&mut self, s: &SendNode, fp: usize) -> Result<Value> {
        let r = self.eval(&s.receiver, fp)?;
        self.u.stack.push(r);
        self.send_from_args(s, fp)
    }

    /// The rest of a send once the receiver is on the stack: the point at which a send can
    /// be resumed with its receiver already evaluated.
    #[inline]
    fn send_from_args(&mut self, s: &SendNode, fp: usize) -> Result<Value> {
        for a in s.args.iter() {
            let v = self.eval(a, fp)?;
            self.u.stack.push(v);
        }
        self.dispatch(s)
    }

    #[inline]
    fn dispatch(&mut self, s: &SendNode) -> Result<Value> {
        let nargs = s.args.len();
        let receiver = self.u.stack[self.u.stack.len() - nargs - 1];
        let class = self.u.class_of(receiver);
        self.u.set_line(s.line);
        match s.cache.lookup(&mut self.u, class, s.selector) {
            Some(m) => match dispatch::run_trivial(&mut self.u, m, nargs) {
                Some(v) => Ok(v),
                None => dispatch::invoke(self, m, nargs),
            },
            None => dispatch::does_not_understand(self, s.selector, nargs),
        }
    }

    fn super_send(&mut self, s: &SuperSendNode, fp: usize) -> Result<Value> {
        let r = self.receiver(fp, s.in_block);
        self.u.stack.push(r);
        for a in s.args.iter() {
            let v = self.eval(a, fp)?;
            self.u.stack.push(v);
        }
        self.u.set_line(s.line);
        let nargs = s.args.len();
        let method = s.cache.lookup(&mut self.u, s.selector);
        match method {
            Some(m) => match dispatch::run_trivial(&mut self.u, m, nargs) {
                Some(v) => Ok(v),
                None => dispatch::invoke(self, m, nargs),
            },
            None => dispatch::does_not_understand(self, s.selector, nargs),
        }
    }

    /// Arithmetic and comparisons: small integers and doubles directly, anything else (and
    /// overflow) as the real send.
    fn arith(&mut self, a: &ArithNode, fp: usize) -> Result<Value> {
        let l = self.eval(&a.send.receiver, fp)?;
        self.u.stack.push(l);
        let r = self.eval(&a.send.args[0], fp)?;
        let l = *self.u.stack.last().unwrap();
        if a.int_fast && l.is_small_int() && r.is_small_int() {
            if let Some(v) = self.int_op(a.op, l, r) {
                self.u.stack.pop();
                return Ok(v);
            }
        } else if a.double_fast && l.is_immediate_double() && r.is_immediate_double() {
            let (x, y) = (
                l.immediate_double_unchecked(),
                r.immediate_double_unchecked(),
            );
            let v = match a.op {
                ArithOp::Add => self.u.double(x + y),
                ArithOp::Sub => self.u.double(x - y),
                ArithOp::Mul => self.u.double(x * y),
                ArithOp::Lt => self.u.boolean(x < y),
                ArithOp::Gt => self.u.boolean(x > y),
                ArithOp::Le => self.u.boolean(x <= y),
                ArithOp::Ge => self.u.boolean(x >= y),
                ArithOp::Eq => self.u.boolean(x == y),
            };
            self.u.stack.pop();
            return Ok(v);
        }
        self.u.stack.push(r);
        self.dispatch(&a.send)
    }

    #[inline(always)]
    fn int_op(&self, op: ArithOp, l: Value, r: Value) -> Option<Value> {
        let (x, y) = (l.small_int_unchecked(), r.small_int_unchecked());
        Some(match op {
            ArithOp::Add => l.small_add(r)?,
            ArithOp::Sub => l.small_sub(r)?,
            ArithOp::Mul => Value::try_small_int(x.checked_mul(y)?)?,
            ArithOp::Lt => self.u.boolean(x < y),
            ArithOp::Gt => self.u.boolean(x > y),
            ArithOp::Le => self.u.boolean(x <= y),
            ArithOp::Ge => self.u.boolean(x >= y),
            ArithOp::Eq => self.u.boolean(x == y),
        })
    }

    fn eval_if(&mut self, i: &IfNode, fp: usize) -> Result<Value> {
        let v = self.eval(&i.value, fp)?;
        let holds = match i.test {
            Test::IsTrue | Test::IsFalse => {
                let b = if v == self.u.true_ {
                    true
                } else if v == self.u.false_ {
                    false
                } else {
                    let sel = object::str(i.selector);
                    return Err(control::not_boolean(&mut self.u, v, sel, i.line));
                };
                b == (i.test == Test::IsTrue)
            }
            Test::IsNil => v == self.u.nil,
            Test::NotNil => v != self.u.nil,
        };
        if let Some(place) = i.bind {
            self.write(fp, place, v);
        }
        if holds {
            self.eval(&i.then, fp)
        } else if let Some(o) = &i.otherwise {
            self.eval(o, fp)
        } else {
            Ok(match i.test {
                Test::IsTrue | Test::IsFalse => self.u.nil,
                Test::IsNil | Test::NotNil => v,
            })
        }
    }

    fn eval_to_do(&mut self, t: &ToDoNode, fp: usize) -> Result<Value> {
        let base = self.u.stack.len();
        let from = self.eval(&t.from, fp)?;
        self.u.stack.push(from);
        let to = self.eval(&t.to, fp)?;
        self.u.stack.push(to);
        let by = match &t.by {
            Some(b) => self.eval(b, fp)?,
            None => Value::small_int(1),
        };
        self.u.stack.push(by);
        if let (Some(mut i), Some(end), Some(step)) =
            (from.as_small_int(), to.as_small_int(), by.as_small_int())
        {
            if step == 0 {
                return Err(control::zero_step(&mut self.u, t.line));
            }
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                self.write(fp, t.var, Value::small_int(i));
                self.eval(&t.body, fp)?;
                self.u.safepoint();
                match i.checked_add(step) {
                    Some(n) if Value::try_small_int(n).is_some() => i = n,
                    _ => break,
                }
            }
        } else {
            self.generic_to_do(t, fp, base)?;
        }
        self.u.stack.truncate(base);
        Ok(from)
    }

    /// `to:do:` over other numbers (doubles, big integers): the counter lives on the stack
    /// and advances by real sends of `+` and `<=` / `>=`.
    fn generic_to_do(&mut self, t: &ToDoNode, fp: usize, base: usize) -> Result<()> {
        let (le, ge, plus) = (self.u.intern("<="), self.u.intern(">="), self.u.intern("+"));
        let step = self.u.stack[base + 2];
        let descending = control::step_descends(&mut self.u, step, t.line)?;
        let i = self.u.stack[base];
        self.u.stack.push(i); // the counter, at base + 3
        loop {
            let (i, end) = (self.u.stack[base + 3], self.u.stack[base + 1]);
            self.u.stack.push(i);
            self.u.stack.push(end);
            self.u.set_line(t.line);
            let go = dispatch::send(self, if descending { ge } else { le }, 1)?;
            if go != self.u.true_ {
                break;
            }
            let i = self.u.stack[base + 3];
            self.write(fp, t.var, i);
            self.eval(&t.body, fp)?;
            self.u.safepoint();
            let (i, step) = (self.u.stack[base + 3], self.u.stack[base + 2]);
            self.u.stack.push(i);
            self.u.stack.push(step);
            let next = dispatch::send(self, plus, 1)?;
            self.u.stack[base + 3] = next;
        }
        Ok(())
    }

    fn non_local_return(&mut self, value: &Node, line: u32, fp: usize) -> Result<Value> {
        let v = self.eval(value, fp)?;
        let home = self.home_id(fp, true);
        if self.u.frame_alive(home) {
            return Err(Unwind::NonLocalReturn { home, value: v });
        }
        // The home method has returned: tell its receiver, handing it the block.
        let block = self.u.stack[fp];
        let receiver = object::value_at(block, object::BLOCK_RECEIVER);
        self.u.stack.push(receiver);
        self.u.stack.push(block);
        let sel = self.u.symbols.escaped_block;
        self.u.set_line(line);
        dispatch::send(self, sel, 1)
    }
}

/// The AST engine's executable form of a method, built on its first call. Methods are
/// permanent, so the code cached on them lives as long as the program; the engine finds it
/// again through the method's `engine_index`.
#[inline(always)]
pub(crate) fn code_of(
    engine: &mut AstEngine,
    method: &'static Method,
) -> &'static crate::node::AstMethod {
    match method.engine_index.get() {
        0 => build(engine, method),
        i => engine.built[i as usize - 1],
    }
}

#[inline(never)]
fn build(engine: &mut AstEngine, method: &'static Method) -> &'static crate::node::AstMethod {
    let any = method.engine_code.get_or_init(|| {
        let code = method
            .code()
            .expect("run_code is only called for methods with code");
        Box::new(crate::node::AstMethod::build(&mut engine.u, method, code))
    });
    let built: &'static crate::node::AstMethod = any
        .downcast_ref()
        .expect("AST code on a method run by the AST engine");
    engine.built.push(built);
    method.engine_index.set(engine.built.len() as u32);
    built
}
