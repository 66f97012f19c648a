//! Static view of an interpreter's dispatch code: one function of an x86-64 ELF binary,
//! disassembled (Intel syntax) into a NORMALIZED listing that only changes when the
//! instruction sequence really changes, for snapshot tests and for `measurements disasm`.
//!
//! Owns: finding a function by its demangled name without the `::h<hash>` suffix
//! ([`load_function`]), naming addresses (symbol table, dynamic symbols, GOT slots through
//! dynamic relocations, PLT stubs), decoding with `iced-x86` and the normalization rules
//! ([`disassemble`]), basic blocks and indirect jumps ([`Listing`], [`indirect_jumps`]).
//!
//! Normalization: in-function branch and jump-table targets become labels `L0`, `L1`, …
//! numbered in address order; branches and calls out of the function print the demangled
//! callee without hash, or `<extern>`; a rip-relative operand prints `[rip+data]`, or
//! `[rip+NAME]` when it lands exactly on a named symbol, or `[GOT:NAME]` when it is a GOT slot
//! whose content is known; in a non-PIE binary, an absolute displacement with an index
//! register prints `[reg*s+table]` (without one, `[data]` or `[NAME]`) and an immediate that
//! is an address prints `addr` or its symbol; every other nonzero displacement prints `disp`
//! (`lea` too); every `nop` form prints `nop` (padding length follows layout, not code).
//! Registers, scales, operand sizes and other immediates stay (signed, lowercase hex).
//!
//! Must never: execute or patch the binary, link an engine or `lang` (it reads machine code
//! only), print raw addresses, hashes or anything else that differs between two builds of the
//! same instruction sequence.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::Path;
use std::rc::Rc;

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Formatter, Instruction, IntelFormatter, Mnemonic, OpKind,
    Register, SymbolResolver, SymbolResult,
};
use object::{Object, ObjectSection, ObjectSymbol, ObjectSymbolTable, RelocationFlags};

/// One function's machine code and the names needed to print it.
#[derive(Debug, Clone, Default)]
pub struct Function {
    /// Demangled name without hash (as asked for, or as found).
    pub name: String,
    /// Virtual address of the first byte.
    pub address: u64,
    /// The function's bytes (its symbol's size), from the section containing it.
    pub bytes: Vec<u8>,
    /// Address → demangled name without hash, for the whole binary: defined symbols, dynamic
    /// symbols, and PLT stubs as `NAME@plt`. Compiler-internal names (`anon.*`, `.L*`, …) are
    /// left out: they change between builds.
    pub symbols: BTreeMap<u64, String>,
    /// GOT slot address → name of what the slot holds (imports by their dynamic symbol, local
    /// functions and data through `R_X86_64_RELATIVE` or, without relocations, the content).
    pub got: BTreeMap<u64, String>,
    /// Where absolute addresses can occur: the loaded sections of a non-PIE executable; empty
    /// for a PIE or shared object (position-independent code holds no absolute address).
    pub data_ranges: Vec<Range<u64>>,
    /// In-function targets read from the function's jump tables: they get labels and start
    /// blocks like direct branch targets.
    pub table_targets: BTreeSet<u64>,
}

/// One decoded instruction.
#[derive(Debug, Clone)]
pub struct Insn {
    /// Virtual address.
    pub address: u64,
    /// Length in bytes.
    pub len: usize,
    /// The decoded instruction (mnemonic, flow control, branch target, memory operand).
    pub instruction: Instruction,
    /// Normalized Intel-syntax text, deterministic across builds.
    pub text: String,
    /// For a direct branch or call, or a call/jump through a known GOT slot: the normalized
    /// target (`L3`, a function name, `<extern>`).
    pub target: Option<String>,
}

/// A basic block: instructions `start_index..=end_index` of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Index of the leader.
    pub start_index: usize,
    /// Index of the last instruction (inclusive).
    pub end_index: usize,
    /// The label of the leader if some branch of the function targets it.
    pub label: Option<String>,
}

/// A normalized disassembly of one function.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The function's name.
    pub name: String,
    /// All instructions in address order.
    pub instructions: Vec<Insn>,
    /// Basic blocks in address order, covering every instruction once.
    pub blocks: Vec<Block>,
}

