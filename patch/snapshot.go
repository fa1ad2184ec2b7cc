package patch

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"time"

	"github.com/runcmd/runcmd"
)

// SnapshotReuse is how long the same SnapshotId may be reused for one node (reference B6.1).
const SnapshotReuse = 3 * 24 * time.Hour

var snapshotIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Snapshot is a baseline frozen for one run: what GetDeployablePatchSnapshotForInstance hands the
// node. The baseline is a deep copy with defaults filled in, so later edits of the baseline do not
// change a run in progress. Our JSON uses the API's PascalCase names (the payload's own snapshot file
// is camelCase; only our agent reads this one).
type Snapshot struct {
	SnapshotID  string `json:"SnapshotId"`
	InstanceID  string `json:"InstanceId,omitempty"`
	PatchGroup  string
	Baseline    Baseline `json:"PatchBaseline"`
	CreatedTime time.Time
}

// ValidSnapshotID reports whether id is a GUID, as AWS-RunPatchBaseline's SnapshotId pattern wants.
func ValidSnapshotID(id string) bool { return snapshotIDRE.MatchString(id) }

// NewSnapshotID returns a random version-4 GUID, what the payload generates for an empty SnapshotId.
func NewSnapshotID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new snapshot id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// NewSnapshot freezes b for instanceID under snapshotID. It returns EINVALID/ValidationException for
// a snapshot id that is not a GUID.
func NewSnapshot(snapshotID, instanceID, patchGroup string, b Baseline, now time.Time) (Snapshot, error) {
	if !ValidSnapshotID(snapshotID) {
		return Snapshot{}, runcmd.Errorf(runcmd.EINVALID, ErrValidation,
			"SnapshotId %q is not a GUID", snapshotID)
	}
	return Snapshot{
		SnapshotID: snapshotID, InstanceID: instanceID, PatchGroup: patchGroup,
		Baseline: b.WithDefaults(), CreatedTime: now.UTC(),
	}, nil
}

// Reusable reports whether the snapshot may still be handed out for its id at now.
func (s Snapshot) Reusable(now time.Time) bool { return now.Sub(s.CreatedTime) < SnapshotReuse }
