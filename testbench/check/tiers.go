package check

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Tiers reads RECOMMENDED-SUBSET.txt of the ONNX backend suite: lines
// "# tier X (...)" start a tier, other non-empty lines name tests.
func Tiers(subsetFile string) (map[string][]string, error) {
	f, err := os.Open(subsetFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tiers := map[string][]string{}
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "# tier "):
			cur = strings.ToUpper(strings.Fields(strings.TrimPrefix(line, "# tier "))[0])
		case strings.HasPrefix(line, "#"):
		default:
			if cur == "" {
				return nil, fmt.Errorf("%s: test %q comes before any \"# tier X\" line", subsetFile, line)
			}
			tiers[cur] = append(tiers[cur], line)
		}
	}
	return tiers, sc.Err()
}

// TierDirs returns the test folders of one tier ("A", "B", "C" or "D") of
// the suite rooted at suite (the folder holding node/ and
// RECOMMENDED-SUBSET.txt).
func TierDirs(suite, tier string) ([]string, error) {
	tiers, err := Tiers(filepath.Join(suite, "RECOMMENDED-SUBSET.txt"))
	if err != nil {
		return nil, err
	}
	names, ok := tiers[strings.ToUpper(tier)]
	if !ok {
		return nil, fmt.Errorf("%s: no tier %q", suite, tier)
	}
	dirs := make([]string, len(names))
	for i, n := range names {
		dirs[i] = filepath.Join(suite, "node", n)
	}
	return dirs, nil
}
