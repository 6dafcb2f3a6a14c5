package manifests

import (
	"crypto/sha256"
	"os"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// Source is an in-memory cluster holding the manifests' objects, with
// resource versions and watches, so the plugin watches it through the same
// reflectors as a real API server. A change to a file is applied as creates,
// updates and deletes. The store holds the only copy of each object; the
// files are read again only when their size, mtime or inode changed.
type Source struct {
	paths []string
	store *memStore
	files []fileStat
	sum   [32]byte
	stop  chan struct{}
	done  sync.WaitGroup
	once  sync.Once
}

// NewSource serves the files and starts watching them for changes. With
// loaded (what the Corefile's parse read), they are not read again.
func NewSource(paths []string, loaded *Loaded) (*Source, error) {
	m := &Source{paths: paths, store: newMemStore(), stop: make(chan struct{})}
	var objs map[string]runtime.Object
	if loaded != nil {
		objs = loaded.take()
	}
	if objs == nil {
		l, err := Load(paths)
		if err != nil {
			return nil, err
		}
		loaded, objs = l, l.take()
	}
	m.apply(objs)
	m.files, m.sum = loaded.files, loaded.sum
	log.Infof("manifests loaded: %d objects from %d files", len(objs), len(paths))
	m.done.Add(1)
	go m.poll()
	return m, nil
}

// ListerWatcher lists and watches one resource ("services",
// "endpointslices", "nodes", "namespaces") in a namespace ("" for all). It applies no
// selector: every object arrives, and the plugin filters.
func (m *Source) ListerWatcher(resource, namespace string) cache.ListerWatcher {
	return &memLW{store: m.store, resource: resource, namespace: namespace}
}

// Object is the object of a resource at namespace/name, or nil.
func (m *Source) Object(resource, namespace, name string) runtime.Object {
	return m.store.get(resource + "/" + namespace + "/" + name)
}

// Close stops watching the files.
func (m *Source) Close() { m.once.Do(func() { close(m.stop); m.done.Wait() }) }

func (m *Source) poll() {
	defer m.done.Done()
	t := time.NewTicker(manifestPoll)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if err := m.reload(); err != nil {
				log.Errorf("manifests not reloaded, still serving the last good ones: %v", err)
			}
		}
	}
}

// unchanged reports whether every file has the size, mtime and inode it had
// when last read.
func (m *Source) unchanged() bool {
	if len(m.files) != len(m.paths) {
		return false
	}
	for i, p := range m.paths {
		fi, err := os.Stat(p)
		if err != nil || statOf(fi) != m.files[i] {
			return false
		}
	}
	return true
}

// reload reads the files when one changed and, if their content changed,
// applies the difference.
func (m *Source) reload() error {
	if m.unchanged() {
		return nil
	}
	h := sha256.New()
	var files []fileStat
	for _, p := range m.paths {
		b, st, err := readManifest(p)
		if err != nil {
			return err
		}
		h.Write(b)
		files = append(files, st)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if sum == m.sum {
		m.files = files // touched, not changed
		return nil
	}
	l, err := Load(m.paths)
	if err != nil {
		return err
	}
	want := l.take()
	m.apply(want)
	m.files, m.sum = l.files, l.sum
	log.Infof("manifests loaded: %d objects from %d files", len(want), len(m.paths))
	return nil
}

// apply makes the store hold want: deletes what is gone, creates and
// updates what is new or different (compared without resource versions).
func (m *Source) apply(want map[string]runtime.Object) {
	for _, k := range m.store.keys() {
		if _, ok := want[k]; !ok {
			m.store.apply(k, nil)
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o := want[k]
		if old := m.store.raw(k); old != nil {
			o.(metav1.Object).SetResourceVersion(old.(metav1.Object).GetResourceVersion())
			if equality.Semantic.DeepEqual(old, o) {
				continue
			}
		}
		m.store.apply(k, o) // the store's own: nothing else keeps it
	}
}
