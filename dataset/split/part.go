package split

import "fmt"

// Part returns the sample IDs of one part of s: "train", "val", "test",
// or "all" (the three in that order).
func (s *Split) Part(name string) ([]string, error) {
	switch name {
	case "train":
		return s.Train, nil
	case "val":
		return s.Val, nil
	case "test":
		return s.Test, nil
	case "all":
		return append(append(append([]string(nil), s.Train...), s.Val...), s.Test...), nil
	}
	return nil, fmt.Errorf("split: part %q: want train, val, test or all", name)
}