impl Listing {
    /// One instruction per line (indented two spaces), each label on its own line (`L3:`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for block in &self.blocks {
            if let Some(label) = &block.label {
                out.push_str(label);
                out.push_str(":\n");
            }
            for insn in &self.instructions[block.start_index..=block.end_index] {
                out.push_str("  ");
                out.push_str(&insn.text);
                out.push('\n');
            }
        }
        out
    }
}

/// Indices of the indirect jumps (`jmp reg`, `jmp [mem]`): the dispatch points.
pub fn indirect_jumps(listing: &Listing) -> Vec<usize> {
    let insns = listing.instructions.iter().enumerate();
    insns
        .filter(|(_, i)| i.instruction.flow_control() == FlowControl::IndirectBranch)
        .map(|(n, _)| n)
        .collect()
}

/// `name` as it appears in listings: demangled, without hash and `.llvm.N` suffix; `None` for
/// compiler-internal names whose spelling changes between builds.
fn clean_name(raw: &str) -> Option<String> {
    let internal = ["anon.", ".L", "GCC_except_table", "$"];
    if raw.is_empty() || internal.iter().any(|p| raw.starts_with(p)) {
        return None;
    }
    let name = format!("{:#}", rustc_demangle::demangle(raw));
    Some(match name.find(".llvm.") {
        Some(at) => name[..at].to_string(),
        None => name,
    })
}

/// Reads `binary` and finds the function whose demangled name without hash is `name` (the
/// full demangled name with hash, or the raw symbol, also match: that picks one of several).
/// Identical copies (same listing) count as one; `NAME@0xADDR` picks one copy. Errors:
/// unreadable or non-ELF file, no such function (with close candidates), several different
/// functions of that name (with their hashed names and addresses), a symbol without bytes.
pub fn load_function(binary: &Path, name: &str) -> Result<Function, String> {
    // `NAME@0xADDR` picks one copy among several (addresses change between builds).
    let (name, at) = match name.rsplit_once("@0x") {
        Some((n, hex)) => (
            n,
            Some(u64::from_str_radix(hex, 16).map_err(|e| e.to_string())?),
        ),
        None => (name, None),
    };
    let data = std::fs::read(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", binary.display()))?;
    if file.architecture() != object::Architecture::X86_64 {
        return Err(format!("{}: not an x86-64 binary", binary.display()));
    }
    let mut symbols: BTreeMap<u64, (u8, String)> = BTreeMap::new();
    let mut found: BTreeMap<u64, (u64, String)> = BTreeMap::new();
    let mut text_names: BTreeSet<String> = BTreeSet::new();
    for symbol in file.symbols().chain(file.dynamic_symbols()) {
        let Ok(raw) = symbol.name() else { continue };
        if !symbol.is_definition() || symbol.address() == 0 {
            continue;
        }
        let Some(clean) = clean_name(raw) else {
            continue;
        };
        let text = symbol.kind() == object::SymbolKind::Text;
        if text {
            let full = rustc_demangle::demangle(raw).to_string();
            if clean == name || full == name || raw == name {
                found.insert(symbol.address(), (symbol.size(), full));
            }
            text_names.insert(clean.clone());
        }
        // Aliases: a function name wins over a data name, then the smallest name.
        let candidate = (u8::from(!text), clean);
        let entry = symbols.entry(symbol.address()).or_insert(candidate.clone());
        if candidate < *entry {
            *entry = candidate;
        }
    }
    let symbols: BTreeMap<u64, String> = symbols.into_iter().map(|(a, (_, n))| (a, n)).collect();

    found.retain(|&address, _| at.is_none_or(|at| at == address));
    if found.is_empty() {
        return Err(not_found(name, &text_names));
    }
    let data_ranges = file
        .sections()
        .filter(|_| file.kind() == object::ObjectKind::Executable)
        .filter(|s| s.address() != 0 && s.size() != 0)
        .map(|s| s.address()..s.address() + s.size())
        .collect();
    let mut shared = Function {
        name: name.to_string(),
        symbols,
        data_ranges,
        ..Function::default()
    };
    shared.got = got_slots(&file, &shared.symbols);
    add_plt_stubs(&file, &mut shared);

    // Copies of one function (same name and hash, one per codegen unit) that disassemble
    // to the same listing are one function: take the first.
    let mut copies: Vec<(Function, String)> = Vec::new();
    for (&address, &(size, _)) in &found {
        let bytes = read_at(&file, address, size).filter(|b| !b.is_empty());
        let bytes = bytes.ok_or_else(|| format!("`{name}` at {address:#x}: no bytes"))?;
        let mut f = Function {
            address,
            bytes: bytes.to_vec(),
            ..shared.clone()
        };
        f.table_targets = jump_table_targets(&file, &f);
        let text = if found.len() > 1 {
            disassemble(&f).to_text()
        } else {
            String::new()
        };
        copies.push((f, text));
    }
    if copies.iter().all(|(_, text)| *text == copies[0].1) {
        return Ok(copies.swap_remove(0).0);
    }
    let all: Vec<String> = found
        .iter()
        .map(|(a, (_, full))| format!("  {full} at {a:#x}"))
        .collect();
    Err(format!(
        "{} different functions are named `{name}` (choose one with `{name}@ADDRESS`):\n{}",
        found.len(),
        all.join("\n")
    ))
}

/// `len` bytes at virtual address `address` of the binary, if a section holds them.
fn read_at<'a>(file: &'a object::File, address: u64, len: u64) -> Option<&'a [u8]> {
    let section = file.sections().find(|s| {
        s.address() <= address && address.saturating_add(len) <= s.address() + s.size()
    })?;
    let from = usize::try_from(address - section.address()).ok()?;
    section
        .data()
        .ok()?
        .get(from..from + usize::try_from(len).ok()?)
}

