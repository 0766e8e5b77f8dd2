// Package loop is wdc's loop-level IR: loop nests over buffers, in the
// style of Halide and TVM's TensorIR. Every tensor op is lowered to it once
// (Lower), schedule transformations (Split, Reorder, Fuse, Vectorize,
// Unroll, Parallel, Pack) rewrite it without changing what it computes,
// and every code-emitting backend consumes it (backends/llvm renders it as
// LLVM IR). Eval runs it directly, so lowerings and schedules are tested
// against the interpreter without any toolchain.
//
// The form is small on purpose:
//
//   - a Func has parameter buffers (bound by the caller: the node's inputs,
//     then its output) and temporary buffers (scratch it owns);
//   - statements are For loops, Stores into buffers, If, and Decl/Assign of
//     float32 scalar locals (accumulators);
//   - expressions are int64 index arithmetic (loop variables, constants,
//   - − · / % min max), float32 arithmetic, comparisons, Select, Loads with
//     one index expression per buffer dimension, and calls of a few libm
//     functions (expf, tanhf, sqrtf, powf, logf).
//
// Integer division and remainder truncate toward zero, as in C.
package loop

import (
	"fmt"

	"wdc/ir"
)

// Type is the type of an expression.
type Type uint8

const (
	Int  Type = iota // int64: indices and loop variables
	F32              // float32 data
	Bool             // comparison results
)

func (t Type) String() string { return [...]string{"i64", "f32", "bool"}[t] }

// Op is a binary operator.
type Op uint8

const (
	Add Op = iota
	Sub
	Mul
	Div // float division; integer division truncating toward zero
	Mod // integer remainder (sign of the dividend)
	Min // float: select(b < a, b, a), so a NaN in a is kept
	Max // float: select(a < b, b, a), so a NaN in a is kept
	And // bool
	Or  // bool
)

var opNames = [...]string{"+", "-", "*", "/", "%", "min", "max", "&&", "||"}

func (o Op) String() string { return opNames[o] }

// CmpOp is a comparison. Float comparisons are ordered (false on NaN).
type CmpOp uint8

const (
	LT CmpOp = iota
	LE
	GT
	GE
	EQ
	NE
)

var cmpNames = [...]string{"<", "<=", ">", ">=", "==", "!="}

func (c CmpOp) String() string { return cmpNames[c] }

// Expr is an expression.
type Expr interface {
	Type() Type
	isExpr()
}

// IntImm is an integer constant.
type IntImm struct{ V int64 }

// FloatImm is a float32 constant.
type FloatImm struct{ V float32 }

// Var reads a loop variable.
type Var struct{ Name string }

// Scalar reads a local declared by Decl: float32, or int64 when IsInt
// (an integer accumulator, e.g. max pooling of integer tensors).
type Scalar struct {
	Name  string
	IsInt bool
}

// Binary applies Op to two operands of the same type.
type Binary struct {
	Op   Op
	A, B Expr
}

// Compare compares two operands of the same type.
type Compare struct {
	Op   CmpOp
	A, B Expr
}

// Select is Cond ? A : B.
type Select struct{ Cond, A, B Expr }

// Load reads Buf at one index per dimension.
type Load struct {
	Buf   *Buffer
	Index []Expr
}

// Call calls a float32 libm function: expf, tanhf, sqrtf, logf (one
// argument) or powf (two).
type Call struct {
	Fn   string
	Args []Expr
}

// ToFloat converts an integer to float32.
type ToFloat struct{ X Expr }

// Cast converts X to element kind To with the interpreter's cast
// semantics: float to integer truncates toward zero and saturates to To's
// range (NaN gives 0); integer to integer wraps to To's width (two's
// complement), which is also how integer arithmetic of narrow types is
// reduced after each op; integer to f32 rounds to nearest (through
// float64, as the interpreter does). Integer kinds are I8, U8, I16, U16,
// I32 and I64; the result of an integer Cast is an Int (int64) holding
// the value in To's range.
type Cast struct {
	X  Expr
	To ir.Kind
}

func (IntImm) Type() Type   { return Int }
func (FloatImm) Type() Type { return F32 }
func (Var) Type() Type      { return Int }
func (s Scalar) Type() Type {
	if s.IsInt {
		return Int
	}
	return F32
}
func (b *Binary) Type() Type {
	if b.Op == And || b.Op == Or {
		return Bool
	}
	return b.A.Type()
}
func (*Compare) Type() Type  { return Bool }
func (s *Select) Type() Type { return s.A.Type() }
func (l *Load) Type() Type {
	if IsIntKind(l.Buf.Kind()) {
		return Int
	}
	return F32
}
func (c *Cast) Type() Type {
	if IsIntKind(c.To) {
		return Int
	}
	return F32
}
func (*Cast) isExpr()          {}
func (*Call) Type() Type       { return F32 }
func (*ToFloat) Type() Type    { return F32 }
func (IntImm) isExpr()         {}
func (FloatImm) isExpr()       {}
func (Var) isExpr()            {}
func (Scalar) isExpr()         {}
func (*Binary) isExpr()        {}
func (*Compare) isExpr()       {}
func (*Select) isExpr()        {}
func (*Load) isExpr()          {}
func (*Call) isExpr()          {}
func (*ToFloat) isExpr()       {}
func (l *Load) String() string { return exprString(l) }

