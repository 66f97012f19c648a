//! The executable node tree of the AST engine, built from `lang`'s resolved code on a
//! method's first call and kept on the method.
//!
//! Owns: the node kinds, the per-node state that makes the tree self-optimizing (inline
//! caches, cached globals, arithmetic fast paths chosen when the tree is built), and the
//! translation from `hir`. Must never: execute (that is `eval`).
//!
//! Every compound node keeps its intermediate values on the shared value stack, never in
//! Rust locals across a child's evaluation. Besides keeping the GC precise, that makes each
//! node resumable at a child position: the values of the children already evaluated are on
//! the stack (DESIGN.md contract 4).

use std::cell::{OnceCell, RefCell};

use lang::compile::hir::{self, Code, Expr, Test, Var};
use lang::runtime::class::Class;
use lang::runtime::dispatch::{GlobalCache, InlineCache, SuperCache};
use lang::runtime::method::Method;
use lang::runtime::universe::Universe;
use lang::runtime::value::Value;
use lang::tracing::{LoopState, METHOD_ENTRY};

/// Where an activation's context chain starts.
#[derive(Clone, Copy, Debug)]
pub enum Head {
    /// Its own context, in this frame slot.
    Own(u32),
    /// A block without a context of its own: the chain starts at the block's outer context.
    BlockOuter,
    /// A method without a context.
    Nil,
}

/// A variable's place, as a node reads and writes it.
#[derive(Clone, Copy, Debug)]
pub enum Place {
    Slot(u32),
    Context { head: Head, level: u32, index: u32 },
}

/// Binary operations with fast paths for small integers and doubles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
}

pub enum Node {
    Const(Value),
    /// `self`: frame slot 0 in a method, the block's receiver in a block.
    SelfRef {
        in_block: bool,
    },
    Read(Place),
    Write(Place, Box<Node>),
    ReadField {
        index: u32,
        in_block: bool,
        class_side: bool,
    },
    WriteField {
        index: u32,
        in_block: bool,
        class_side: bool,
        value: Box<Node>,
    },
    Global(Box<GlobalNode>),
    Send(Box<SendNode>),
    SuperSend(Box<SuperSendNode>),
    Arith(Box<ArithNode>),
    Block {
        method: &'static Method,
        head: Head,
        in_block: bool,
    },
    Return(Box<Node>),
    NonLocalReturn(Box<Node>, u32),
    Seq(Box<[Node]>),
    If(Box<IfNode>),
    While(Box<WhileNode>),
    ToDo(Box<ToDoNode>),
    TimesRepeat(Box<TimesNode>),
    AndOr {
        left: Box<Node>,
        line: u32,
        right: Box<Node>,
        and: bool,
    },
}

/// The node kinds by name, in one place: `Node::kind_index`, `Node::kind_name` and
/// [`NODE_KINDS`] are generated from this list, and the `match` it expands to is exhaustive,
/// so a new `Node` variant does not compile until it is named here. The names are what
/// `som --engine ast --count-dispatch` reports.
macro_rules! node_kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Every node kind's name, indexed by `Node::kind_index`.
        pub const NODE_KINDS: &[&str] = &[$($name),*];

        impl Node {
            /// A dense index of this node's kind (its position in [`NODE_KINDS`]).
            #[inline(always)]
            pub fn kind_index(&self) -> usize {
                #[allow(dead_code)]
                enum Kind {
                    $($variant),*
                }
                match self {
                    $(Node::$variant { .. } => Kind::$variant as usize),*
                }
            }

            /// This node's kind, as counted and reported.
            pub fn kind_name(&self) -> &'static str {
                NODE_KINDS[self.kind_index()]
            }
        }
    };
}