/// Targets of the function's jump tables, of two shapes: absolute (non-PIE) `jmp
/// [idx*8+TABLE]` with 8-byte addresses, and relative (PIE) `lea B,[rip+TABLE]` … `movsxd
/// r,dword ptr [B+idx*4]` with 4-byte offsets from TABLE (every such lea of the function is
/// tried). The table's length is not in the code: entries are read while they land inside
/// the function (at most 4096).
fn jump_table_targets(file: &object::File, f: &Function) -> BTreeSet<u64> {
    let range = f.address..f.address + f.bytes.len() as u64;
    let decoded: Vec<Instruction> = Decoder::with_ip(64, &f.bytes, f.address, DecoderOptions::NONE)
        .iter()
        .collect();
    let mut targets = BTreeSet::new();
    let mut read = |table: u64, width: u64| {
        for n in 0..4096 {
            let Some(entry) = read_at(file, table.wrapping_add(n * width), width) else {
                break;
            };
            let target = match entry.try_into() {
                Ok(absolute) if width == 8 => u64::from_le_bytes(absolute),
                _ => match entry.try_into() {
                    Ok(relative) => table.wrapping_add(i32::from_le_bytes(relative) as u64),
                    Err(_) => break,
                },
            };
            if !range.contains(&target) {
                break;
            }
            targets.insert(target);
        }
    };
    for insn in &decoded {
        let memory = (0..insn.op_count()).any(|op| insn.op_kind(op) == OpKind::Memory);
        if !memory || insn.memory_index() == Register::None {
            continue;
        }
        let base = insn.memory_base();
        if insn.flow_control() == FlowControl::IndirectBranch
            && base == Register::None
            && insn.memory_index_scale() == 8
        {
            read(insn.memory_displacement64(), 8);
        } else if insn.mnemonic() == Mnemonic::Movsxd
            && insn.memory_index_scale() == 4
            && insn.memory_displacement64() == 0
        {
            // The lea is often hoisted out of the loop: try every one that sets the base.
            let leas = decoded.iter().filter(|i| {
                i.mnemonic() == Mnemonic::Lea
                    && i.op0_register() == base
                    && i.is_ip_rel_memory_operand()
            });
            for lea in leas {
                read(lea.ip_rel_memory_address(), 4);
            }
        }
    }
    targets
}

