package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPercentileNearestRank(t *testing.T) {
	t.Parallel()
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want float64
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}} {
		if got := Percentile(sorted, tc.p); got != tc.want {
			t.Errorf("Percentile(1..10, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestNewDistAndSpread(t *testing.T) {
	t.Parallel()
	got := NewDist([]float64{30, 10, 20})
	want := Dist{N: 3, Min: 10, P50: 20, P90: 30, P99: 30, Max: 30, Mean: 20}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewDist (-want +got):\n%s", diff)
	}
	sp := NewSpread([]float64{4, 1, 3, 2})
	if sp.Median != 2.5 || sp.Min != 1 || sp.Max != 4 {
		t.Errorf("NewSpread(4,1,3,2) = %+v, want median 2.5, min 1, max 4", sp)
	}
}