node_kinds! {
    Const => "const",
    SelfRef => "self",
    Read => "read",
    Write => "write",
    ReadField => "read_field",
    WriteField => "write_field",
    Global => "global",
    Send => "send",
    SuperSend => "super_send",
    Arith => "arith",
    Block => "block",
    Return => "return",
    NonLocalReturn => "non_local_return",
    Seq => "seq",
    If => "if",
    While => "while",
    ToDo => "to_do",
    TimesRepeat => "times_repeat",
    AndOr => "and_or",
}

pub struct GlobalNode {
    pub cache: GlobalCache,
    pub line: u32,
    pub in_block: bool,
}

pub struct SendNode {
    pub selector: Value,
    pub receiver: Node,
    pub args: Box<[Node]>,
    pub line: u32,
    pub cache: InlineCache,
}

pub struct SuperSendNode {
    pub selector: Value,
    pub cache: SuperCache,
    pub args: Box<[Node]>,
    pub line: u32,
    pub in_block: bool,
}

pub struct ArithNode {
    pub op: ArithOp,
    /// The fast paths are taken only while the core library's definitions are the
    /// primitives they mirror (a classpath may supply its own Integer or Double).
    pub int_fast: bool,
    pub double_fast: bool,
    pub send: SendNode,
}

pub struct IfNode {
    pub value: Node,
    pub test: Test,
    pub bind: Option<Place>,
    pub then: Node,
    pub otherwise: Option<Node>,
    pub selector: Value,
    pub line: u32,
}

/// What a loop node keeps for the JIT: its number in the method (for logs and summaries)
/// and its hotness, trace and side traces.
pub struct LoopJit {
    pub number: u32,
    /// The loop node's path from the method's body (snapshot positions are paths from
    /// there), set once the tree is built.
    pub path: OnceCell<Box<[u32]>>,
    pub state: RefCell<LoopState>,
}

impl LoopJit {
    /// The key of this loop among its method's (`AstMethod::loop_at`): its path, or
    /// `[METHOD_ENTRY]` for the method's entry.
    pub fn key(&self) -> Vec<u32> {
        match self.number {
            METHOD_ENTRY => vec![METHOD_ENTRY],
            _ => self.path().to_vec(),
        }
    }

    /// The loop node's path from the method's body.
    pub fn path(&self) -> &[u32] {
        self.path.get().expect("set when the tree was built")
    }

    /// Whether `position` is this loop's header (`header_position`, without building it).
    pub fn is_header(&self, position: &[u32]) -> bool {
        position.split_last() == Some((&AT_HEADER, self.path()))
    }

    /// The snapshot position of the loop at its header.
    pub fn header_position(&self) -> Vec<u32> {
        let mut position = self.path().to_vec();
        position.push(AT_HEADER);
        position
    }
}

pub struct WhileNode {
    pub cond: Node,
    pub line: u32,
    pub while_true: bool,
    pub body: Node,
    pub jit: LoopJit,
}

/// `to:do:`. While it runs, `from`, `to`, `by` and the counter are on the value stack, in
/// that order, so that an iteration can be resumed from them.
pub struct ToDoNode {
    pub var: Place,
    pub from: Node,
    pub to: Node,
    pub by: Option<Node>,
    pub body: Node,
    pub line: u32,
    pub jit: LoopJit,
}

/// `timesRepeat:`. While it runs, the count and the iterations left are on the value stack.
pub struct TimesNode {
    pub count: Node,
    pub line: u32,
    pub body: Node,
    pub jit: LoopJit,
}

/// A child position in a resume path (see `Node::child`) that is not a child: the loop
/// node at its header, about to test whether to run another iteration…
pub const AT_HEADER: u32 = u32::MAX;
/// …or the node the path leads to, to be evaluated afresh.
pub const EVALUATE: u32 = u32::MAX - 1;