/// The "not found" message, with up to 10 function names sharing the last path segment.
fn not_found(name: &str, text_names: &BTreeSet<String>) -> String {
    let last = name.rsplit("::").next().unwrap_or(name);
    let close: Vec<&str> = text_names
        .iter()
        .filter(|n| n.rsplit("::").next() == Some(last))
        .map(String::as_str)
        .take(10)
        .collect();
    if close.is_empty() {
        format!(
            "no function `{name}` ({} named functions)",
            text_names.len()
        )
    } else {
        format!("no function `{name}`; close:\n  {}", close.join("\n  "))
    }
}

/// GOT slot → name: dynamic relocations first, then (non-PIE, static) slot contents.
fn got_slots(file: &object::File, symbols: &BTreeMap<u64, String>) -> BTreeMap<u64, String> {
    use object::elf::{R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT, R_X86_64_RELATIVE};
    let mut got = BTreeMap::new();
    let dynsyms = file.dynamic_symbol_table();
    for (slot, reloc) in file.dynamic_relocations().into_iter().flatten() {
        let RelocationFlags::Elf { r_type } = reloc.flags() else {
            continue;
        };
        let name = match (r_type, reloc.target()) {
            (R_X86_64_RELATIVE, _) => symbols.get(&(reloc.addend() as u64)).cloned(),
            (
                R_X86_64_GLOB_DAT | R_X86_64_JUMP_SLOT | R_X86_64_64,
                object::RelocationTarget::Symbol(i),
            ) if reloc.addend() == 0 => {
                let symbol = dynsyms.as_ref().and_then(|t| t.symbol_by_index(i).ok());
                symbol.and_then(|s| s.name().ok().and_then(clean_name))
            }
            _ => None,
        };
        if let Some(name) = name {
            got.insert(slot, name);
        }
    }
    for section in file.sections() {
        if !matches!(section.name(), Ok(".got" | ".got.plt")) {
            continue;
        }
        let Ok(data) = section.data() else { continue };
        for (n, word) in data.chunks_exact(8).enumerate() {
            let slot = section.address() + 8 * n as u64;
            let value = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if let (false, Some(name)) = (got.contains_key(&slot), symbols.get(&value)) {
                got.insert(slot, name.clone());
            }
        }
    }
    got
}

/// Names PLT stubs `NAME@plt`: a stub starts with `jmp [rip+GOT slot]`, or with `endbr64`
/// right before it.
fn add_plt_stubs(file: &object::File, f: &mut Function) {
    for section in file.sections() {
        if !matches!(section.name(), Ok(".plt" | ".plt.sec" | ".plt.got")) {
            continue;
        }
        let (Ok(data), base) = (section.data(), section.address()) else {
            continue;
        };
        let mut previous = Instruction::default();
        for insn in Decoder::with_ip(64, data, base, DecoderOptions::NONE).iter() {
            let endbr = previous.mnemonic() == Mnemonic::Endbr64 && previous.next_ip() == insn.ip();
            let stub = if endbr { previous.ip() } else { insn.ip() };
            previous = insn;
            if insn.flow_control() == FlowControl::IndirectBranch && insn.is_ip_rel_memory_operand()
            {
                if let Some(name) = f.got.get(&insn.ip_rel_memory_address()) {
                    f.symbols
                        .entry(stub)
                        .or_insert_with(|| format!("{name}@plt"));
                }
            }
        }
    }
}

/// Callees that never return: a call to one ends a basic block.
fn diverges(callee: &str) -> bool {
    const PREFIXES: [&str; 12] = [
        "core::panicking::",
        "std::panicking::",
        "core::result::unwrap_failed",
        "core::option::unwrap_failed",
        "core::option::expect_failed",
        "core::slice::index::slice_",
        "core::cell::panic_",
        "alloc::alloc::handle_alloc_error",
        "alloc::raw_vec::handle_error",
        "alloc::raw_vec::capacity_overflow",
        "std::process::abort",
        "std::process::exit",
    ];
    let callee = callee.strip_suffix("@plt").unwrap_or(callee);
    PREFIXES.iter().any(|p| callee.starts_with(p))
        || matches!(
            callee,
            "abort" | "exit" | "_exit" | "_Unwind_Resume" | "__stack_chk_fail"
        )
}

/// What the formatter callbacks need to name addresses.
struct Names {
    range: Range<u64>,
    labels: HashMap<u64, String>,
    symbols: BTreeMap<u64, String>,
    got: BTreeMap<u64, String>,
    data_ranges: Vec<Range<u64>>,
}

