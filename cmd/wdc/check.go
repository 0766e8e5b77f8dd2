package main

import (
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"wdc/backends/target"
	"wdc/ir"
	"wdc/testbench/check"
)

func newCheckCmd() *cobra.Command {
	var opts check.Options
	var tier, suite, convAlgo string
	cmd := &cobra.Command{
		Use:   "check [--target T] DIR...",
		Short: "Run ONNX-style test folders and compare every output with the expected one",
		Long: `Run ONNX backend-style tests: each DIR holds model.onnx and test_data_set_N/ folders
with input_K.pb and output_K.pb (a folder of such tests is searched; a light_X.onnx
file with its light_X_input_0.pb/light_X_output_0.pb siblings works too). One line is
printed per test data set (PASS or FAIL, max absolute and relative error, tolerance)
and the run closes with "N passed, M failed".

Tolerance follows onnxruntime's float32 convention: an element passes when
|got - want| <= atol + rtol*|want| with rtol = 1e-4 and atol = 1e-5 unless --rtol/--atol
say otherwise; integer outputs must match exactly. A few tests whose reference data is
printed with fewer digits carry a looser, stated tolerance (--strict ignores them).
--tier A|B|C|D runs a tier of the suite's RECOMMENDED-SUBSET.txt. --target cpu
compiles each model; --conv-algo forces a convolution algorithm on every layer it
applies to (others keep the cost model's choice).`,
		Example: `  wdc check ../shared/testdata/onnx-backend/node/test_conv_with_strides_padding
  wdc check --tier A --suite ../shared/testdata/onnx-backend
  wdc check ../shared/testdata/models/mnist-cnn ../shared/testdata/onnx-backend/light/light_resnet50.onnx`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dirs := args
			if tier != "" {
				more, err := check.TierDirs(suite, tier)
				if err != nil {
					return err
				}
				dirs = append(dirs, more...)
			}
			if len(dirs) == 0 {
				return fmt.Errorf("no tests given (name test folders, or --tier with --suite)")
			}
			opts.Import.MaxTensorBytes = memBudget
			if convAlgo != "auto" {
				if opts.Target != "cpu" {
					return fmt.Errorf("--conv-algo applies to the cpu target")
				}
				opts.TargetFunc = func(g *ir.Graph) (check.Runner, error) {
					return target.Open("cpu", g, target.Options{ConvAlgo: convAlgo})
				}
			}
			sum, err := check.Run(dirs, opts, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if sum.Failed > 0 {
				return fmt.Errorf("%d of %d checks failed", sum.Failed, sum.Passed+sum.Failed)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Target, "target", "interpreter", fmt.Sprintf("where the model runs (%v)", check.Targets()))
	f.Float64Var(&opts.RTol, "rtol", check.DefaultRTol, "relative tolerance for float outputs")
	f.Float64Var(&opts.ATol, "atol", check.DefaultATol, "absolute tolerance for float outputs")
	f.BoolVar(&opts.Strict, "strict", false, "use --rtol/--atol for every test, ignoring per-test tolerances")
	f.IntVarP(&opts.Jobs, "jobs", "j", runtime.NumCPU(), "tests run at once")
	addConvFlags(f, &convAlgo, nil)
	f.StringVar(&tier, "tier", "", "run a tier (A, B, C or D) of the suite's RECOMMENDED-SUBSET.txt")
	f.StringVar(&suite, "suite", filepath.Join("..", "shared", "testdata", "onnx-backend"), "the ONNX backend suite folder, for --tier")
	return cmd
}

func newAccuracyCmd() *cobra.Command {
	var images, labels, pre string
	var jobs int
	cmd := &cobra.Command{
		Use:   "accuracy MODEL --images IDX --labels IDX",
		Short: "Measure a classifier's top-1 accuracy on a labelled image set",
		Long: `Run MODEL once per image of an IDX image file (as MNIST ships, optionally gzipped)
and compare the arg-max of its first output with the IDX label file. --preprocess says
how pixels 0..255 become inputs: unit (x/255), raw (x), or mnist-norm
((x/255 - 0.1307)/0.3081, torchvision's MNIST normalisation).`,
		Example: `  wdc accuracy ../shared/testdata/models/mnist-cnn/model.onnx \
      --images ../shared/testdata/datasets/mnist/images-idx3-ubyte.gz \
      --labels ../shared/testdata/datasets/mnist/labels-idx1-ubyte.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p check.Preprocess
			switch pre {
			case "unit":
				p = check.ScaleUnit
			case "raw":
				p = check.Raw
			case "mnist-norm":
				p = check.Normalize(0.1307, 0.3081)
			default:
				return fmt.Errorf("--preprocess %q: want unit, raw or mnist-norm", pre)
			}
			if images == "" || labels == "" {
				return fmt.Errorf("--images and --labels are required")
			}
			g, err := loadModel(args[0])
			if err != nil {
				return err
			}
			acc, err := check.Accuracy(g, images, labels, p, jobs)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %v\n", args[0], acc)
			return nil
		},
	}
	cmd.Flags().StringVar(&images, "images", "", "IDX file of images (uint8)")
	cmd.Flags().StringVar(&labels, "labels", "", "IDX file of labels (uint8)")
	cmd.Flags().StringVar(&pre, "preprocess", "unit", "pixel preprocessing: unit, raw or mnist-norm")
	cmd.Flags().IntVarP(&jobs, "jobs", "j", runtime.NumCPU(), "images run at once")
	return cmd
}
