package sqsq

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestChunkBodies(t *testing.T) {
	t.Parallel()
	small := func(n int) []string { return make([]string, n) }
	half := strings.Repeat("x", MaxMessageBytes/2)
	tests := []struct {
		name   string
		bodies []string
		want   [][]int
	}{
		{"none", nil, nil},
		{"ten", small(10), [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}},
		{"eleven", small(11), [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10}}},
		{"by size", []string{half, half, "x", half}, [][]int{{0, 1}, {2, 3}}},
		{"oversized alone", []string{"a", half + half + "x", "b"}, [][]int{{0}, {1}, {2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, chunkBodies(tc.bodies)); diff != "" {
				t.Errorf("chunkBodies (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBatchError(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection reset")
	be := &BatchError{Op: "send", QueueURL: "q", Total: 12}
	be.failAll([]int{10, 11}, cause)
	id, code, msg := "3", "InternalError", "boom"
	be.addEntry(&id, &code, &msg, false)
	if be.orNil() == nil {
		t.Fatal("orNil() = nil with failures")
	}
	if diff := cmp.Diff([]int{10, 11, 3}, be.Failed()); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
	if !errors.Is(be, cause) {
		t.Errorf("errors.Is(%v, cause) = false", be)
	}
	if got := be.Error(); !strings.HasPrefix(got, "send batch in q: 3 of 12 entries failed; entry 10: RequestFailed") {
		t.Errorf("Error() = %q", got)
	}
	if (&BatchError{}).orNil() != nil {
		t.Error("orNil() of an empty BatchError is not nil")
	}
}