impl Names {
    fn is_address(&self, value: u64) -> bool {
        value >= 0x1000 && self.data_ranges.iter().any(|r| r.contains(&value))
    }

    /// A direct branch or call target.
    fn target(&self, address: u64) -> String {
        let (name, unknown) = if self.range.contains(&address) {
            // Inside: a label, unless the target is not an instruction boundary.
            (self.labels.get(&address), "<inside>")
        } else {
            (self.symbols.get(&address), "<extern>")
        };
        name.cloned().unwrap_or_else(|| unknown.into())
    }

    /// The GOT slot an instruction's memory operand reads, if it is a named one.
    fn got_slot(&self, insn: &Instruction) -> Option<&String> {
        insn.is_ip_rel_memory_operand()
            .then(|| self.got.get(&insn.ip_rel_memory_address()))
            .flatten()
    }

    /// Replacement text for operand `operand` (an instruction operand) whose value is `value`.
    fn operand(&self, insn: &Instruction, operand: u32, value: u64) -> Option<String> {
        match insn.op_kind(operand) {
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                Some(self.target(value))
            }
            OpKind::Memory if insn.is_ip_rel_memory_operand() => Some(match self.got_slot(insn) {
                Some(name) => format!("GOT:{name}"),
                None => self
                    .symbols
                    .get(&value)
                    .cloned()
                    .unwrap_or_else(|| "data".into()),
            }),
            OpKind::Memory if insn.memory_base() == Register::None && self.is_address(value) => {
                Some(if insn.memory_index() != Register::None {
                    "table".into()
                } else {
                    self.symbols
                        .get(&value)
                        .cloned()
                        .unwrap_or_else(|| "data".into())
                })
            }
            OpKind::Memory => (insn.memory_displacement64() != 0).then(|| "disp".into()),
            OpKind::Immediate32to64 | OpKind::Immediate32 | OpKind::Immediate64
                if self.is_address(value) =>
            {
                Some(
                    self.symbols
                        .get(&value)
                        .cloned()
                        .unwrap_or_else(|| "addr".into()),
                )
            }
            _ => None,
        }
    }
}

struct Resolver(Rc<Names>);

impl SymbolResolver for Resolver {
    fn symbol(
        &mut self,
        insn: &Instruction,
        _: u32,
        operand: Option<u32>,
        address: u64,
        _: u32,
    ) -> Option<SymbolResult<'_>> {
        let text = self.0.operand(insn, operand?, address)?;
        Some(SymbolResult::with_string(address, text))
    }
}

fn direct_target(insn: &Instruction) -> Option<u64> {
    let branch = [
        OpKind::NearBranch16,
        OpKind::NearBranch32,
        OpKind::NearBranch64,
    ];
    (insn.op_count() > 0 && branch.contains(&insn.op0_kind())).then(|| insn.near_branch_target())
}

/// Decodes `f` and normalizes every instruction (see the module comment), then splits the
/// instructions into basic blocks. Bytes that do not decode become `(bad)` instructions.
pub fn disassemble(f: &Function) -> Listing {
    let range = f.address..f.address + f.bytes.len() as u64;
    let decoded: Vec<Instruction> = Decoder::with_ip(64, &f.bytes, f.address, DecoderOptions::NONE)
        .iter()
        .collect();
    let starts: BTreeSet<u64> = decoded.iter().map(Instruction::ip).collect();
    let targets: BTreeSet<u64> = decoded
        .iter()
        .filter_map(direct_target)
        .chain(f.table_targets.iter().copied())
        .filter(|t| starts.contains(t))
        .collect();
    let names = Rc::new(Names {
        labels: targets
            .iter()
            .enumerate()
            .map(|(n, &a)| (a, format!("L{n}")))
            .collect(),
        range,
        symbols: f.symbols.clone(),
        got: f.got.clone(),
        data_ranges: f.data_ranges.clone(),
    });
    let mut formatter =
        IntelFormatter::with_options(Some(Box::new(Resolver(Rc::clone(&names)))), None);
    let options = formatter.options_mut();
    options.set_hex_prefix("0x");
    options.set_hex_suffix("");
    options.set_uppercase_hex(false);
    options.set_signed_immediate_operands(true);
    options.set_rip_relative_addresses(true);
    options.set_show_branch_size(false);
    options.set_branch_leading_zeros(false);

    let mut instructions = Vec::with_capacity(decoded.len());
    for instruction in decoded {
        let mut text = String::new();
        if instruction.mnemonic() == Mnemonic::Nop {
            text.push_str("nop");
        } else if instruction.is_invalid() {
            text.push_str("(bad)");
        } else {
            formatter.format(&instruction, &mut text);
            // A GOT slot is named by its content, not by where it is: drop the `rip+`.
            text = text.replace("[rip+GOT:", "[GOT:");
        }
        let through_got = matches!(
            instruction.flow_control(),
            FlowControl::IndirectCall | FlowControl::IndirectBranch
        );
        let target = match direct_target(&instruction) {
            Some(address) => Some(names.target(address)),
            None if through_got => names.got_slot(&instruction).cloned(),
            None => None,
        };
        instructions.push(Insn {
            address: instruction.ip(),
            len: instruction.len(),
            instruction,
            text,
            target,
        });
    }
    let blocks = blocks(&instructions, &names.labels);
    Listing {
        name: f.name.clone(),
        instructions,
        blocks,
    }
}

