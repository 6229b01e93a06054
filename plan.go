package dirsync

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dirsync-go/dirsync/connector"
	"github.com/dirsync-go/dirsync/diff"
	"github.com/dirsync-go/dirsync/policy"
)

// Plan is a diff.Plan as a Syncer produced it, with the safety decision and
// the numbers it rests on. Render it with WriteText or encoding/json; find
// accounts in it with Search; hand it to Syncer.Apply.
type Plan struct {
	diff.Plan
	// Created is when the plan was made.
	Created time.Time
	// Managed is how many accounts of this integration the sink held.
	Managed int
	// SourceUsers is how many users the directory returned.
	SourceUsers int
	// Safety is set when the plan exceeds the policy's safety limits; Apply
	// refuses it until Approve is called.
	Safety *policy.SafetyError
	// Incremental is set when the plan was made from the directory's
	// changes since the last applied plan rather than a full read.
	Incremental bool

	approved bool
	// cursor is the connector's position after this plan's read; it is
	// saved once every change of the plan applied.
	cursor connector.Cursor
	// config fingerprints the rules a full plan was made with.
	config string
}

// Approve marks a plan over the safety limits as accepted by an admin, so
// Apply carries it out. It has no effect on a plan within the limits.
func (p *Plan) Approve() { p.approved = true }

// Approved reports whether Approve was called.
func (p *Plan) Approved() bool { return p.approved }

// Search returns a plan holding the changes whose account name, email or
// username matches the regular expression (e.g. "^[0-9]"). An invalid
// expression is an error.
func (p *Plan) Search(pattern string) (*Plan, error) {
	dp, err := p.Plan.Search(pattern)
	if err != nil {
		return nil, err
	}
	out := *p
	out.Plan = *dp
	return &out, nil
}

// WriteText renders the plan as a table (see diff.Plan.WriteText), followed
// by the safety decision when the plan exceeds the limits.
func (p *Plan) WriteText(w io.Writer) error {
	if err := p.Plan.WriteText(w); err != nil {
		return err
	}
	if p.Safety != nil {
		state := "waiting for approval"
		if p.approved {
			state = "approved"
		}
		_, err := fmt.Fprintf(w, "Safety limit: %v (%s)\n", p.Safety, state)
		return err
	}
	return nil
}

// String renders the plan as text.
func (p *Plan) String() string {
	var b strings.Builder
	_ = p.WriteText(&b)
	return b.String()
}

// MarshalJSON renders the plan's changes and counts (diff.Plan's JSON) plus
// the safety decision. Created is left out so that the same directory gives
// the same bytes.
func (p *Plan) MarshalJSON() ([]byte, error) {
	inner, err := p.Plan.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var safety *safetyJSON
	if p.Safety != nil {
		safety = &safetyJSON{Message: p.Safety.Error(), Detail: p.Safety, Approved: p.approved}
	}
	return json.Marshal(struct {
		Plan        json.RawMessage `json:"plan"`
		Managed     int             `json:"managed"`
		SourceUsers int             `json:"sourceUsers"`
		Incremental bool            `json:"incremental"`
		Safety      *safetyJSON     `json:"safety,omitempty"`
	}{inner, p.Managed, p.SourceUsers, p.Incremental, safety})
}

type safetyJSON struct {
	Message  string              `json:"message"`
	Detail   *policy.SafetyError `json:"detail"`
	Approved bool                `json:"approved"`
}
