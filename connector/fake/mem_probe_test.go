package fake

import (
	"runtime"
	"testing"
	"time"
)

func TestMemProbe(t *testing.T) {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	start := time.Now()
	es := Company(1_000_000, 1)
	el := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&b)
	t.Logf("n=%d took %v heap=%d MB per=%d B total alloc %d MB", len(es), el, (b.HeapAlloc-a.HeapAlloc)>>20, (b.HeapAlloc-a.HeapAlloc)/uint64(len(es)), (b.TotalAlloc-a.TotalAlloc)>>20)
	start = time.Now()
	d := New(es...)
	t.Logf("New %v", time.Since(start))
	start = time.Now()
	n := 0
	for _, err := range d.Read(t.Context()) {
		if err != nil { t.Fatal(err) }
		n++
	}
	t.Logf("Read %d in %v", n, time.Since(start))
	runtime.KeepAlive(es)
}