/// Whether the block ends after this instruction.
fn ends_block(insn: &Insn) -> bool {
    let call = |i: &Insn| i.target.as_deref().is_some_and(diverges);
    match insn.instruction.flow_control() {
        FlowControl::UnconditionalBranch
        | FlowControl::IndirectBranch
        | FlowControl::ConditionalBranch
        | FlowControl::Return
        | FlowControl::Exception => true,
        FlowControl::Call | FlowControl::IndirectCall => call(insn),
        _ => insn.instruction.mnemonic() == Mnemonic::Int3,
    }
}

fn blocks(insns: &[Insn], labels: &HashMap<u64, String>) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for (index, insn) in insns.iter().enumerate() {
        let label = labels.get(&insn.address).cloned();
        let after_end = index > 0 && ends_block(&insns[index - 1]);
        if index == 0 || label.is_some() || after_end {
            blocks.push(Block {
                start_index: index,
                end_index: index,
                label,
            });
        } else if let Some(last) = blocks.last_mut() {
            last.end_index = index;
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::code_asm::*;
    use iced_x86::{Code, MemoryOperand};

    /// `ins` with a rip-relative memory operand at absolute address `target`.
    fn rip(code: Code, reg: Register, target: u64) -> Instruction {
        let memory = MemoryOperand::with_base_displ(Register::RIP, target as i64);
        let made = if reg == Register::None {
            Instruction::with1(code, memory)
        } else {
            Instruction::with2(code, reg, memory)
        };
        made.expect("valid instruction")
    }

    /// A function at 0x1000 exercising every normalization rule, and its names.
    fn sample() -> Result<Function, IcedError> {
        let mut a = CodeAssembler::new(64)?;
        let mut back = a.create_label();
        let mut forward = a.create_label();
        a.push(rbx)?;
        a.mov(rax, qword_ptr(r14 + 0x168))?;
        a.mov(rdx, qword_ptr(rax + rcx - 0x20))?;
        a.add_instruction(rip(Code::Mov_r64_rm64, Register::RCX, 0x5000))?;
        a.add_instruction(rip(Code::Lea_r64_m, Register::RSI, 0x6000))?;
        a.mov(edi, 0xe)?;
        a.mov(esi, 0x6000)?;
        a.mov(r8d, 0x5008)?;
        a.test(rax, rax)?;
        a.je(forward)?;
        a.set_label(&mut back)?;
        a.dec(rcx)?;
        a.jne(back)?;
        a.movzx(eax, byte_ptr(rdi))?;
        a.jmp(qword_ptr(rax * 8 + 0x208330))?;
        a.set_label(&mut forward)?;
        a.call(0x9000u64)?;
        a.call(0xdead0u64)?;
        a.add_instruction(rip(Code::Call_rm64, Register::None, 0x7000))?;
        a.add(rax, 5)?;
        a.db(&[0x0f, 0x1f, 0x44, 0x00, 0x00])?; // nop dword ptr [rax+rax+0]
        a.jmp(rdx)?;
        a.ud2()?;
        a.pop(rbx)?;
        a.ret()?;
        Ok(Function {
            name: "sample".into(),
            address: 0x1000,
            bytes: a.assemble(0x1000)?,
            symbols: BTreeMap::from([
                (0x6000, "somlab::HANDLERS".into()),
                (0x9000, "lang::runtime::dispatch::send".into()),
            ]),
            got: BTreeMap::from([(0x7000, "core::panicking::panic_bounds_check".into())]),
            data_ranges: vec![0x4000..0x8000, 0x8000..0x300000],
            table_targets: BTreeSet::new(),
        })
    }

    #[test]
    fn normalizes_labels_addresses_and_displacements() {
        let listing = disassemble(&sample().expect("assembles"));
        let expected = "  push rbx
  mov rax,[r14+disp]
  mov rdx,[rax+rcx+disp]
  mov rcx,[rip+data]
  lea rsi,[rip+somlab::HANDLERS]
  mov edi,0xe
  mov esi,somlab::HANDLERS
  mov r8d,addr
  test rax,rax
  je L1
L0:
  dec rcx
  jne L0
  movzx eax,byte ptr [rdi]
  jmp qword ptr [rax*8+table]
L1:
  call lang::runtime::dispatch::send
  call <extern>
  call qword ptr [GOT:core::panicking::panic_bounds_check]
  add rax,5
  nop
  jmp rdx
  ud2
  pop rbx
  ret
";
        assert_eq!(listing.to_text(), expected);
        assert_eq!(listing.name, "sample");
        assert_eq!(listing.instructions[0].address, 0x1000);
        assert_eq!(listing.instructions[0].len, 1);
        let targets: Vec<Option<&str>> = [9, 11, 14, 15, 16]
            .iter()
            .map(|&i| listing.instructions[i].target.as_deref())
            .collect();
        let expected_targets = [
            Some("L1"),
            Some("L0"),
            Some("lang::runtime::dispatch::send"),
            Some("<extern>"),
            Some("core::panicking::panic_bounds_check"),
        ];
        assert_eq!(targets, expected_targets);
    }

    #[test]
    fn splits_basic_blocks_and_finds_indirect_jumps() {
        let listing = disassemble(&sample().expect("assembles"));
        let spans: Vec<(usize, usize, Option<&str>)> = listing
            .blocks
            .iter()
            .map(|b| (b.start_index, b.end_index, b.label.as_deref()))
            .collect();
        // Entry … je; the loop; movzx … jmp [table]; the calls up to the panic (a call
        // that never returns); add … jmp rdx; ud2; pop … ret.
        let expected = [
            (0, 9, None),
            (10, 11, Some("L0")),
            (12, 13, None),
            (14, 16, Some("L1")),
            (17, 19, None),
            (20, 20, None),
            (21, 22, None),
        ];
        assert_eq!(spans, expected);
        assert_eq!(indirect_jumps(&listing), vec![13, 19]);
        assert_eq!(listing.instructions[13].text, "jmp qword ptr [rax*8+table]");
        assert_eq!(listing.instructions[19].text, "jmp rdx");
    }

    #[test]
    fn labels_follow_target_addresses_not_discovery_order_and_table_targets_count() {
        // jmp C; A: ret; B: jmp A; C: jmp B — discovered C, A, B; numbered A=L0, B=L1, C=L2.
        let mut a = CodeAssembler::new(64).expect("64-bit");
        let (mut la, mut lb, mut lc) = (a.create_label(), a.create_label(), a.create_label());
        a.jmp(lc).expect("jmp");
        a.set_label(&mut la).expect("label");
        a.ret().expect("ret");
        a.set_label(&mut lb).expect("label");
        a.jmp(la).expect("jmp");
        a.set_label(&mut lc).expect("label");
        a.jmp(lb).expect("jmp");
        a.nop().expect("nop");
        a.ret().expect("ret");
        let bytes = a.assemble(0x2000).expect("assembles");
        let mut f = Function {
            name: "order".into(),
            address: 0x2000,
            bytes,
            ..Function::default()
        };
        let text = disassemble(&f).to_text();
        assert_eq!(
            text,
            "  jmp L2\nL0:\n  ret\nL1:\n  jmp L0\nL2:\n  jmp L1\n  nop\n  ret\n"
        );
        // A jump-table target (the final ret, after the 1-byte nop) gets a label of its own.
        let last = f.address + f.bytes.len() as u64 - 1;
        f.table_targets.insert(last);
        let listing = disassemble(&f);
        let expected = "  jmp L2\nL0:\n  ret\nL1:\n  jmp L0\nL2:\n  jmp L1\n  nop\nL3:\n  ret\n";
        assert_eq!(listing.to_text(), expected);
        assert_eq!(listing.blocks.len(), 6);
    }

    #[test]
    fn names_are_demangled_without_hash_and_internal_names_dropped() {
        let legacy =
            "_ZN9bc_interp6interp37_$LT$impl$u20$bc_interp..BcEngine$GT$3run17hd235b270af10d32eE";
        let clean = clean_name(legacy);
        assert_eq!(
            clean.as_deref(),
            Some("bc_interp::interp::<impl bc_interp::BcEngine>::run")
        );
        assert_eq!(clean_name("memcpy").as_deref(), Some("memcpy"));
        assert_eq!(
            clean_name("helper.llvm.6613553996153103647").as_deref(),
            Some("helper")
        );
        assert_eq!(
            clean_name("anon.cc7397082946289d70a6de255073b3dd.0.llvm.66135"),
            None
        );
        assert_eq!(clean_name(".Lswitch.table.x"), None);
        assert!(diverges("core::panicking::panic_bounds_check"));
        assert!(diverges("_Unwind_Resume@plt"));
        assert!(!diverges("lang::runtime::dispatch::send"));
    }

    /// A dense `match`: a jump table in optimized code. Found by its demangled name.
    #[inline(never)]
    pub fn dispatch_sample(op: u8, x: u64) -> u64 {
        match op {
            0 => x.wrapping_add(11),
            1 => x.wrapping_mul(3),
            2 => x ^ 0x55,
            3 => x.rotate_left(7),
            4 => x.wrapping_sub(97),
            5 => x >> 3,
            6 => x.wrapping_mul(x),
            7 => !x,
            8 => (x << 5) ^ x,
            9 => x.leading_zeros() as u64,
            10 => x | 0x70,
            11 => x.wrapping_add(x >> 9),
            _ => 0,
        }
    }

    #[test]
    fn loads_a_real_function_from_this_test_binary() {
        let (op, x) = std::hint::black_box((3u8, 1u64));
        assert_eq!(dispatch_sample(op, x), 1 << 7);
        let exe = std::env::current_exe().expect("test binary");
        let name = "measurements::static_dispatch::tests::dispatch_sample";
        let f = load_function(&exe, name).expect("found by demangled name");
        assert_eq!(f.name, name);
        assert!(f.symbols.get(&f.address).is_some_and(|n| n == name));
        let listing = disassemble(&f);
        assert!(!listing.instructions.is_empty());
        let last = &listing.instructions[listing.instructions.len() - 1].instruction;
        let ends = [
            FlowControl::Return,
            FlowControl::UnconditionalBranch,
            FlowControl::IndirectBranch,
        ];
        assert!(
            ends.contains(&last.flow_control()),
            "ends with {}",
            listing.to_text()
        );
        let text = listing.to_text();
        // The dense match is a jump table: one indirect jump, a label per arm (≥ 12).
        assert_eq!(indirect_jumps(&listing).len(), 1, "{text}");
        assert!(
            text.lines().filter(|l| l.ends_with(':')).count() >= 12,
            "{text}"
        );
        // No raw addresses: no number of 4 or more hex digits survives normalization.
        let long_hex = |w: &str| {
            w.split("0x")
                .skip(1)
                .any(|h| h.chars().take_while(char::is_ascii_hexdigit).count() >= 4)
        };
        assert!(
            !text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(long_hex),
            "{text}"
        );

        let missing = load_function(&exe, "nowhere::dispatch_sample").expect_err("no such path");
        assert!(
            missing.contains("no function `nowhere::dispatch_sample`"),
            "{missing}"
        );
        assert!(missing.contains(name), "close candidates listed: {missing}");
    }
}
