// Package quantize turns a float graph into a fixed-point graph with the
// exact semantics of docs/fixed-point.md: graph inputs are cast to fixed
// point, weights and biases become fixed-point constants, every layer
// computes exactly and is cast to its output precision, nonlinear
// activations become table lookups, and outputs are cast back to f32.
// runtime.Run on the result is the golden model of the FPGA backends.
package quantize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"wdc/ir"
)

// Config chooses the precision of every layer. Fixed-point types carry
// their own rounding and overflow modes (fixed<16,6> truncates and wraps
// as hls4ml's ap_fixed does; fixed<16,6,rne,sat> rounds and saturates),
// which apply where values are cast to them. A zero Elem means "not set".
type Config struct {
	// Default is the precision of anything not set otherwise.
	Default ir.Elem
	// Input is the precision graph inputs are cast to.
	Input ir.Elem
	// Weight, Bias and Result are the model-wide precisions of weights,
	// biases and layer outputs.
	Weight, Bias, Result ir.Elem
	// WeightRound and WeightOvf say how weights and biases are quantized
	// (default round-half-even and saturate, whatever the types say).
	WeightRound ir.Rounding
	WeightOvf   ir.Overflow
	// TableSize is the number of entries of each lookup table.
	TableSize int
	// ExpTable and InvTable are the entry types of softmax's exponential
	// and reciprocal tables; ActTable that of sigmoid's and tanh's.
	ExpTable, InvTable, ActTable ir.Elem
	// CalibMargin is how many integer bits Calibrate adds above the
	// smallest that holds the values it saw.
	CalibMargin int
	// Layers overrides the precisions of single layers, by node name.
	Layers map[string]Layer
}

// Layer overrides the precisions of one layer; zero fields are not set.
type Layer struct {
	Weight, Bias, Result ir.Elem
	TableSize            int
}

// DefaultConfig is fixed<16,6,rne,sat> everywhere (hls4ml's default
// width, with rounding and saturation where layer results are cast),
// weights quantized with round-half-even and saturation, 1,024-entry
// tables.
func DefaultConfig() Config {
	return Config{
		Default:     ir.Elem{Kind: ir.Fixed, W: 16, I: 6, Round: ir.RoundHalfEven, Ovf: ir.Saturate},
		WeightRound: ir.RoundHalfEven,
		WeightOvf:   ir.Saturate,
		TableSize:   1024,
		ExpTable:    ir.Elem{Kind: ir.Fixed, W: 18, I: 2, Round: ir.RoundHalfEven, Ovf: ir.Saturate},
		InvTable:    ir.Elem{Kind: ir.Fixed, W: 18, I: 2, Round: ir.RoundHalfEven, Ovf: ir.Saturate},
		ActTable:    ir.Elem{Kind: ir.Fixed, W: 18, I: 2, Round: ir.RoundHalfEven, Ovf: ir.Saturate},
		CalibMargin: 1,
	}
}

func or(e ...ir.Elem) ir.Elem {
	for _, x := range e {
		if x.Kind != ir.Invalid {
			return x
		}
	}
	return ir.Elem{}
}

// layer returns the override of the first of names that has one.
func (c *Config) layer(names ...string) Layer {
	for _, n := range names {
		if l, ok := c.Layers[n]; ok {
			return l
		}
	}
	return Layer{}
}

func (c *Config) weightType(names ...string) ir.Elem {
	return or(c.layer(names...).Weight, c.Weight, c.Default)
}

func (c *Config) biasType(names ...string) ir.Elem {
	l := c.layer(names...)
	return or(l.Bias, c.Bias, l.Weight, c.Weight, c.Default)
}

func (c *Config) resultType(names ...string) ir.Elem {
	return or(c.layer(names...).Result, c.Result, c.Default)
}

func (c *Config) inputType(name string) ir.Elem {
	return or(c.layer(name).Result, c.Input, c.Default)
}

func (c *Config) tableSize(names ...string) int {
	if n := c.layer(names...).TableSize; n > 0 {
		return n
	}
	if c.TableSize > 0 {
		return c.TableSize
	}
	return 1024
}