impl Node {
    /// One more than the largest child number this node may have.
    pub fn child_count(&self) -> u32 {
        match self {
            Node::Write(..) | Node::Return(_) | Node::NonLocalReturn(..) => 1,
            Node::WriteField { .. } => 1,
            Node::Send(s) => 1 + s.args.len() as u32,
            Node::SuperSend(s) => 1 + s.args.len() as u32,
            Node::Arith(_) | Node::While(_) | Node::TimesRepeat(_) | Node::AndOr { .. } => 2,
            Node::Seq(items) => items.len() as u32,
            Node::If(_) => 3,
            Node::ToDo(_) => 4,
            Node::Const(_)
            | Node::SelfRef { .. }
            | Node::Read(_)
            | Node::ReadField { .. }
            | Node::Global(_)
            | Node::Block { .. } => 0,
        }
    }

    /// A loop node's JIT state.
    pub fn loop_jit(&self) -> Option<&LoopJit> {
        match self {
            Node::While(w) => Some(&w.jit),
            Node::ToDo(t) => Some(&t.jit),
            Node::TimesRepeat(t) => Some(&t.jit),
            _ => None,
        }
    }

    /// Child `c` of this node, in evaluation order: the receiver (0) and arguments of a send
    /// (a super send's receiver, 0, is implicit), the operands of arithmetic, the value of a
    /// write or return, the items of a sequence, an `if`'s value (0), then-branch (1) and
    /// else-branch (2), a loop's condition or count (0) and body (1) — for `to:do:`, from (0),
    /// to (1), by (2), body (3) —, and/or's left (0) and right (1). Snapshot positions are
    /// paths of these numbers.
    pub fn child(&self, c: u32) -> Option<&Node> {
        let c = c as usize;
        match self {
            Node::Write(_, v) | Node::Return(v) | Node::NonLocalReturn(v, _) => {
                (c == 0).then_some(&**v)
            }
            Node::WriteField { value, .. } => (c == 0).then_some(&**value),
            Node::Send(s) => match c {
                0 => Some(&s.receiver),
                _ => s.args.get(c - 1),
            },
            Node::SuperSend(s) => c.checked_sub(1).and_then(|k| s.args.get(k)),
            Node::Arith(a) => match c {
                0 => Some(&a.send.receiver),
                1 => Some(&a.send.args[0]),
                _ => None,
            },
            Node::Seq(items) => items.get(c),
            Node::If(i) => match c {
                0 => Some(&i.value),
                1 => Some(&i.then),
                2 => i.otherwise.as_ref(),
                _ => None,
            },
            Node::While(w) => match c {
                0 => Some(&w.cond),
                1 => Some(&w.body),
                _ => None,
            },
            Node::ToDo(t) => match c {
                0 => Some(&t.from),
                1 => Some(&t.to),
                2 => t.by.as_ref(),
                3 => Some(&t.body),
                _ => None,
            },
            Node::TimesRepeat(t) => match c {
                0 => Some(&t.count),
                1 => Some(&t.body),
                _ => None,
            },
            Node::AndOr { left, right, .. } => match c {
                0 => Some(&**left),
                1 => Some(&**right),
                _ => None,
            },
            Node::Const(_)
            | Node::SelfRef { .. }
            | Node::Read(_)
            | Node::ReadField { .. }
            | Node::Global(_)
            | Node::Block { .. } => None,
        }
    }
}

/// A method or block body, ready to run.
pub struct AstMethod {
    pub method: &'static Method,
    /// The JIT state of the method's entry: a method called often is recorded from its entry
    /// to its return, as a loop is from its header (its path is the body's, `[]`).
    pub entry: LoopJit,
    /// The paths of its loop nodes.
    pub loops: Box<[Box<[u32]>]>,
    pub frame_slots: usize,
    pub params: usize,
    pub context_size: usize,
    pub context_slot: usize,
    pub captured_params: Box<[(u32, u32)]>,
    pub is_block: bool,
    /// The source line where the method or block starts.
    pub line: u32,
    pub body: Node,
}

/// What node building needs to know about the activation being built.
struct Builder<'u> {
    u: &'u mut Universe,
    in_block: bool,
    head: Head,
    class_side: bool,
    holder: Option<&'static Class>,
    /// Loops numbered so far.
    loops: u32,
}

