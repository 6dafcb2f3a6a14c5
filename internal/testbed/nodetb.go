package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// nodeFatal is a failure while starting the shared node.
type nodeFatal string

// nodeTB is the TB of the shared node: it lives from the first test that
// asks for the node to the end of the package.
type nodeTB struct {
	base     string
	mu       sync.Mutex
	cleanups []func()
	problems []string
	dirs     int
}

func (t *nodeTB) Helper()                           {}
func (t *nodeTB) Fatal(args ...any)                 { panic(nodeFatal(fmt.Sprint(args...))) }
func (t *nodeTB) Fatalf(format string, args ...any) { panic(nodeFatal(fmt.Sprintf(format, args...))) }
func (t *nodeTB) Skipf(format string, args ...any)  { panic(nodeFatal(fmt.Sprintf(format, args...))) }
func (t *nodeTB) Failed() bool                      { return false }
func (t *nodeTB) Logf(format string, args ...any)   { fmt.Printf("node: "+format+"\n", args...) }
func (t *nodeTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *nodeTB) TempDir() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dirs++
	d := filepath.Join(t.base, fmt.Sprintf("tmp%d", t.dirs))
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(nodeFatal(err.Error()))
	}
	return d
}

func (t *nodeTB) runCleanups() (problems []string) {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					problems = append(problems, fmt.Sprint(r))
				}
			}()
			cs[i]()
		}()
	}
	return problems
}
