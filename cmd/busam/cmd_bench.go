package main

import (
	"fmt"
	"sort"
	"strings"
)

// benches holds the targets of `busam bench <target>`; each bench_*.go file
// registers its own in init.
var benches = map[string]command{}

func registerBench(name, summary string, run func(args []string) error) {
	if _, dup := benches[name]; dup {
		panic("busam: duplicate bench " + name)
	}
	benches[name] = command{summary, run}
}

func init() {
	register("bench", "measure speed: busam bench <target> (see busam bench -h)", func(args []string) error {
		names := make([]string, 0, len(benches))
		for n := range benches {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			var b strings.Builder
			b.WriteString("usage: busam bench <target> [flags]\ntargets:\n")
			for _, n := range names {
				fmt.Fprintf(&b, "  %-10s %s\n", n, benches[n].summary)
			}
			return fmt.Errorf("%s", b.String())
		}
		c, ok := benches[args[0]]
		if !ok {
			return fmt.Errorf("unknown bench target %q (have: %s)", args[0], strings.Join(names, ", "))
		}
		return c.run(args[1:])
	})
}
