package bench

import "fmt"

// row prints one row of issue 14's performance table: scripts/bench collects the lines
// starting "ROW|" from a run of the benchmarks and prints them as one table. Each figure sits
// beside its baseline measured in the same run; ratio is ours over the baseline ("" when the
// target is absolute).
func row(path, ours, baseline, ratio, target string) {
	fmt.Printf("ROW| %s | %s | %s | %s | %s |\n", path, ours, baseline, ratio, target)
}

// pct formats a ratio as a percentage.
func pct(r float64) string { return fmt.Sprintf("%.0f %%", 100*r) }
