package manager

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/portcullis-dev/portcullis/internal/ingest"
)

// parseIngestFlags parses args over the default options and checks the
// limits.
func parseIngestFlags(t *testing.T, args ...string) (IngestOptions, error) {
	t.Helper()
	o := DefaultIngestOptions()
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o, o.checkLimits()
}

func TestIngestLimitFlags(t *testing.T) {
	d, err := parseIngestFlags(t)
	if err != nil || d.MaxConcurrentRequests != ingest.DefaultMaxConcurrentRequests || d.MaxInflightBytes != ingest.DefaultMaxInflightBytes ||
		d.Rate != ingest.DefaultRate || d.Burst != ingest.DefaultBurst || d.serverRate() != ingest.DefaultRate {
		t.Errorf("defaults %+v: %v", d, err)
	}
	o, err := parseIngestFlags(t, "--ingest-max-concurrent-requests=2", "--ingest-max-inflight-bytes=16777216", "--ingest-rate=0.5", "--ingest-burst=3")
	if err != nil || o.MaxConcurrentRequests != 2 || o.MaxInflightBytes != 16<<20 || o.Rate != 0.5 || o.Burst != 3 {
		t.Errorf("parsed %+v: %v", o, err)
	}
	if o, _ := parseIngestFlags(t, "--ingest-rate=0"); o.serverRate() >= 0 {
		t.Error("--ingest-rate=0 does not turn the limit off")
	}
}

func TestIngestLimitFlagsRefuseNonsense(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ingest-max-concurrent-requests=0"}, "--ingest-max-concurrent-requests"},
		{[]string{"--ingest-max-inflight-bytes=1048576"}, "at least --ingest-max-body-bytes"},
		{[]string{"--ingest-rate=-1"}, "--ingest-rate"},
		{[]string{"--ingest-rate=NaN"}, "--ingest-rate"},
		{[]string{"--ingest-burst=0"}, "--ingest-burst"},
		{[]string{"--ingest-max-body-bytes=0"}, "--ingest-max-body-bytes"},
	} {
		if _, err := parseIngestFlags(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
