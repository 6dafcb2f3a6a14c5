package testbed

// TB is the part of testing.TB the test bed uses, so that the benchmark
// harness (a plain program) can drive it too.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Logf(format string, args ...any)
	Failed() bool
	Skipf(format string, args ...any)
}
