//! The on-disk form of a function's code: one byte string per function, each instruction an
//! opcode byte followed by its operands in declaration order (integers as LEB128 varints,
//! `bool` and `IterOp` as one byte). Read without serde's per-element machinery, which made up
//! most of the time spent loading a compiled pack.
//!
//! The table below lists every instruction once, with its opcode. The writer's `match` is
//! exhaustive, so an instruction added to [`Instr`] without an entry here does not compile;
//! the reader refuses unknown opcodes, truncated or overlong operands, and trailing bytes.
//! Changing an opcode or an operand changes the format: bump `IR_VERSION`.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

use super::{Instr, IterOp, Reg};

/// One operand's encoding.
trait Operand: Sized {
    fn put(self, out: &mut Vec<u8>);
    fn get(input: &mut &[u8]) -> Option<Self>;
}

fn byte(input: &mut &[u8]) -> Option<u8> {
    let (&b, rest) = input.split_first()?;
    *input = rest;
    Some(b)
}

impl Operand for u32 {
    fn put(self, out: &mut Vec<u8>) {
        let mut n = self;
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    #[inline(always)]
    fn get(input: &mut &[u8]) -> Option<u32> {
        // Most operands are below 128: one byte.
        if let Some((&b, rest)) = input.split_first() {
            if b < 0x80 {
                *input = rest;
                return Some(u32::from(b));
            }
        }
        let mut n: u32 = 0;
        for shift in [0, 7, 14, 21, 28] {
            let b = byte(input)?;
            let part = u32::from(b & 0x7f);
            // The fifth byte holds the top four bits only.
            if shift == 28 && part > 0x0f {
                return None;
            }
            n |= part << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }
}

impl Operand for u16 {
    fn put(self, out: &mut Vec<u8>) {
        u32::from(self).put(out);
    }
    #[inline(always)]
    fn get(input: &mut &[u8]) -> Option<u16> {
        u16::try_from(u32::get(input)?).ok()
    }
}

impl Operand for Reg {
    fn put(self, out: &mut Vec<u8>) {
        self.0.put(out);
    }
    #[inline(always)]
    fn get(input: &mut &[u8]) -> Option<Reg> {
        u16::get(input).map(Reg)
    }
}

impl Operand for bool {
    fn put(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
    fn get(input: &mut &[u8]) -> Option<bool> {
        match byte(input)? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

const ITER_OPS: [IterOp; 7] = [
    IterOp::Any,
    IterOp::All,
    IterOp::Filter,
    IterOp::First,
    IterOp::Map,
    IterOp::Distinct,
    IterOp::Reduce,
];

impl Operand for IterOp {
    fn put(self, out: &mut Vec<u8>) {
        let i = ITER_OPS.iter().position(|op| *op == self).unwrap_or(0);
        out.push(i as u8);
    }
    fn get(input: &mut &[u8]) -> Option<IterOp> {
        ITER_OPS.get(usize::from(byte(input)?)).copied()
    }
}

macro_rules! opcodes {
    ($($op:literal $name:ident { $($field:ident),* },)*) => {
        /// Appends the encoding of `instr` to `out`.
        pub fn write(instr: Instr, out: &mut Vec<u8>) {
            match instr {
                $(Instr::$name { $($field),* } => {
                    out.push($op);
                    $(Operand::put($field, out);)*
                })*
            }
        }

        /// Reads one instruction from the front of `input`.
        pub fn read(input: &mut &[u8]) -> Option<Instr> {
            Some(match byte(input)? {
                $($op => Instr::$name { $($field: Operand::get(input)?),* },)*
                _ => return None,
            })
        }

        /// One of every instruction, each operand made from `seed` (for the tests).
        #[cfg(test)]
        fn every_instruction(seed: u32) -> Vec<Instr> {
            vec![$(Instr::$name { $($field: tests::Sample::sample(seed)),* },)*]
        }
    };
}

opcodes! {
    0 LoadConst { dst, k },
    1 LoadUndef { dst },
    2 LoadNull { dst },
    3 LoadBool { dst, value },
    4 LoadUnknown { dst },
    5 Move { dst, src },
    6 LoadFact { dst, idx },
    7 LoadAdhoc { dst, name },
    8 LoadLet { dst, let_id },
    9 InlineLet { dst, let_id },
    10 StoreLet { src, let_id },
    11 LoadRule { dst, rule },
    12 Import { dst, site },
    13 EnsureLocal { slot, target },
    14 ClearLocal { slot },
    15 RetSub {},
    16 CheckLet { src, site },
    17 GetField { dst, src, name },
    18 GetIndex { dst, src, key },
    19 GetFieldLenient { dst, src, name },
    20 GetIndexLenient { dst, src, key },
    21 Add { dst, lhs, rhs },
    22 Sub { dst, lhs, rhs },
    23 Mul { dst, lhs, rhs },
    24 Div { dst, lhs, rhs },
    25 Mod { dst, lhs, rhs },
    26 Lt { dst, lhs, rhs },
    27 Le { dst, lhs, rhs },
    28 Gt { dst, lhs, rhs },
    29 Ge { dst, lhs, rhs },
    30 Eq { dst, lhs, rhs },
    31 Ne { dst, lhs, rhs },
    32 Contains { dst, lhs, rhs },
    33 Matches { dst, lhs, rhs },
    34 MatchesConst { dst, src, regex },
    35 Not { dst, src },
    36 Neg { dst, src },
    37 Plus { dst, src },
    38 Truthy { dst, src },
    39 AndTri { dst, lhs, rhs },
    40 OrTri { dst, lhs, rhs },
    41 XorTri { dst, lhs, rhs },
    42 IsDefined { dst, src },
    43 IsEmpty { dst, src },
    44 IsType { dst, src, ty },
    45 Cast { dst, src, ty },
    46 Count { dst, src },
    47 Jump { target },
    48 JumpIfTrue { src, target },
    49 JumpIfNotTrue { src, target },
    50 JumpIfFalse { src, target },
    51 JumpIfUndef { src, target },
    52 MakeList { dst, src, n },
    53 MakeMap { dst, src, n },
    54 IterCheck { src, op },
    55 IterNext { list, idx, elem },
    56 Incr { reg },
    57 BuilderNew { b },
    58 BuilderPush { b, src },
    59 BuilderFinish { dst, b },
    60 BuilderLen { dst, b },
    61 BuilderGet { dst, b, idx },
    62 CallBuiltin { dst, site },
    63 CallNative { dst, site },
    64 CallModule { dst, site },
    65 IndexProbe { node, key, index },
    66 IndexDone { node, target },
    67 IndexElem { dst, pos, index },
    68 IndexRule { dst, pos, index },
    69 IndexGuard { dst, index },
    70 ContainsConst { dst, src, index },
    71 Fail { k },
    72 Ret { src },
    73 GetFactField { dst, idx, name, lenient },
    74 OrJump { reg, target },
    75 AndJump { reg, target },
    76 InlineRule { dst, rule },
    77 StoreRule { src, rule },
}

/// Every instruction of `code`, encoded, after their count.
pub fn encode(code: &[Instr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(code.len() * 4 + 4);
    u32::try_from(code.len()).unwrap_or(u32::MAX).put(&mut out);
    for instr in code {
        write(*instr, &mut out);
    }
    out
}

/// The instructions of an encoded byte string; `None` if any byte is out of place or the
/// count is not the number of instructions that follow.
pub fn decode(mut bytes: &[u8]) -> Option<Vec<Instr>> {
    let count = u32::get(&mut bytes)? as usize;
    // Every instruction takes a byte at least: a count beyond that is a lie, refused before
    // anything is reserved for it.
    if count > bytes.len() {
        return None;
    }
    let mut code = Vec::with_capacity(count);
    for _ in 0..count {
        code.push(read(&mut bytes)?);
    }
    bytes.is_empty().then_some(code)
}

/// `#[serde(with = "...")]` for `Func::code`: the code as one byte string.
pub mod serde_code {
    use super::*;

    pub fn serialize<S: Serializer>(code: &[Instr], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&encode(code))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Instr>, D::Error> {
        d.deserialize_bytes(CodeVisitor)
    }

    struct CodeVisitor;

    impl<'de> Visitor<'de> for CodeVisitor {
        type Value = Vec<Instr>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("encoded instructions")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<Instr>, E> {
            decode(bytes).ok_or_else(|| E::custom("malformed instruction encoding"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) trait Sample {
        fn sample(seed: u32) -> Self;
    }
    impl Sample for u32 {
        fn sample(seed: u32) -> u32 {
            seed
        }
    }
    impl Sample for u16 {
        fn sample(seed: u32) -> u16 {
            seed as u16
        }
    }
    impl Sample for Reg {
        fn sample(seed: u32) -> Reg {
            Reg(seed.rotate_left(3) as u16)
        }
    }
    impl Sample for bool {
        fn sample(seed: u32) -> bool {
            seed % 2 == 1
        }
    }
    impl Sample for IterOp {
        fn sample(seed: u32) -> IterOp {
            ITER_OPS[seed as usize % ITER_OPS.len()]
        }
    }

    const SEEDS: [u32; 10] = [0, 1, 6, 127, 128, 16_383, 16_384, 65_535, 1 << 28, u32::MAX];

    #[test]
    fn every_instruction_reads_back_as_written() {
        for seed in SEEDS {
            let code = every_instruction(seed);
            assert_eq!(decode(&encode(&code)), Some(code), "seed {seed}");
        }
    }

    /// The opcode byte `instr` is written with.
    fn opcode(instr: Instr) -> u8 {
        let mut out = Vec::new();
        write(instr, &mut out);
        out[0]
    }

    #[test]
    fn opcodes_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for instr in every_instruction(1) {
            let op = opcode(instr);
            assert!(seen.insert(op), "opcode {op} used twice");
        }
    }

    #[test]
    fn a_cut_instruction_is_refused() {
        for seed in SEEDS {
            for instr in every_instruction(seed) {
                let out = encode(&[instr]);
                for cut in 0..out.len() {
                    assert_eq!(decode(&out[..cut]), None, "{instr:?} cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn out_of_range_operands_are_refused() {
        // A register over u16, a sixth varint byte, a bool of 2, an unknown form, an unknown
        // opcode.
        let move_op = opcode(Instr::Move {
            dst: Reg(0),
            src: Reg(0),
        });
        assert_eq!(decode(&[1, move_op, 0, 0]).map(|c| c.len()), Some(1));
        assert_eq!(decode(&[1, move_op, 0x80, 0x80, 0x04, 0]), None);
        assert_eq!(
            decode(&[1, move_op, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0]),
            None
        );
        let bool_op = opcode(Instr::LoadBool {
            dst: Reg(0),
            value: true,
        });
        assert_eq!(decode(&[1, bool_op, 0, 2]), None);
        let iter_op = opcode(Instr::IterCheck {
            src: Reg(0),
            op: IterOp::Any,
        });
        assert_eq!(decode(&[1, iter_op, 0, 7]), None);
        assert_eq!(decode(&[1, 255]), None);
        // A count that does not match what follows.
        assert_eq!(decode(&[2, move_op, 0, 0]), None);
        assert_eq!(decode(&[0, move_op, 0, 0]), None);
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f]), None);
    }

    #[test]
    fn any_bytes_decode_without_panicking() {
        // A cheap deterministic generator: every byte string the reader could meet first.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..4000usize {
            let mut bytes: Vec<u8> = (0..len % 40)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8 % 80
                })
                .collect();
            if let Some(first) = bytes.first_mut() {
                *first %= 12;
            }
            if let Some(code) = decode(&bytes) {
                assert_eq!(decode(&encode(&code)), Some(code));
            }
        }
    }
}
