package bench

import (
	"context"
	"fmt"
	"testing"
)

// TestRunOverheadSmall runs measurement 4 on a small fleet, signed and unsigned, and checks that every
// invocation succeeded (RunOverhead fails otherwise) and the numbers are filled in.
func TestRunOverheadSmall(t *testing.T) {
	t.Parallel()
	for _, signed := range []bool{true, false} {
		t.Run(fmt.Sprintf("signed=%v", signed), func(t *testing.T) {
			t.Parallel()
			r, err := RunOverhead(context.Background(), 300, memPorts(signed))
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != "Success" || r.PerSecond <= 0 || r.Pumps == 0 {
				t.Errorf("run %+v", r)
			}
		})
	}
}

// BenchmarkOverheadSigned is measurement 4's production path at a size that runs in seconds; profile
// it with -cpuprofile. BENCH_TARGETS is not read: change the size here when hunting a growth problem.
func BenchmarkOverheadSigned(b *testing.B) {
	for _, n := range []int{10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				r, err := RunOverhead(context.Background(), n, memPorts(true))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.PerSecond, "invocations/s")
			}
		})
	}
}
