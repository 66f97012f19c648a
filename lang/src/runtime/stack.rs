//! The value stack shared by the engines and the primitives: receivers, arguments, locals and
//! temporaries of every activation, and the first set of GC roots.
//!
//! Owns: storage that only grows, and the stack pointer. A push is one bounds check against
//! storage that is already there (growth is the rare, cold path), instead of a vector's
//! separate length and capacity bookkeeping. Must never: shrink its storage while running, or
//! show the GC anything above the stack pointer.

use std::ops::{Index, IndexMut, Range};

use crate::runtime::value::Value;

pub struct ValueStack {
    slots: Vec<Value>,
    sp: usize,
}

impl ValueStack {
    pub fn with_capacity(n: usize) -> ValueStack {
        ValueStack {
            slots: vec![Value::EMPTY; n.max(16)],
            sp: 0,
        }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.sp
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.sp == 0
    }

    #[inline(always)]
    pub fn push(&mut self, v: Value) {
        match self.slots.get_mut(self.sp) {
            Some(slot) => *slot = v,
            None => self.grow_and_push(v),
        }
        self.sp += 1;
    }

    #[cold]
    #[inline(never)]
    fn grow_and_push(&mut self, v: Value) {
        let n = self.slots.len();
        self.slots.resize(n * 2, Value::EMPTY);
        self.slots[self.sp] = v;
    }

    /// Pops the top value; the stack must not be empty.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Value> {
        if self.sp == 0 {
            return None;
        }
        self.sp -= 1;
        Some(self.slots[self.sp])
    }

    #[inline(always)]
    pub fn last(&self) -> Option<&Value> {
        self.sp.checked_sub(1).map(|i| &self.slots[i])
    }

    #[inline(always)]
    pub fn truncate(&mut self, len: usize) {
        if len < self.sp {
            self.sp = len;
        }
    }

    /// Grows or shrinks to `len`, filling new slots with `v`.
    #[inline]
    pub fn resize(&mut self, len: usize, v: Value) {
        if len > self.slots.len() {
            self.slots.resize(len.next_power_of_two(), Value::EMPTY);
        }
        if len > self.sp {
            self.slots[self.sp..len].fill(v);
        }
        self.sp = len;
    }

    pub fn clear(&mut self) {
        self.sp = 0;
    }

    pub fn extend(&mut self, values: impl IntoIterator<Item = Value>) {
        for v in values {
            self.push(v);
        }
    }

    pub fn extend_from_slice(&mut self, values: &[Value]) {
        for v in values {
            self.push(*v);
        }
    }

    /// The live values (below the stack pointer), for the GC.
    pub fn live_mut(&mut self) -> &mut [Value] {
        &mut self.slots[..self.sp]
    }
}

impl Index<usize> for ValueStack {
    type Output = Value;
    #[inline(always)]
    fn index(&self, i: usize) -> &Value {
        debug_assert!(
            i < self.sp,
            "stack index {i} above the stack pointer {}",
            self.sp
        );
        &self.slots[i]
    }
}

impl IndexMut<usize> for ValueStack {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut Value {
        debug_assert!(
            i < self.sp,
            "stack index {i} above the stack pointer {}",
            self.sp
        );
        &mut self.slots[i]
    }
}

impl Index<Range<usize>> for ValueStack {
    type Output = [Value];
    fn index(&self, r: Range<usize>) -> &[Value] {
        debug_assert!(r.end <= self.sp);
        &self.slots[r]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_past_its_initial_storage_and_keeps_values() {
        let mut s = ValueStack::with_capacity(16);
        for i in 0..100 {
            s.push(Value::small_int(i));
        }
        assert_eq!(s.len(), 100);
        assert_eq!(s[42], Value::small_int(42));
        assert_eq!(s.pop(), Some(Value::small_int(99)));
        s.truncate(10);
        assert_eq!(s.live_mut().len(), 10);
        s.resize(12, Value::small_int(7));
        assert_eq!((s[10], s[11]), (Value::small_int(7), Value::small_int(7)));
        s.truncate(0);
        assert_eq!(s.pop(), None);
    }
}