// check reports a config that cannot work.
func (c *Config) check() error {
	if c.Default.Kind != ir.Fixed {
		return fmt.Errorf("the default precision must be fixed<W,I>, got %v", c.Default)
	}
	if c.TableSize < 0 || c.TableSize > 1<<20 {
		return fmt.Errorf("table size %d must be between 1 and 1048576", c.TableSize)
	}
	for _, e := range []ir.Elem{c.Input, c.Weight, c.Bias, c.Result, c.ExpTable, c.InvTable, c.ActTable} {
		if e.Kind != ir.Invalid && e.Kind != ir.Fixed {
			return fmt.Errorf("precision %v is not a fixed-point type", e)
		}
	}
	for name, l := range c.Layers {
		for _, e := range []ir.Elem{l.Weight, l.Bias, l.Result} {
			if e.Kind != ir.Invalid && e.Kind != ir.Fixed {
				return fmt.Errorf("layer %q: precision %v is not a fixed-point type", name, e)
			}
		}
		if l.TableSize < 0 || l.TableSize > 1<<20 {
			return fmt.Errorf("layer %q: table size %d must be between 1 and 1048576", name, l.TableSize)
		}
	}
	return nil
}

// The JSON config file:
//
//	{
//	  "precision": "fixed<16,6>",
//	  "input": "fixed<16,6,rne,sat>",
//	  "weight": "fixed<16,6>", "bias": "fixed<16,6>", "result": "fixed<16,6>",
//	  "weight_rounding": "rne", "weight_overflow": "sat",
//	  "table_size": 1024,
//	  "exp_table": "fixed<18,2,rne,sat>", "inv_table": "fixed<18,2,rne,sat>", "act_table": "fixed<18,2,rne,sat>",
//	  "calib_margin": 1,
//	  "layers": {"fc1": {"weight": "fixed<8,2>", "bias": "fixed<8,3>", "result": "fixed<12,4,rne,sat>", "table_size": 256}}
//	}
//
// Every field is optional; what is absent keeps DefaultConfig's value.
type fileConfig struct {
	Precision      string               `json:"precision,omitempty"`
	Input          string               `json:"input,omitempty"`
	Weight         string               `json:"weight,omitempty"`
	Bias           string               `json:"bias,omitempty"`
	Result         string               `json:"result,omitempty"`
	WeightRounding string               `json:"weight_rounding,omitempty"`
	WeightOverflow string               `json:"weight_overflow,omitempty"`
	TableSize      int                  `json:"table_size,omitempty"`
	ExpTable       string               `json:"exp_table,omitempty"`
	InvTable       string               `json:"inv_table,omitempty"`
	ActTable       string               `json:"act_table,omitempty"`
	CalibMargin    *int                 `json:"calib_margin,omitempty"`
	Layers         map[string]fileLayer `json:"layers,omitempty"`
}

type fileLayer struct {
	Weight    string `json:"weight,omitempty"`
	Bias      string `json:"bias,omitempty"`
	Result    string `json:"result,omitempty"`
	TableSize int    `json:"table_size,omitempty"`
}

func parseFixed(s, where string) (ir.Elem, error) {
	if s == "" {
		return ir.Elem{}, nil
	}
	e, err := ir.ParseElem(s)
	if err != nil {
		return ir.Elem{}, fmt.Errorf("%s: %v", where, err)
	}
	if e.Kind != ir.Fixed {
		return ir.Elem{}, fmt.Errorf("%s: %q is not a fixed-point type (want fixed<W,I> or fixed<W,I,trn|rne,wrap|sat>)", where, s)
	}
	return e, nil
}

// ParsePrecision reads a precision such as "fixed<16,6>" (the --precision flag).
func ParsePrecision(s string) (ir.Elem, error) { return parseFixed(strings.TrimSpace(s), "precision") }

