//! Compiles `lang`'s resolved code (`hir`) to bytecode.
//!
//! Owns: instruction selection, jump layout, hidden frame slots (block `self`, context chain
//! head, loop counters) and the stack depth bound. Inlining decisions, variable placement and
//! literals come from `lang::compile` — the same ones the AST engine executes.
//! Must never: emit anything the verifier would reject (the verifier checks it anyway).

use lang::compile::hir::{Code, Expr, If, Send, Test, ToDo, Var};
use lang::runtime::control;
use lang::runtime::dispatch::{arithmetic_shortcuts, GlobalCache, InlineCache, SuperCache};
use lang::runtime::method::Method;
use lang::runtime::object;
use lang::runtime::universe::Universe;
use lang::runtime::value::Value;

use crate::bytecode::{Instr, Op, StackEffect};
use crate::method::{BcMethod, SendSite};

/// Why a method cannot be compiled (limits of the instruction format).
#[derive(Debug)]
pub struct TooLarge(pub String);

struct Compiler<'u> {
    u: &'u mut Universe,
    code: Vec<Instr>,
    lines: Vec<u32>,
    literals: Vec<Value>,
    sites: Vec<SendSite>,
    globals: Vec<GlobalCache>,
    jump_selectors: Vec<(u32, &'static str)>,
    line: u32,
    depth: usize,
    max_depth: usize,
    next_slot: usize,
    frame_slots: usize,
    self_slot: usize,
    in_block: bool,
    class_side: bool,
    holder_super: Option<&'static lang::runtime::class::Class>,
    error: Option<String>,
    /// The start of the last instruction emitted, for peephole fusion.
    last: Option<usize>,
    /// Positions that forward jumps land on: no instruction may be fused across them.
    landings: Vec<usize>,
}

/// A forward jump waiting for its target.
struct Patch(usize);

pub fn compile(
    u: &mut Universe,
    method: &'static Method,
    code: &Code,
) -> Result<BcMethod, TooLarge> {
    let holder = method.holder.get();
    let base = code.frame_slots();
    let (self_slot, head_slot, first_temp) = if code.is_block {
        let head = if code.context_size > 0 {
            code.context_slot()
        } else {
            base + 1
        };
        (base, head, base + 2)
    } else {
        (0, code.context_slot(), base)
    };
    let mut c = Compiler {
        u,
        code: Vec::new(),
        lines: Vec::new(),
        literals: Vec::new(),
        sites: Vec::new(),
        globals: Vec::new(),
        jump_selectors: Vec::new(),
        line: code.line,
        depth: 0,
        max_depth: 0,
        next_slot: first_temp,
        frame_slots: first_temp,
        self_slot,
        in_block: code.is_block,
        class_side: holder.is_some_and(|h| h.is_metaclass),
        holder_super: holder.and_then(|h| h.superclass.get()),
        error: None,
        last: None,
        landings: Vec::new(),
    };
    c.expr(&code.body);
    c.emit_return();
    if let Some(e) = c.error {
        return Err(TooLarge(format!("{}: {e}", method.display_name())));
    }
    Ok(BcMethod {
        method,
        code: c.code,
        lines: c.lines,
        literals: c.literals,
        sites: c.sites,
        globals: c.globals,
        jump_selectors: c.jump_selectors,
        params: code.params as usize,
        frame_slots: c.frame_slots,
        context_size: code.context_size as usize,
        context_slot: code.context_slot(),
        captured_params: code.captured_params.clone(),
        is_block: code.is_block,
        self_slot,
        head_slot,
        max_stack: c.max_depth,
        line: code.line,
        loops: Default::default(),
    })
}

fn arith_op(selector: &str) -> Option<Op> {
    Some(match selector {
        "+" => Op::Add,
        "-" => Op::Subtract,
        "*" => Op::Multiply,
        "<" => Op::LessThan,
        ">" => Op::GreaterThan,
        "<=" => Op::LessOrEqual,
        ">=" => Op::GreaterOrEqual,
        "=" => Op::Equal,
        _ => return None,
    })
}

