package check

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"wdc/ir"
	"wdc/runtime"
)

// Preprocess turns one image's raw pixels into a model's input values.
type Preprocess func(pixels []uint8, dst []float32)

// ScaleUnit maps pixels 0..255 to 0..1 (x/255), the input of the ONNX
// model zoo's MNIST CNN and of hls4ml's MLP.
func ScaleUnit(p []uint8, dst []float32) {
	for i, v := range p {
		dst[i] = float32(v) / 255
	}
}

// Normalize returns (x/255 − mean)/std, as torchvision's MNIST transform
// (mean 0.1307, std 0.3081) used for onnx-mlir's MNIST example.
func Normalize(mean, std float32) Preprocess {
	return func(p []uint8, dst []float32) {
		for i, v := range p {
			dst[i] = (float32(v)/255 - mean) / std
		}
	}
}

// Raw passes pixels unchanged (0..255).
func Raw(p []uint8, dst []float32) {
	for i, v := range p {
		dst[i] = float32(v)
	}
}

// IDX is a decoded IDX file: dims and unsigned byte data.
type IDX struct {
	Dims []int
	Data []uint8
}

// ReadIDX reads an IDX file of unsigned bytes, gzip-compressed if its
// name ends in .gz.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		defer z.Close()
		r = z
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: truncated IDX header", path)
	}
	if hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 {
		return nil, fmt.Errorf("%s: not an IDX file of unsigned bytes (magic % x)", path, hdr)
	}
	nd := int(hdr[3])
	dims := make([]int, nd)
	n := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("%s: truncated IDX header", path)
		}
		dims[i] = int(d)
		if d > 1<<28 || n*int(d) > 1<<30 {
			return nil, fmt.Errorf("%s: IDX dims %v are too large", path, dims)
		}
		n *= int(d)
	}
	data := make([]uint8, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("%s: IDX data is shorter than dims %v say", path, dims)
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// AccuracyResult counts correct top-1 predictions.
type AccuracyResult struct {
	Correct, Total int
}

func (a AccuracyResult) Percent() float64 { return 100 * float64(a.Correct) / float64(a.Total) }

func (a AccuracyResult) String() string {
	return fmt.Sprintf("%d/%d correct (%.2f%% top-1)", a.Correct, a.Total, a.Percent())
}

// Accuracy runs g (one image per run) on every image of an IDX image
// file and compares the arg-max of its first output with the labels.
func Accuracy(g *ir.Graph, images, labels string, pre Preprocess, jobs int) (AccuracyResult, error) {
	img, err := ReadIDX(images)
	if err != nil {
		return AccuracyResult{}, err
	}
	lab, err := ReadIDX(labels)
	if err != nil {
		return AccuracyResult{}, err
	}
	if len(img.Dims) < 2 || len(lab.Dims) != 1 || lab.Dims[0] != img.Dims[0] {
		return AccuracyResult{}, fmt.Errorf("images %v and labels %v do not match", img.Dims, lab.Dims)
	}
	count := img.Dims[0]
	size := len(img.Data) / max(count, 1)
	if len(g.Inputs) != 1 || !g.Inputs[0].Type.Elem.IsFloat() || g.Inputs[0].Type.Shape.Elements() != size {
		return AccuracyResult{}, fmt.Errorf("the model must take one float input of %d values (one image), it takes %d input(s), the first %v", size, len(g.Inputs), g.Inputs[0].Type)
	}
	in := g.Inputs[0]
	var correct int
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	jobs = max(jobs, 1)
	for j := 0; j < jobs; j++ {
		wg.Add(1)
		go func(j int) {
			defer wg.Done()
			local := 0
			for i := j; i < count; i += jobs {
				x := ir.NewTensor(in.Type.Elem, in.Type.Shape)
				pre(img.Data[i*size:(i+1)*size], x.F)
				out, err := runtime.Run(g, map[string]*ir.Tensor{in.Name: x})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("image %d: %v", i, err)
					}
					mu.Unlock()
					return
				}
				y := out[g.Outputs[0].Name]
				best := 0
				for k := 1; k < y.Len(); k++ {
					if y.Float(k) > y.Float(best) {
						best = k
					}
				}
				if best == int(lab.Data[i]) {
					local++
				}
			}
			mu.Lock()
			correct += local
			mu.Unlock()
		}(j)
	}
	wg.Wait()
	if firstErr != nil {
		return AccuracyResult{}, firstErr
	}
	return AccuracyResult{Correct: correct, Total: count}, nil
}