// ParseConfig reads a JSON config (see fileConfig) on top of DefaultConfig.
// name labels errors (usually the file name).
func ParseConfig(data []byte, name string) (Config, error) {
	c := DefaultConfig()
	var f fileConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			line, col := lineCol(data, se.Offset)
			return c, fmt.Errorf("%s:%d:%d: %v", name, line, col, err)
		}
		return c, fmt.Errorf("%s: %v (fields: precision, input, weight, bias, result, weight_rounding, weight_overflow, table_size, exp_table, inv_table, act_table, calib_margin, layers)", name, err)
	}
	var err error
	set := func(dst *ir.Elem, s, field string) {
		if err != nil || s == "" {
			return
		}
		var e ir.Elem
		e, err = parseFixed(s, name+": "+field)
		*dst = e
	}
	set(&c.Default, f.Precision, "precision")
	set(&c.Input, f.Input, "input")
	set(&c.Weight, f.Weight, "weight")
	set(&c.Bias, f.Bias, "bias")
	set(&c.Result, f.Result, "result")
	set(&c.ExpTable, f.ExpTable, "exp_table")
	set(&c.InvTable, f.InvTable, "inv_table")
	set(&c.ActTable, f.ActTable, "act_table")
	if err != nil {
		return c, err
	}
	switch f.WeightRounding {
	case "", "rne":
	case "trn":
		c.WeightRound = ir.Truncate
	default:
		return c, fmt.Errorf("%s: weight_rounding %q must be trn or rne", name, f.WeightRounding)
	}
	switch f.WeightOverflow {
	case "", "sat":
	case "wrap":
		c.WeightOvf = ir.Wrap
	default:
		return c, fmt.Errorf("%s: weight_overflow %q must be wrap or sat", name, f.WeightOverflow)
	}
	if f.TableSize != 0 {
		c.TableSize = f.TableSize
	}
	if f.CalibMargin != nil {
		if *f.CalibMargin < 0 || *f.CalibMargin > 16 {
			return c, fmt.Errorf("%s: calib_margin %d must be between 0 and 16", name, *f.CalibMargin)
		}
		c.CalibMargin = *f.CalibMargin
	}
	names := make([]string, 0, len(f.Layers))
	for k := range f.Layers {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) > 0 {
		c.Layers = map[string]Layer{}
	}
	for _, k := range names {
		fl := f.Layers[k]
		var l Layer
		where := fmt.Sprintf("layers.%s.", k)
		set(&l.Weight, fl.Weight, where+"weight")
		set(&l.Bias, fl.Bias, where+"bias")
		set(&l.Result, fl.Result, where+"result")
		if err != nil {
			return c, err
		}
		l.TableSize = fl.TableSize
		c.Layers[k] = l
	}
	if err := c.check(); err != nil {
		return c, fmt.Errorf("%s: %v", name, err)
	}
	return c, nil
}

// LoadConfig reads a JSON config file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(data, path)
}

// JSON writes c in the config file format (e.g. to save a calibration).
func (c Config) JSON() []byte {
	str := func(e ir.Elem) string {
		if e.Kind == ir.Invalid {
			return ""
		}
		return e.String()
	}
	m := c.CalibMargin
	f := fileConfig{
		Precision: str(c.Default), Input: str(c.Input), Weight: str(c.Weight), Bias: str(c.Bias), Result: str(c.Result),
		WeightRounding: map[ir.Rounding]string{ir.Truncate: "trn", ir.RoundHalfEven: "rne"}[c.WeightRound],
		WeightOverflow: map[ir.Overflow]string{ir.Wrap: "wrap", ir.Saturate: "sat"}[c.WeightOvf],
		TableSize:      c.TableSize, ExpTable: str(c.ExpTable), InvTable: str(c.InvTable), ActTable: str(c.ActTable),
		CalibMargin: &m,
	}
	if len(c.Layers) > 0 {
		f.Layers = map[string]fileLayer{}
		for k, l := range c.Layers {
			f.Layers[k] = fileLayer{Weight: str(l.Weight), Bias: str(l.Bias), Result: str(l.Result), TableSize: l.TableSize}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(f)
	return buf.Bytes()
}

func lineCol(data []byte, off int64) (int, int) {
	line, col := 1, 1
	for i := int64(0); i < off && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