impl AstMethod {
    pub fn build(u: &mut Universe, method: &'static Method, code: &Code) -> AstMethod {
        let holder = method.holder.get();
        let head = if code.context_size > 0 {
            Head::Own(code.context_slot() as u32)
        } else if code.is_block {
            Head::BlockOuter
        } else {
            Head::Nil
        };
        let class_side = holder.is_some_and(|h| h.is_metaclass);
        let mut b = Builder {
            u,
            in_block: code.is_block,
            head,
            class_side,
            holder,
            loops: 0,
        };
        let body = b.node(&code.body);
        let mut loops = Vec::new();
        number_loops(&body, &mut Vec::new(), &mut loops);
        AstMethod {
            entry: LoopJit {
                number: METHOD_ENTRY,
                path: OnceCell::from(Box::default()),
                state: RefCell::new(LoopState::default()),
            },
            loops: loops.into_boxed_slice(),
            method,
            frame_slots: code.frame_slots(),
            params: code.params as usize,
            context_size: code.context_size as usize,
            context_slot: code.context_slot(),
            captured_params: code.captured_params.clone().into_boxed_slice(),
            is_block: code.is_block,
            line: code.line,
            body,
        }
    }

    /// The node at `path` from the body (a prefix of a snapshot position).
    pub fn node_at(&self, path: &[u32]) -> Option<&Node> {
        path.iter().try_fold(&self.body, |node, &c| node.child(c))
    }

    /// The JIT state of the loop at `key` (`LoopJit::key`): a loop node's path, or the
    /// method's entry.
    pub fn loop_at(&self, key: &[u32]) -> Option<&LoopJit> {
        match key {
            [METHOD_ENTRY] => Some(&self.entry),
            path => self.node_at(path)?.loop_jit(),
        }
    }

    /// Every loop's JIT state and key, the method's entry first.
    pub fn all_loops(&self) -> impl Iterator<Item = (&[u32], &LoopJit)> {
        const ENTRY_KEY: &[u32] = &[METHOD_ENTRY];
        let entry = std::iter::once((ENTRY_KEY, &self.entry));
        let loops = self
            .loops
            .iter()
            .filter_map(|p| Some((&p[..], self.loop_at(p)?)));
        entry.chain(loops)
    }
}

/// Sets the path of every loop node under `node` (at `path`), and lists them.
fn number_loops(node: &Node, path: &mut Vec<u32>, loops: &mut Vec<Box<[u32]>>) {
    if let Some(jit) = node.loop_jit() {
        let _ = jit.path.set(path.clone().into_boxed_slice());
        loops.push(path.clone().into_boxed_slice());
    }
    for c in 0..node.child_count() {
        if let Some(child) = node.child(c) {
            path.push(c);
            number_loops(child, path, loops);
            path.pop();
        }
    }
}

fn arith_op(selector: &str) -> Option<ArithOp> {
    Some(match selector {
        "+" => ArithOp::Add,
        "-" => ArithOp::Sub,
        "*" => ArithOp::Mul,
        "<" => ArithOp::Lt,
        ">" => ArithOp::Gt,
        "<=" => ArithOp::Le,
        ">=" => ArithOp::Ge,
        "=" => ArithOp::Eq,
        _ => return None,
    })
}