impl Compiler<'_> {
    // ---- emission -----------------------------------------------------------------------------

    /// Checks an operand against the limit of its kind.
    fn check_operand(&mut self, value: usize, size: usize) {
        let limit = if size == 1 {
            u8::MAX as usize
        } else {
            u16::MAX as usize
        };
        if value > limit {
            self.error.get_or_insert_with(|| {
                format!("an operand ({value}) exceeds the bytecode format's limit of {limit}")
            });
        }
    }

    /// Emits an instruction and tracks the stack depth.
    fn emit(&mut self, op: Op, operands: &[usize]) -> usize {
        let at = self.code.len();
        self.last = Some(at);
        for (value, kind) in operands.iter().zip(op.operands()) {
            self.check_operand(*value, kind.size());
        }
        self.code.push(Instr::new(op, operands));
        self.lines.push(self.line);
        match op.stack_effect() {
            StackEffect::Fixed { pops, pushes } => self.adjust(pops as usize, pushes as usize),
            StackEffect::Send => {
                let nargs = self.sites[operands[0]].nargs;
                self.adjust(nargs + 1, 1);
            }
            StackEffect::Return { pops } => self.adjust(pops as usize, 0),
        }
        at
    }

    fn adjust(&mut self, pops: usize, pushes: usize) {
        self.depth = self.depth.saturating_sub(pops) + pushes;
        self.max_depth = self.max_depth.max(self.depth);
    }

    /// Emits a forward jump whose target is set later by `land`.
    fn jump(&mut self, op: Op, extra: &[usize]) -> Patch {
        let mut operands = extra.to_vec();
        operands.push(0);
        let at = self.emit(op, &operands);
        Patch(at)
    }

    /// Points a forward jump at the current position.
    fn land(&mut self, Patch(at): Patch) {
        let distance = self.code.len() - (at + 1);
        self.landings.push(self.code.len());
        if distance > u16::MAX as usize {
            self.error
                .get_or_insert_with(|| "a method body is too long for 16-bit jumps".into());
        }
        let jump = &mut self.code[at];
        let last = jump.op.operands().len() - 1;
        jump.set_operand(last, distance);
    }

    /// Emits a backward jump to `target`.
    fn jump_back(&mut self, op: Op, extra: &[usize], target: usize) {
        let end = self.code.len() + 1;
        let mut operands = extra.to_vec();
        operands.push(end - target);
        self.emit(op, &operands);
    }

    fn literal(&mut self, v: Value) -> usize {
        match self.literals.iter().position(|l| *l == v) {
            Some(i) => i,
            None => {
                self.literals.push(v);
                self.literals.len() - 1
            }
        }
    }

    fn temp(&mut self, count: usize) -> usize {
        let first = self.next_slot;
        self.next_slot += count;
        self.frame_slots = self.frame_slots.max(self.next_slot);
        first
    }

    fn release(&mut self, first: usize) {
        self.next_slot = first;
    }

    // ---- variables ------------------------------------------------------------------------------

    fn read(&mut self, v: Var) {
        match v {
            Var::Slot(s) => self.emit(Op::PushSlot, &[s as usize]),
            Var::Context { level, index } => {
                self.emit(Op::PushContext, &[level as usize, index as usize])
            }
        };
    }

    fn store(&mut self, v: Var) {
        match v {
            Var::Slot(s) => self.emit(Op::StoreSlot, &[s as usize]),
            Var::Context { level, index } => {
                self.emit(Op::StoreContext, &[level as usize, index as usize])
            }
        };
    }

    fn pop_into(&mut self, v: Var) {
        match v {
            Var::Slot(s) => {
                self.emit(Op::PopSlot, &[s as usize]);
            }
            Var::Context { .. } => {
                self.store(v);
                self.emit(Op::Pop, &[]);
            }
        }
    }

    fn fields_direct(&self) -> bool {
        !self.in_block && !self.class_side
    }

    /// A field access of self: the `direct` op in an instance-side method (self is slot 0,
    /// an ordinary object), else `via_self` on the self slot (blocks, class objects).
    fn field(&mut self, direct: Op, via_self: Op, index: u32) {
        if self.fields_direct() {
            self.emit(direct, &[index as usize]);
        } else {
            self.emit(Op::PushSlot, &[self.self_slot]);
            self.emit(via_self, &[index as usize]);
        }
    }

    // ---- expressions ------------------------------------------------------------------------------

    /// Compiles `e` so that it leaves exactly one value on the stack.
    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Const(v) => self.constant(*v),
            Expr::SelfRef => {
                self.emit(Op::PushSlot, &[self.self_slot]);
            }
            Expr::Read(v) => self.read(*v),
            Expr::Write(v, value) => {
                self.expr(value);
                self.store(*v);
            }
            Expr::ReadField(i) => self.field(Op::PushField, Op::PushFieldOf, *i),
            Expr::WriteField(i, value) => {
                self.expr(value);
                self.field(Op::StoreField, Op::StoreFieldOf, *i);
            }
            Expr::Global(name, line) => {
                self.line = *line;
                self.globals.push(GlobalCache::new(*name));
                self.emit(Op::PushGlobal, &[self.globals.len() - 1]);
            }
            Expr::Send(s) => self.send(s),
            Expr::Block(m) => {
                let lit = self.literal(m.as_value());
                self.emit(Op::PushBlock, &[lit]);
            }
            Expr::Return(value) => {
                self.expr(value);
                self.emit_return();
                self.adjust(0, 1); // for the code that follows (unreachable, but well-formed)
            }
            Expr::NonLocalReturn(value, line) => {
                self.expr(value);
                self.line = *line;
                self.emit(Op::ReturnNonLocal, &[]);
                self.adjust(0, 1);
            }
            Expr::Seq(items) => {
                let (last, rest) = items.split_last().expect("sequences are never empty");
                for item in rest {
                    self.effect(item);
                }
                self.expr(last);
            }
            Expr::If(i) => self.conditional(i),
            Expr::While {
                cond,
                line,
                while_true,
                body,
            } => {
                self.while_loop(cond, *line, *while_true, body);
                self.emit(Op::PushNil, &[]);
            }
            Expr::ToDo(t) => self.counting_loop(t),
            Expr::TimesRepeat { count, line, body } => {
                self.expr(count);
                self.line = *line;
                self.emit(Op::Dup, &[]);
                let k = self.temp(1);
                self.emit(Op::TimesInit, &[k]);
                let top = self.code.len();
                let exit = self.jump(Op::TimesTest, &[k]);
                self.effect(body);
                self.jump_back(Op::JumpBack, &[], top);
                self.land(exit);
                self.release(k);
            }
            Expr::AndOr {
                left,
                line,
                right,
                and,
            } => {
                self.expr(left);
                self.line = *line;
                let short = self.test_jump(
                    if *and {
                        Op::JumpIfFalse
                    } else {
                        Op::JumpIfTrue
                    },
                    control::and_or_selector(*and),
                );
                self.expr(right);
                let end = self.jump(Op::Jump, &[]);
                self.depth -= 1;
                self.land(short);
                self.emit(if *and { Op::PushFalse } else { Op::PushTrue }, &[]);
                self.land(end);
            }
        }
    }

    /// Returns the top of stack; `push_slot n` just before becomes `return_slot n` unless a
    /// jump lands between the two.
    fn emit_return(&mut self) {
        let here = self.code.len();
        match self.last {
            Some(at) if self.code[at].op == Op::PushSlot && !self.landings.contains(&here) => {
                self.code[at].op = Op::ReturnSlot;
                self.adjust(1, 0);
            }
            _ => {
                self.emit(Op::Return, &[]);
            }
        }
    }

    /// `x := x + 1` on a frame slot, when `+` on small integers may be computed directly.
    fn increment(&mut self, v: Var, value: &Expr) -> bool {
        let (Var::Slot(slot), Expr::Send(s)) = (v, value) else {
            return false;
        };
        let is_increment = matches!(&s.receiver, Some(Expr::Read(Var::Slot(r))) if *r == slot)
            && object::str(s.selector) == "+"
            && matches!(s.args.as_slice(), [Expr::Const(one)] if *one == Value::small_int(1));
        if !is_increment || !arithmetic_shortcuts(self.u, "+").0 {
            return false;
        }
        self.line = s.line;
        self.sites.push(SendSite {
            selector: s.selector,
            nargs: 1,
            cache: InlineCache::default(),
            super_cache: SuperCache::new(None),
            int_fast: true,
            double_fast: false,
        });
        let site = self.sites.len() - 1;
        self.emit(Op::IncrementSlot, &[slot as usize, site]);
        true
    }

    /// `[cond] whileTrue: [body]` leaving nothing on the stack.
    fn while_loop(&mut self, cond: &Expr, line: u32, while_true: bool, body: &Expr) {
        let top = self.code.len();
        self.expr(cond);
        self.line = line;
        let test = if while_true {
            Op::JumpIfFalse
        } else {
            Op::JumpIfTrue
        };
        let exit = self.test_jump(test, control::while_selector(while_true));
        self.effect(body);
        self.line = line;
        self.jump_back(Op::JumpBack, &[], top);
        self.land(exit);
    }

    /// Compiles `e` for its effect only: it leaves nothing on the stack. Statements whose
    /// value is dropped avoid pushing a value just to pop it (assignments store and pop in
    /// one instruction, conditionals and loops push no nil, pure reads vanish).
    fn effect(&mut self, e: &Expr) {
        match e {
            Expr::Const(_) | Expr::SelfRef | Expr::Read(_) | Expr::ReadField(_) => {}
            Expr::Write(v, value) => {
                if !self.increment(*v, value) {
                    self.expr(value);
                    self.pop_into(*v);
                }
            }
            Expr::WriteField(i, value) if self.fields_direct() => {
                self.expr(value);
                self.emit(Op::PopField, &[*i as usize]);
            }
            Expr::Seq(items) => {
                for item in items {
                    self.effect(item);
                }
            }
            Expr::If(i) if i.bind.is_none() => self.conditional_effect(i),
            Expr::While {
                cond,
                line,
                while_true,
                body,
            } => self.while_loop(cond, *line, *while_true, body),
            Expr::AndOr {
                left,
                line,
                right,
                and,
            } => {
                self.expr(left);
                self.line = *line;
                let test = if *and {
                    Op::JumpIfFalse
                } else {
                    Op::JumpIfTrue
                };
                let skip = self.test_jump(test, control::and_or_selector(*and));
                self.effect(right);
                self.land(skip);
            }
            _ => {
                self.expr(e);
                self.emit(Op::Pop, &[]);
            }
        }
    }

    /// A conditional whose value is not needed: no nil for a missing branch, no result.
    fn conditional_effect(&mut self, i: &If) {
        self.expr(&i.value);
        self.line = i.line;
        let skip = match i.test {
            Test::IsTrue => self.test_jump(Op::JumpIfFalse, object::str(i.selector)),
            Test::IsFalse => self.test_jump(Op::JumpIfTrue, object::str(i.selector)),
            Test::IsNil => self.jump(Op::JumpIfNotNil, &[]),
            Test::NotNil => self.jump(Op::JumpIfNil, &[]),
        };
        self.effect(&i.then);
        match &i.otherwise {
            Some(o) => {
                let end = self.jump(Op::Jump, &[]);
                self.land(skip);
                self.effect(o);
                self.land(end);
            }
            None => self.land(skip),
        }
    }

    fn constant(&mut self, v: Value) {
        if v == self.u.nil {
            self.emit(Op::PushNil, &[]);
        } else if v == self.u.true_ {
            self.emit(Op::PushTrue, &[]);
        } else if v == self.u.false_ {
            self.emit(Op::PushFalse, &[]);
        } else {
            let lit = self.literal(v);
            self.emit(Op::PushConst, &[lit]);
        }
    }

    /// A conditional jump on a Boolean, remembering the selector for its error message.
    fn test_jump(&mut self, op: Op, selector: &'static str) -> Patch {
        let p = self.jump(op, &[]);
        self.jump_selectors.push((p.0 as u32, selector));
        p
    }

    fn send(&mut self, s: &Send) {
        match &s.receiver {
            Some(r) => self.expr(r),
            None => {
                self.emit(Op::PushSlot, &[self.self_slot]);
            }
        }
        for a in &s.args {
            self.expr(a);
        }
        self.line = s.line;
        let selector_text = object::str(s.selector);
        let (int_fast, double_fast) = if s.receiver.is_some() && s.args.len() == 1 {
            arithmetic_shortcuts(self.u, selector_text)
        } else {
            (false, false)
        };
        self.sites.push(SendSite {
            selector: s.selector,
            nargs: s.args.len(),
            cache: InlineCache::default(),
            super_cache: SuperCache::new(if s.receiver.is_none() {
                self.holder_super
            } else {
                None
            }),
            int_fast,
            double_fast,
        });
        let site = self.sites.len() - 1;
        let op = match (&s.receiver, arith_op(selector_text)) {
            (None, _) => Op::SuperSend,
            (Some(_), Some(op)) if int_fast || double_fast => op,
            _ => Op::Send,
        };
        self.emit(op, &[site]);
    }

    fn conditional(&mut self, i: &If) {
        self.expr(&i.value);
        self.line = i.line;
        if let Some(var) = i.bind {
            self.emit(Op::Dup, &[]);
            self.pop_into(var);
        }
        let selector = object::str(i.selector);
        match (i.test, &i.otherwise) {
            (Test::IsTrue | Test::IsFalse, otherwise) => {
                let skip = if i.test == Test::IsTrue {
                    Op::JumpIfFalse
                } else {
                    Op::JumpIfTrue
                };
                let other = self.test_jump(skip, selector);
                self.expr(&i.then);
                let end = self.jump(Op::Jump, &[]);
                self.depth -= 1;
                self.land(other);
                match otherwise {
                    Some(o) => self.expr(o),
                    None => {
                        self.emit(Op::PushNil, &[]);
                    }
                }
                self.land(end);
            }
            (Test::IsNil | Test::NotNil, Some(o)) => {
                let skip = if i.test == Test::IsNil {
                    Op::JumpIfNotNil
                } else {
                    Op::JumpIfNil
                };
                let other = self.jump(skip, &[]);
                self.expr(&i.then);
                let end = self.jump(Op::Jump, &[]);
                self.depth -= 1;
                self.land(other);
                self.expr(o);
                self.land(end);
            }
            (Test::IsNil | Test::NotNil, None) => {
                // When the test fails the answer is the tested value itself.
                self.emit(Op::Dup, &[]);
                let keep = if i.test == Test::IsNil {
                    Op::JumpIfNotNil
                } else {
                    Op::JumpIfNil
                };
                let end = self.jump(keep, &[]);
                self.emit(Op::Pop, &[]);
                self.expr(&i.then);
                self.land(end);
            }
        }
    }

    /// `from to: to by: step do: [:var | body]` over three hidden slots: counter, limit, step.
    /// The value of `from` stays on the stack as the loop's value.
    fn counting_loop(&mut self, t: &ToDo) {
        let counter = self.temp(3);
        self.expr(&t.from);
        self.emit(Op::Dup, &[]);
        self.emit(Op::PopSlot, &[counter]);
        self.expr(&t.to);
        self.emit(Op::PopSlot, &[counter + 1]);
        match &t.by {
            Some(by) => self.expr(by),
            None => self.constant(Value::small_int(1)),
        }
        self.emit(Op::PopSlot, &[counter + 2]);
        self.line = t.line;
        let top = self.code.len();
        let exit = self.jump(Op::ForTest, &[counter]);
        self.emit(Op::PushSlot, &[counter]);
        self.pop_into(t.var);
        self.effect(&t.body);
        self.line = t.line;
        self.jump_back(Op::ForNext, &[counter], top);
        self.land(exit);
        self.release(counter);
    }
}
