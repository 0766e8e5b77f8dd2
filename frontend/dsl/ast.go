// Package dsl parses wdc's network language (.wdc files) and lowers it to
// an ir.Graph. See docs/dsl.md for the language.
package dsl

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The syntax tree, with participle grammar tags. Every node carries the
// position where it starts so errors can point at the source.

type astFile struct {
	Stmts []*astStmt `parser:"@@*"`
}

type astStmt struct {
	Pos     lexer.Position
	Network *string    `parser:"(  \"network\" @Ident"`
	Seed    *string    `parser:" | \"seed\" @(\"-\"? Int)"`
	Weights *string    `parser:" | \"weights\" @String"`
	Input   *astInput  `parser:" | \"input\" @@"`
	Param   *astParam  `parser:" | \"param\" @@"`
	Output  *astOutput `parser:" | \"output\" @@"`
	Block   *astBlock  `parser:" | \"block\" @@"`
	If      *astIf     `parser:" | \"if\" @@"`
	Return  *astExpr   `parser:" | \"return\" @@"`
	Let     *astLet    `parser:" | @@ ) \";\"?"`
}

type astInput struct {
	Pos  lexer.Position
	Name string   `parser:"@Ident \":\""`
	Type *astType `parser:"@@"`
}

type astType struct {
	Pos   lexer.Position
	Elem  string   `parser:"@Ident"`
	Fixed []string `parser:"( \"<\" @(Int | Ident) ( \",\" @(Int | Ident) )* \">\" )?"`
	Dims  []string `parser:"\"[\" ( @Int ( \",\" @Int )* )? \"]\""`
}

type astParam struct {
	Pos  lexer.Position
	Name string   `parser:"@Ident \":\""`
	Type *astType `parser:"@@"`
	Init *astExpr `parser:"( \"=\" @@ )?"`
}

type astOutput struct {
	Pos   lexer.Position
	Name  string   `parser:"@Ident"`
	Value *astExpr `parser:"( \"=\" @@ )?"`
}

type astBlock struct {
	Pos    lexer.Position
	Name   string           `parser:"@Ident \"(\""`
	Params []*astBlockParam `parser:"( @@ ( \",\" @@ )* \",\"? )? \")\" \"{\""`
	Body   []*astStmt       `parser:"@@* \"}\""`
}

type astBlockParam struct {
	Pos     lexer.Position
	Name    string   `parser:"@Ident"`
	Default *astExpr `parser:"( \"=\" @@ )?"`
}

type astIf struct {
	Pos    lexer.Position
	Cond   *astCond   `parser:"@@ \"{\""`
	Then   []*astStmt `parser:"@@* \"}\""`
	ElseIf *astIf     `parser:"( \"else\" ( \"if\" @@"`
	Else   []*astStmt `parser:"        | \"{\" @@* \"}\" ) )?"`
}

type astCond struct {
	Pos  lexer.Position
	Left *astExpr `parser:"@@"`
	Cmp  *astCmp  `parser:"@@?"`
}

type astCmp struct {
	Pos   lexer.Position
	Op    string   `parser:"@( \"==\" | \"!=\" | \"<=\" | \">=\" | \"<\" | \">\" )"`
	Right *astExpr `parser:"@@"`
}

type astLet struct {
	Pos   lexer.Position
	Name  string   `parser:"@Ident \"=\""`
	Value *astExpr `parser:"@@"`
}

// astExpr is a value followed by a pipeline of layers: x -> f(...) -> g.
type astExpr struct {
	Pos    lexer.Position
	Head   *astSum     `parser:"@@"`
	Stages []*astStage `parser:"( \"->\" @@ )*"`
}

type astStage struct {
	Pos   lexer.Position
	Name  *string   `parser:"( @Ident \":\" )?"`
	Layer string    `parser:"@Ident"`
	Paren bool      `parser:"( @\"(\""`
	Args  []*astArg `parser:"  ( @@ ( \",\" @@ )* \",\"? )? \")\" )?"`
}

type astSum struct {
	Pos  lexer.Position
	Head *astProduct `parser:"@@"`
	Ops  []*astSumOp `parser:"@@*"`
}

type astSumOp struct {
	Pos   lexer.Position
	Op    string      `parser:"@( \"+\" | \"-\" )"`
	Right *astProduct `parser:"@@"`
}

type astProduct struct {
	Pos  lexer.Position
	Head *astUnary    `parser:"@@"`
	Ops  []*astProdOp `parser:"@@*"`
}

type astProdOp struct {
	Pos   lexer.Position
	Op    string    `parser:"@( \"*\" | \"/\" | \"%\" )"`
	Right *astUnary `parser:"@@"`
}

type astUnary struct {
	Pos  lexer.Position
	Neg  bool     `parser:"@\"-\"?"`
	Term *astTerm `parser:"@@"`
}

type astTerm struct {
	Pos    lexer.Position
	Number *string  `parser:"(  @( Float | Int )"`
	Str    *string  `parser:" | @String"`
	List   *astList `parser:" | @@"`
	Paren  *astExpr `parser:" | \"(\" @@ \")\""`
	Call   *astCall `parser:" | @@ )"`
}

type astList struct {
	Pos   lexer.Position
	Open  bool       `parser:"@\"[\""`
	Items []*astExpr `parser:"( @@ ( \",\" @@ )* \",\"? )? \"]\""`
}

// astCall is a name, or a call when followed by parentheses.
type astCall struct {
	Pos   lexer.Position
	Name  string    `parser:"@Ident"`
	Paren bool      `parser:"( @\"(\""`
	Args  []*astArg `parser:"  ( @@ ( \",\" @@ )* \",\"? )? \")\" )?"`
}

type astArg struct {
	Pos   lexer.Position
	Key   *string  `parser:"( @Ident \"=\" )?"`
	Value *astExpr `parser:"@@"`
}

var wdcLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `(?:#|//)[^\n]*`},
	{Name: "Whitespace", Pattern: `[ \t\r\n]+`},
	{Name: "String", Pattern: `"(?:\\.|[^"\\\n])*"`},
	{Name: "Float", Pattern: `(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\.\d+(?:[eE][-+]?\d+)?)`},
	{Name: "Int", Pattern: `\d+`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Punct", Pattern: `->|==|!=|<=|>=|[-+*/%(){}\[\],:=;<>]`},
})

var parser = participle.MustBuild[astFile](
	participle.Lexer(wdcLexer),
	participle.Elide("Comment", "Whitespace"),
	participle.Unquote("String"),
	participle.UseLookahead(3),
)