// Kind is how a loop runs.
type Kind uint8

const (
	Serial     Kind = iota
	Parallel        // iterations spread over the runtime's threads
	Vectorized      // iterations mapped to SIMD lanes (8 × f32 with AVX2)
	Unrolled        // body repeated, no loop left
)

var kindNames = [...]string{"for", "parallel", "vectorized", "unrolled"}

func (k Kind) String() string { return kindNames[k] }

// Stmt is a statement.
type Stmt interface{ isStmt() }

// For runs Body for Var = Lo, Lo+Step, ... while Var < Hi.
type For struct {
	Var    string
	Lo, Hi Expr
	Step   int64
	Kind   Kind
	Body   []Stmt
}

// Store writes Value into Buf at Index.
type Store struct {
	Buf   *Buffer
	Index []Expr
	Value Expr
}

// Decl declares a float32 local with an initial value. Names are unique
// within a Func.
type Decl struct {
	Name string
	Init Expr
}

// Assign sets a float32 local.
type Assign struct {
	Name  string
	Value Expr
}

// If runs Then when Cond holds, else Else.
type If struct {
	Cond       Expr
	Then, Else []Stmt
}

func (*For) isStmt()    {}
func (*Store) isStmt()  {}
func (*Decl) isStmt()   {}
func (*Assign) isStmt() {}
func (*If) isStmt()     {}

// Role says who owns a buffer's storage.
type Role uint8

const (
	Param Role = iota // bound by the caller
	Temp              // scratch owned by the function
)

// Buffer is a row-major array of Elem (the zero value, ir.Invalid, means
// f32). Loads of an integer buffer give Int (int64) values, sign- or
// zero-extended; stores truncate to the element width.
type Buffer struct {
	Name  string
	Shape []int
	Role  Role
	Elem  ir.Kind
}

// Kind is the element kind (ir.F32 when Elem is unset).
func (b *Buffer) Kind() ir.Kind {
	if b.Elem == ir.Invalid {
		return ir.F32
	}
	return b.Elem
}

// ElemBytes is the size of one element in bytes.
func (b *Buffer) ElemBytes() int { return KindBytes(b.Kind()) }

// Words is the storage of the buffer in 4-byte words, rounded up (the
// unit in which backends lay out arenas and scratch).
func (b *Buffer) Words() int { return (b.Size()*b.ElemBytes() + 3) / 4 }

// IsIntKind reports whether k is one of the integer kinds the loop IR
// computes on: I8, U8, I16, U16, I32, I64.
func IsIntKind(k ir.Kind) bool {
	switch k {
	case ir.I8, ir.U8, ir.I16, ir.U16, ir.I32, ir.I64:
		return true
	}
	return false
}

// KindBytes is the storage size of an element of kind k (f32 or an
// integer kind; 4 for anything else).
func KindBytes(k ir.Kind) int {
	switch k {
	case ir.I8, ir.U8:
		return 1
	case ir.I16, ir.U16:
		return 2
	case ir.I64:
		return 8
	}
	return 4
}

// KindSigned reports whether integer kind k is signed.
func KindSigned(k ir.Kind) bool { return k != ir.U8 && k != ir.U16 }

// KindRange is the range of integer kind k.
func KindRange(k ir.Kind) (lo, hi int64) {
	switch k {
	case ir.I8:
		return -128, 127
	case ir.U8:
		return 0, 255
	case ir.I16:
		return -32768, 32767
	case ir.U16:
		return 0, 65535
	case ir.I32:
		return -1 << 31, 1<<31 - 1
	}
	return -1 << 63, 1<<63 - 1
}

// Size is the number of elements.
func (b *Buffer) Size() int {
	n := 1
	for _, d := range b.Shape {
		n *= d
	}
	return n
}

// Strides are the row-major strides in elements.
func (b *Buffer) Strides() []int64 {
	st := make([]int64, len(b.Shape))
	n := int64(1)
	for i := len(b.Shape) - 1; i >= 0; i-- {
		st[i] = n
		n *= int64(b.Shape[i])
	}
	return st
}

// Func is one lowered op (or a fused group of ops).
type Func struct {
	Name   string
	Params []*Buffer // inputs first, then the output(s), as the caller binds them
	Temps  []*Buffer
	Body   []Stmt
	// Alias is set for ops that move no data (reshape, flatten): a backend
	// may bind the output to the input's storage and skip the body, which
	// is a plain copy.
	Alias bool
}

// Output is the last parameter, the op's result.
func (f *Func) Output() *Buffer { return f.Params[len(f.Params)-1] }

// TempSize is the scratch the Func needs in 4-byte words (float32
// elements for f32 temps).
func (f *Func) TempSize() int {
	n := 0
	for _, t := range f.Temps {
		n += t.Words()
	}
	return n
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