impl Builder<'_> {
    fn loop_jit(&mut self) -> LoopJit {
        self.loops += 1;
        LoopJit {
            number: self.loops,
            path: OnceCell::new(),
            state: RefCell::new(LoopState::default()),
        }
    }

    fn place(&self, v: Var) -> Place {
        match v {
            Var::Slot(s) => Place::Slot(s),
            Var::Context { level, index } => Place::Context {
                head: self.head,
                level,
                index,
            },
        }
    }

    fn node(&mut self, e: &Expr) -> Node {
        match e {
            Expr::Const(v) => Node::Const(*v),
            Expr::SelfRef => Node::SelfRef {
                in_block: self.in_block,
            },
            Expr::Read(v) => Node::Read(self.place(*v)),
            Expr::Write(v, e) => Node::Write(self.place(*v), Box::new(self.node(e))),
            Expr::ReadField(i) => Node::ReadField {
                index: *i,
                in_block: self.in_block,
                class_side: self.class_side,
            },
            Expr::WriteField(i, e) => Node::WriteField {
                index: *i,
                in_block: self.in_block,
                class_side: self.class_side,
                value: Box::new(self.node(e)),
            },
            Expr::Global(name, line) => Node::Global(Box::new(GlobalNode {
                cache: GlobalCache::new(*name),
                line: *line,
                in_block: self.in_block,
            })),
            Expr::Send(s) => self.send(s),
            Expr::Block(m) => Node::Block {
                method: m,
                head: self.head,
                in_block: self.in_block,
            },
            Expr::Return(e) => Node::Return(Box::new(self.node(e))),
            Expr::NonLocalReturn(e, line) => Node::NonLocalReturn(Box::new(self.node(e)), *line),
            Expr::Seq(items) => Node::Seq(items.iter().map(|i| self.node(i)).collect()),
            Expr::If(i) => Node::If(Box::new(IfNode {
                value: self.node(&i.value),
                test: i.test,
                bind: i.bind.map(|v| self.place(v)),
                then: self.node(&i.then),
                otherwise: i.otherwise.as_ref().map(|o| self.node(o)),
                selector: i.selector,
                line: i.line,
            })),
            Expr::While {
                cond,
                line,
                while_true,
                body,
            } => {
                let jit = self.loop_jit();
                Node::While(Box::new(WhileNode {
                    cond: self.node(cond),
                    line: *line,
                    while_true: *while_true,
                    body: self.node(body),
                    jit,
                }))
            }
            Expr::ToDo(t) => {
                let jit = self.loop_jit();
                Node::ToDo(Box::new(ToDoNode {
                    var: self.place(t.var),
                    from: self.node(&t.from),
                    to: self.node(&t.to),
                    by: t.by.as_ref().map(|b| self.node(b)),
                    body: self.node(&t.body),
                    line: t.line,
                    jit,
                }))
            }
            Expr::TimesRepeat { count, line, body } => {
                let jit = self.loop_jit();
                Node::TimesRepeat(Box::new(TimesNode {
                    count: self.node(count),
                    line: *line,
                    body: self.node(body),
                    jit,
                }))
            }
            Expr::AndOr {
                left,
                line,
                right,
                and,
            } => Node::AndOr {
                left: Box::new(self.node(left)),
                line: *line,
                right: Box::new(self.node(right)),
                and: *and,
            },
        }
    }

    fn send(&mut self, s: &hir::Send) -> Node {
        let args: Box<[Node]> = s.args.iter().map(|a| self.node(a)).collect();
        let Some(receiver) = &s.receiver else {
            let lookup_class = self.holder.and_then(|h| h.superclass.get());
            return Node::SuperSend(Box::new(SuperSendNode {
                selector: s.selector,
                cache: SuperCache::new(lookup_class),
                args,
                line: s.line,
                in_block: self.in_block,
            }));
        };
        let receiver = self.node(receiver);
        let send = SendNode {
            selector: s.selector,
            receiver,
            args,
            line: s.line,
            cache: InlineCache::default(),
        };
        let selector = lang::runtime::object::str(s.selector);
        if let (Some(op), 1) = (arith_op(selector), s.args.len()) {
            let (int_fast, double_fast) =
                lang::runtime::dispatch::arithmetic_shortcuts(self.u, selector);
            if int_fast || double_fast {
                return Node::Arith(Box::new(ArithNode {
                    op,
                    int_fast,
                    double_fast,
                    send,
                }));
            }
        }
        Node::Send(Box::new(send))
    }
}
