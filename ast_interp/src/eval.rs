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
    ArithNode, ArithOp, Head, IfNode, LoopJit, Node, Place, SendNode, SuperSendNode, TimesNode,
    ToDoNode, WhileNode, AT_HEADER, EVALUATE,
};
use crate::traces::Header;
use crate::AstEngine;

/// Inside the loop of a loop node's function, goes on as a `Header` says — the iteration,
/// a `continue` from where compiled code left, a `return` of the loop's value, or a `return`
/// of `$plain` (the loop in the plain evaluator).
macro_rules! go_on {
    ($header:expr, $at:ident, $plain:expr) => {
        match $header {
            Header::Iterate => {}
            Header::Continue(next) => {
                $at = next;
                continue;
            }
            Header::Done(v) => return Ok(v),
            Header::Plain => return $plain,
        }
    };
}

/// Evaluates a loop's child, going on as `go_on!` when compiled code run inside it left
/// somewhere in this loop (`AstEngine::loop_child`).
macro_rules! loop_child {
    ($engine:ident, $M:ty, ($node:expr, $jit:expr, $child:expr, $c:expr, $fp:expr), $at:ident, $plain:expr) => {
        match $engine.loop_child::<$M>(($node, $jit), $child, $c, $fp)? {
            Ok(v) => v,
            Err(header) => {
                go_on!(header, $at, $plain);
                continue;
            }
        }
    };
}

/// How an evaluation runs: plainly, or recording the loop iteration it is part of. Both are
/// the same code: the recording's calls are compiled into the second only.
pub(crate) trait Mode {
    const RECORDING: bool;
    fn eval(engine: &mut AstEngine, node: &Node, fp: usize) -> Result<Value>;
}

pub(crate) struct Plain;
pub(crate) struct Recorded;

impl Mode for Plain {
    const RECORDING: bool = false;
    #[inline(always)]
    fn eval(engine: &mut AstEngine, node: &Node, fp: usize) -> Result<Value> {
        engine.eval(node, fp)
    }
}

impl Mode for Recorded {
    const RECORDING: bool = true;
    #[inline(always)]
    fn eval(engine: &mut AstEngine, node: &Node, fp: usize) -> Result<Value> {
        engine.eval_recording(node, fp)
    }
}

/// Where a loop goes on: at its header, at its test (the header, without entering compiled
/// code: it just left there), or after child `c` answered a value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LoopAt {
    Header,
    Test,
    After(u32, Value),
}

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
        self.eval_in::<Plain>(node, fp)
    }

    /// `eval`, recording what the node does into the running recording.
    #[inline(never)]
    pub(crate) fn eval_recording(&mut self, node: &Node, fp: usize) -> Result<Value> {
        self.eval_in::<Recorded>(node, fp)
    }

    /// Evaluates child `c` of the node being evaluated.
    #[inline(always)]
    fn child<M: Mode>(&mut self, node: &Node, c: u32, fp: usize) -> Result<Value> {
        if M::RECORDING {
            self.rec_enter_child(c);
            let result = M::eval(self, node, fp);
            self.rec_leave_child();
            result
        } else {
            M::eval(self, node, fp)
        }
    }

    /// Evaluates child `c` of the loop `node` (`jit`) of the frame at `fp`. When compiled
    /// code entered by a loop inside it left somewhere in this loop, the evaluation unwound to
    /// here: answers where the loop goes on instead of a value.
    #[inline(always)]
    fn loop_child<M: Mode>(
        &mut self,
        (node, jit): (&Node, &LoopJit),
        child: &Node,
        c: u32,
        fp: usize,
    ) -> Result<std::result::Result<Value, Header>> {
        let result = self.child::<M>(child, c, fp);
        self.resumed_here((node, jit), fp, result)
    }

    /// Pushes a value the node evaluated (its shadow is the recording's last result).
    #[inline(always)]
    fn push<M: Mode>(&mut self, v: Value) {
        self.u.stack.push(v);
        if M::RECORDING {
            self.rec_push_last();
        }
    }

    #[inline(always)]
    fn eval_in<M: Mode>(&mut self, node: &Node, fp: usize) -> Result<Value> {
        match node {
            Node::Const(v) => {
                if M::RECORDING {
                    self.rec_constant(*v);
                }
                Ok(*v)
            }
            Node::SelfRef { in_block } => {
                if M::RECORDING {
                    self.rec_receiver(fp, *in_block);
                }
                Ok(self.receiver(fp, *in_block))
            }
            Node::Read(place) => {
                if M::RECORDING {
                    self.rec_read(fp, *place);
                }
                Ok(self.read(fp, *place))
            }
            Node::Write(place, value) => {
                let v = self.child::<M>(value, 0, fp)?;
                if M::RECORDING {
                    self.rec_write(fp, *place);
                }
                self.write(fp, *place, v);
                Ok(v)
            }
            Node::ReadField {
                index,
                in_block,
                class_side,
            } => {
                let r = self.receiver(fp, *in_block);
                if M::RECORDING {
                    self.rec_read_field(fp, *index, *in_block, *class_side);
                }
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
                let v = self.child::<M>(value, 0, fp)?;
                self.write_field::<M>(fp, (*index, *in_block, *class_side), v)
            }
            Node::Global(g) => match g.cache.read(&mut self.u) {
                Some(v) => {
                    if M::RECORDING {
                        self.rec_global(g);
                    }
                    Ok(v)
                }
                None => {
                    if M::RECORDING {
                        self.rec_stop("an undefined global");
                    }
                    let receiver = self.receiver(fp, g.in_block);
                    self.u.set_line(g.line);
                    dispatch::unknown_global(self, receiver, g.cache.name)
                }
            },
            Node::Send(s) => {
                let r = self.child::<M>(&s.receiver, 0, fp)?;
                self.send_after::<M>(s, fp, 0, r)
            }
            Node::SuperSend(s) => {
                if M::RECORDING {
                    self.rec_receiver(fp, s.in_block);
                }
                let r = self.receiver(fp, s.in_block);
                self.super_send_after::<M>(s, fp, 0, r)
            }
            Node::Arith(a) => {
                let l = self.child::<M>(&a.send.receiver, 0, fp)?;
                self.arith_after::<M>(a, fp, 0, l)
            }
            Node::Block {
                method,
                head,
                in_block,
            } => {
                if M::RECORDING {
                    self.rec_block(fp, method, *head, *in_block);
                }
                let outer = self.head(fp, *head);
                let receiver = self.receiver(fp, *in_block);
                let home = self.home_id(fp, *in_block);
                self.u.new_block(method, outer, receiver, home)
            }
            Node::Return(value) => {
                let v = self.child::<M>(value, 0, fp)?;
                self.return_after::<M>(v)
            }
            Node::NonLocalReturn(value, line) => {
                if M::RECORDING {
                    self.rec_leave(&[EVALUATE]); // the interpreter returns
                }
                self.non_local_return(value, *line, fp)
            }
            Node::Seq(items) => {
                let v = self.child::<M>(&items[0], 0, fp)?;
                self.seq_after::<M>(items, fp, 0, v)
            }
            Node::If(i) => {
                let v = self.child::<M>(&i.value, 0, fp)?;
                self.if_after::<M>(i, fp, 0, v)
            }
            Node::While(w) => self.while_at::<M>(node, w, fp, LoopAt::Header),
            Node::ToDo(t) => {
                let from = self.child::<M>(&t.from, 0, fp)?;
                self.counting_after::<M>(node, t, fp, 0, from)
            }
            Node::TimesRepeat(t) => {
                let n = self.child::<M>(&t.count, 0, fp)?;
                self.times_after::<M>(node, t, fp, 0, n)
            }
            Node::AndOr {
                left,
                line,
                right,
                and,
            } => {
                let l = self.child::<M>(left, 0, fp)?;
                self.and_or_after::<M>((right, *line, *and), fp, 0, l)
            }
        }
    }

    /// Goes on with `node` after its child `c` answered `v` (`AT_HEADER`: a loop node at
    /// its header, where compiled code left: it tests without entering compiled code again).
    /// Every compound node can go on from every child: this is how an exit from compiled code
    /// resumes in the middle of an expression.
    pub(crate) fn continue_after<M: Mode>(
        &mut self,
        node: &Node,
        fp: usize,
        c: u32,
        v: Value,
    ) -> Result<Value> {
        match node {
            Node::Write(place, _) => {
                if M::RECORDING {
                    self.rec_write(fp, *place);
                }
                self.write(fp, *place, v);
                Ok(v)
            }
            Node::WriteField {
                index,
                in_block,
                class_side,
                ..
            } => self.write_field::<M>(fp, (*index, *in_block, *class_side), v),
            Node::Send(s) => self.send_after::<M>(s, fp, c, v),
            Node::SuperSend(s) => self.super_send_after::<M>(s, fp, c, v),
            Node::Arith(a) => self.arith_after::<M>(a, fp, c, v),
            Node::Return(_) => self.return_after::<M>(v),
            Node::Seq(items) => self.seq_after::<M>(items, fp, c, v),
            Node::If(i) => self.if_after::<M>(i, fp, c, v),
            Node::While(w) => {
                let at = match c {
                    AT_HEADER => LoopAt::Test,
                    c => LoopAt::After(c, v),
                };
                self.while_at::<M>(node, w, fp, at)
            }
            Node::ToDo(t) => self.counting_after::<M>(node, t, fp, c, v),
            Node::TimesRepeat(t) => self.times_after::<M>(node, t, fp, c, v),
            Node::AndOr {
                line, right, and, ..
            } => self.and_or_after::<M>((right, *line, *and), fp, c, v),
            // Never a position of a snapshot: nothing the recording records stops there.
            _ => unreachable!("resuming after a child of a {}", node.kind_name()),
        }
    }

    /// Goes on with `node` from `path` (child numbers, the last one the position in the node
    /// it leads to), where the innermost child answered `completed` — or, when `None`, the
    /// value on top of the stack (an exit's innermost frame). Answers the node's value.
    pub(crate) fn resume_path<M: Mode>(
        &mut self,
        node: &Node,
        fp: usize,
        path: &[u32],
        completed: Option<Value>,
    ) -> Result<Value> {
        match path {
            [] => Ok(self.completed::<M>(completed)),
            [EVALUATE] => M::eval(self, node, fp),
            [AT_HEADER] => self.continue_after::<M>(node, fp, AT_HEADER, self.u.nil),
            [c] => {
                let v = self.completed::<M>(completed);
                self.continue_after::<M>(node, fp, *c, v)
            }
            [c, rest @ ..] => {
                let child = node
                    .child(*c)
                    .expect("a snapshot's path leads through children");
                if M::RECORDING {
                    self.rec_enter_child(*c);
                }
                let v = self.resume_path::<M>(child, fp, rest, completed);
                if M::RECORDING {
                    self.rec_leave_child();
                }
                // A loop node resumed through: compiled code run inside it may have left
                // elsewhere in it (its function is not running yet to catch the unwind).
                let Some(jit) = node.loop_jit() else {
                    return self.continue_after::<M>(node, fp, *c, v?);
                };
                match self.resumed_here((node, jit), fp, v)? {
                    Ok(v) => self.continue_after::<M>(node, fp, *c, v),
                    Err(Header::Continue(at)) => self.loop_at::<M>(node, fp, at),
                    Err(Header::Done(v)) => Ok(v),
                    Err(Header::Iterate) => self.loop_at::<M>(node, fp, LoopAt::Header),
                    Err(Header::Plain) => self.loop_at::<Plain>(node, fp, LoopAt::Header),
                }
            }
        }
    }

    /// The value a resumed child answered: `completed`, or the one on top of the stack. (In
    /// recording mode its shadow is on top of the recording's stack either way.)
    fn completed<M: Mode>(&mut self, completed: Option<Value>) -> Value {
        if M::RECORDING {
            self.rec_pop_last();
        }
        completed.unwrap_or_else(|| self.u.stack.pop().expect("a value"))
    }

    /// Stores `v` into field `index` of the receiver (of a block's home method when
    /// `in_block`; class-side when `class_side`).
    #[inline(always)]
    fn write_field<M: Mode>(
        &mut self,
        fp: usize,
        (index, in_block, class_side): (u32, bool, bool),
        v: Value,
    ) -> Result<Value> {
        if M::RECORDING {
            self.rec_write_field(fp, index, in_block, class_side);
        }
        let r = self.receiver(fp, in_block);
        if class_side {
            Class::from_value(r).class_side_values.borrow_mut()[index as usize] = v;
        } else {
            self.u.store(r, index as usize, v);
        }
        Ok(v)
    }

    /// A send once child `c` (0: the receiver, k: argument k) answered `v`.
    #[inline(always)]
    fn send_after<M: Mode>(&mut self, s: &SendNode, fp: usize, c: u32, v: Value) -> Result<Value> {
        self.push::<M>(v);
        for (k, a) in s.args.iter().enumerate().skip(c as usize) {
            let v = self.child::<M>(a, k as u32 + 1, fp)?;
            self.push::<M>(v);
        }
        self.dispatch::<M>(s)
    }

    /// Sends `s` to the receiver and arguments on the stack, through the inline cache.
    #[inline]
    fn dispatch<M: Mode>(&mut self, s: &SendNode) -> Result<Value> {
        let nargs = s.args.len();
        let receiver = self.u.stack[self.u.stack.len() - nargs - 1];
        let class = self.u.class_of(receiver);
        self.u.set_line(s.line);
        let found = s.cache.lookup(&mut self.u, class, s.selector);
        if !M::RECORDING {
            return self.call(found, s.selector, nargs);
        }
        let inlined = self.rec_send(found, Some(class), nargs);
        let result = match inlined {
            Some(i) if i.block => dispatch::call_block(self, nargs),
            _ => self.call(found, s.selector, nargs),
        };
        self.rec_sent(inlined, result.is_ok());
        result
    }

    /// Calls `found` (None: `selector` is not understood) on the receiver and `nargs`
    /// arguments on the stack.
    #[inline(always)]
    fn call(
        &mut self,
        found: Option<&'static Method>,
        selector: Value,
        nargs: usize,
    ) -> Result<Value> {
        match found {
            Some(m) => match dispatch::run_trivial(&mut self.u, m, nargs) {
                Some(v) => Ok(v),
                None => dispatch::invoke(self, m, nargs),
            },
            None => dispatch::does_not_understand(self, selector, nargs),
        }
    }

    /// A super send once child `c` (0: the receiver, k: argument k) answered `v`.
    fn super_send_after<M: Mode>(
        &mut self,
        s: &SuperSendNode,
        fp: usize,
        c: u32,
        v: Value,
    ) -> Result<Value> {
        self.push::<M>(v);
        for (k, a) in s.args.iter().enumerate().skip(c as usize) {
            let v = self.child::<M>(a, k as u32 + 1, fp)?;
            self.push::<M>(v);
        }
        self.u.set_line(s.line);
        let nargs = s.args.len();
        let method = s.cache.lookup(&mut self.u, s.selector);
        if !M::RECORDING {
            return self.call(method, s.selector, nargs);
        }
        let inlined = self.rec_send(method, None, nargs);
        let result = match inlined {
            Some(i) if i.block => dispatch::call_block(self, nargs),
            _ => self.call(method, s.selector, nargs),
        };
        self.rec_sent(inlined, result.is_ok());
        result
    }

    /// Arithmetic once child `c` (0: the left operand, 1: the right) answered `v`.
    #[inline(always)]
    fn arith_after<M: Mode>(
        &mut self,
        a: &ArithNode,
        fp: usize,
        c: u32,
        v: Value,
    ) -> Result<Value> {
        let r = if c == 0 {
            self.push::<M>(v);
            self.child::<M>(&a.send.args[0], 1, fp)?
        } else {
            v
        };
        self.arith::<M>(a, r)
    }

    /// Arithmetic and comparisons of the left operand on the stack and `r`: small integers
    /// and doubles directly, anything else (and overflow) as the real send.
    #[inline(always)]
    fn arith<M: Mode>(&mut self, a: &ArithNode, r: Value) -> Result<Value> {
        let l = *self.u.stack.last().unwrap();
        if M::RECORDING && self.rec_arith(a, l, r) {
            // Recorded as IR: what follows computes the same result.
        }
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
        self.push::<M>(r);
        self.dispatch::<M>(&a.send)
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

    /// `^ value` in a method, once the value is `v`.
    #[inline(always)]
    fn return_after<M: Mode>(&mut self, v: Value) -> Result<Value> {
        if M::RECORDING {
            self.rec_return();
        }
        let home = self.home_id(0, false);
        Err(Unwind::NonLocalReturn { home, value: v })
    }

    /// A sequence once item `c` answered `v`.
    #[inline(always)]
    fn seq_after<M: Mode>(&mut self, items: &[Node], fp: usize, c: u32, v: Value) -> Result<Value> {
        let mut v = v;
        for (k, item) in items.iter().enumerate().skip(c as usize + 1) {
            v = self.child::<M>(item, k as u32, fp)?;
        }
        Ok(v)
    }

    /// An `if` once its value (0) or the branch taken (1, 2) answered `v`.
    fn if_after<M: Mode>(&mut self, i: &IfNode, fp: usize, c: u32, v: Value) -> Result<Value> {
        if c != 0 {
            return Ok(v);
        }
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
        if M::RECORDING {
            self.rec_test(v, matches!(i.test, Test::IsNil | Test::NotNil));
        }
        if let Some(place) = i.bind {
            if M::RECORDING {
                self.rec_write(fp, place);
            }
            self.write(fp, place, v);
        }
        if holds {
            self.child::<M>(&i.then, 1, fp)
        } else if let Some(o) = &i.otherwise {
            self.child::<M>(o, 2, fp)
        } else {
            Ok(match i.test {
                Test::IsTrue | Test::IsFalse => {
                    if M::RECORDING {
                        self.rec_constant(self.u.nil);
                    }
                    self.u.nil
                }
                Test::IsNil | Test::NotNil => v,
            })
        }
    }

    /// `and:`/`or:` once its left operand (0) or right one (1) answered `v`.
    fn and_or_after<M: Mode>(
        &mut self,
        (right, line, and): (&Node, u32, bool),
        fp: usize,
        c: u32,
        v: Value,
    ) -> Result<Value> {
        if c != 0 {
            return Ok(v);
        }
        let l = v;
        if l != self.u.true_ && l != self.u.false_ {
            let sel = control::and_or_selector(and);
            return Err(control::not_boolean(&mut self.u, l, sel, line));
        }
        if M::RECORDING {
            self.rec_test(l, false);
        }
        if (l == self.u.true_) == and {
            self.child::<M>(right, 1, fp)
        } else {
            Ok(l)
        }
    }

    /// Any loop node from `at`.
    pub(crate) fn loop_at<M: Mode>(&mut self, node: &Node, fp: usize, at: LoopAt) -> Result<Value> {
        match node {
            Node::While(w) => self.while_at::<M>(node, w, fp, at),
            Node::ToDo(t) => {
                let base = self.u.stack.len() - 4;
                self.counting_at::<M>(node, t, fp, base, at)
            }
            Node::TimesRepeat(t) => {
                let base = self.u.stack.len() - 2;
                self.times_at::<M>(node, t, fp, base, at)
            }
            _ => unreachable!("a loop node"),
        }
    }

    /// `whileTrue:`/`whileFalse:` from `at` (after the condition, 0, or the body, 1).
    fn while_at<M: Mode>(
        &mut self,
        node: &Node,
        w: &WhileNode,
        fp: usize,
        mut at: LoopAt,
    ) -> Result<Value> {
        loop {
            let c = match at {
                LoopAt::Header => {
                    go_on!(
                        self.at_header::<M>(node, &w.jit, fp)?,
                        at,
                        self.while_at::<Plain>(node, w, fp, at)
                    );
                    loop_child!(
                        self,
                        M,
                        (node, &w.jit, &w.cond, 0, fp),
                        at,
                        self.while_at::<Plain>(node, w, fp, at)
                    )
                }
                LoopAt::Test => loop_child!(
                    self,
                    M,
                    (node, &w.jit, &w.cond, 0, fp),
                    at,
                    self.while_at::<Plain>(node, w, fp, at)
                ),
                LoopAt::After(0, c) => c,
                LoopAt::After(..) => {
                    self.u.safepoint();
                    at = LoopAt::Header;
                    continue;
                }
            };
            let goes_on = if c == self.u.true_ {
                w.while_true
            } else if c == self.u.false_ {
                !w.while_true
            } else {
                let sel = control::while_selector(w.while_true);
                return Err(control::not_boolean(&mut self.u, c, sel, w.line));
            };
            if M::RECORDING {
                self.rec_loop_test(node, fp, goes_on, |e| e.rec_test(c, false));
            }
            if !goes_on {
                break;
            }
            loop_child!(
                self,
                M,
                (node, &w.jit, &w.body, 1, fp),
                at,
                self.while_at::<Plain>(node, w, fp, at)
            );
            self.u.safepoint();
            at = LoopAt::Header;
        }
        if M::RECORDING {
            self.rec_constant(self.u.nil);
        }
        Ok(self.u.nil)
    }

    /// `to:do:` once child `c` answered `v`: from (0), to (1) or by (2) — the loop starts
    /// once all three are on the stack —, or the body (3), or at the header.
    fn counting_after<M: Mode>(
        &mut self,
        node: &Node,
        t: &ToDoNode,
        fp: usize,
        c: u32,
        v: Value,
    ) -> Result<Value> {
        if c > 2 {
            let base = self.u.stack.len() - 4;
            let at = match c {
                AT_HEADER => LoopAt::Test,
                c => LoopAt::After(c, v),
            };
            return self.counting_at::<M>(node, t, fp, base, at);
        }
        self.push::<M>(v);
        if c < 1 {
            let to = self.child::<M>(&t.to, 1, fp)?;
            self.push::<M>(to);
        }
        if c < 2 {
            let by = match &t.by {
                Some(b) => self.child::<M>(b, 2, fp)?,
                None => {
                    if M::RECORDING {
                        self.rec_constant(Value::small_int(1));
                    }
                    Value::small_int(1)
                }
            };
            self.push::<M>(by);
        }
        let base = self.u.stack.len() - 3;
        // The counter starts at `from`.
        if M::RECORDING {
            self.rec_push_copy(base);
        }
        self.u.stack.push(self.u.stack[base]);
        let ints = (base..base + 3).all(|k| self.u.stack[k].is_small_int());
        if ints && self.u.stack[base + 2] == Value::small_int(0) {
            return Err(control::zero_step(&mut self.u, t.line));
        }
        self.counting_at::<M>(node, t, fp, base, LoopAt::Header)
    }

    /// A `to:do:` loop whose from, to, by and counter are on the stack at `base`, from `at`.
    fn counting_at<M: Mode>(
        &mut self,
        node: &Node,
        t: &ToDoNode,
        fp: usize,
        base: usize,
        mut at: LoopAt,
    ) -> Result<Value> {
        if !(base..base + 3).all(|k| self.u.stack[k].is_small_int()) {
            if M::RECORDING {
                self.rec_stop("a to:do: loop over other than small integers");
            }
            self.generic_to_do(t, fp, base, at)?;
            return Ok(self.counting_done::<M>(base));
        }
        loop {
            // Read at every iteration: compiled code may have left in another instance of
            // this loop (of a later iteration of a loop around it) than the one that started.
            let end = self.u.stack[base + 1].small_int_unchecked();
            let step = self.u.stack[base + 2].small_int_unchecked();
            if let LoopAt::Header | LoopAt::Test = at {
                if let LoopAt::Header = at {
                    go_on!(
                        self.at_header::<M>(node, &t.jit, fp)?,
                        at,
                        self.counting_at::<Plain>(node, t, fp, base, at)
                    );
                }
                let i = self.u.stack[base + 3].small_int_unchecked();
                let goes_on = (step > 0 && i <= end) || (step < 0 && i >= end);
                if M::RECORDING {
                    self.rec_loop_test(node, fp, goes_on, |e| {
                        e.rec_counting_test(base, step > 0, goes_on)
                    });
                }
                if !goes_on {
                    break;
                }
                if M::RECORDING {
                    self.rec_write_from(fp, t.var, base + 3);
                }
                self.write(fp, t.var, Value::small_int(i));
                loop_child!(
                    self,
                    M,
                    (node, &t.jit, &t.body, 3, fp),
                    at,
                    self.counting_at::<Plain>(node, t, fp, base, at)
                );
            }
            self.u.safepoint();
            let (i, step_value) = (self.u.stack[base + 3], self.u.stack[base + 2]);
            match i.small_add(step_value) {
                Some(next) => {
                    if M::RECORDING {
                        self.rec_count_up(base);
                    }
                    self.u.stack[base + 3] = next;
                }
                None => break,
            }
            at = LoopAt::Header;
        }
        Ok(self.counting_done::<M>(base))
    }

    /// A `to:do:` loop ends: answers `from`, its operands go.
    fn counting_done<M: Mode>(&mut self, base: usize) -> Value {
        let from = self.u.stack[base];
        if M::RECORDING {
            self.rec_pop_to(base);
        }
        self.u.stack.truncate(base);
        from
    }

    /// `to:do:` over other numbers (doubles, big integers): the counter on the stack
    /// advances by real sends of `+` and `<=` / `>=`.
    fn generic_to_do(&mut self, t: &ToDoNode, fp: usize, base: usize, at: LoopAt) -> Result<()> {
        let (le, ge, plus) = (self.u.intern("<="), self.u.intern(">="), self.u.intern("+"));
        let step = self.u.stack[base + 2];
        let descending = control::step_descends(&mut self.u, step, t.line)?;
        let mut test = matches!(at, LoopAt::Header | LoopAt::Test);
        loop {
            if test {
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
            }
            test = true;
            self.u.safepoint();
            let (i, step) = (self.u.stack[base + 3], self.u.stack[base + 2]);
            self.u.stack.push(i);
            self.u.stack.push(step);
            let next = dispatch::send(self, plus, 1)?;
            self.u.stack[base + 3] = next;
        }
        Ok(())
    }

    /// `timesRepeat:` once its count (0) or body (1) answered `v`, or at the header.
    fn times_after<M: Mode>(
        &mut self,
        node: &Node,
        t: &TimesNode,
        fp: usize,
        c: u32,
        v: Value,
    ) -> Result<Value> {
        if c != 0 {
            let base = self.u.stack.len() - 2;
            let at = match c {
                AT_HEADER => LoopAt::Test,
                c => LoopAt::After(c, v),
            };
            return self.times_at::<M>(node, t, fp, base, at);
        }
        if !v.is_small_int() {
            return Err(control::times_repeat_not_integer(&mut self.u, v, t.line));
        }
        if M::RECORDING {
            self.rec_guard_integer(v);
        }
        self.push::<M>(v);
        let base = self.u.stack.len() - 1;
        // The iterations left.
        if M::RECORDING {
            self.rec_push_copy(base);
        }
        self.u.stack.push(v);
        self.times_at::<M>(node, t, fp, base, LoopAt::Header)
    }

    /// A `timesRepeat:` loop whose count and iterations left are on the stack at `base`.
    fn times_at<M: Mode>(
        &mut self,
        node: &Node,
        t: &TimesNode,
        fp: usize,
        base: usize,
        mut at: LoopAt,
    ) -> Result<Value> {
        loop {
            if let LoopAt::Header | LoopAt::Test = at {
                if let LoopAt::Header = at {
                    go_on!(
                        self.at_header::<M>(node, &t.jit, fp)?,
                        at,
                        self.times_at::<Plain>(node, t, fp, base, at)
                    );
                }
                let left = self.u.stack[base + 1].small_int_unchecked();
                if M::RECORDING {
                    self.rec_loop_test(node, fp, left > 0, |e| e.rec_count_down(base, left > 0));
                }
                if left <= 0 {
                    break;
                }
                self.u.stack[base + 1] = Value::small_int(left - 1);
                loop_child!(
                    self,
                    M,
                    (node, &t.jit, &t.body, 1, fp),
                    at,
                    self.times_at::<Plain>(node, t, fp, base, at)
                );
            }
            self.u.safepoint();
            at = LoopAt::Header;
        }
        let count = self.u.stack[base];
        if M::RECORDING {
            self.rec_pop_to(base);
        }
        self.u.stack.truncate(base);
        Ok(count)
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
