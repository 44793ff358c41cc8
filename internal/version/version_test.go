package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	stamped := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "3dc8dab2e5f1c0ffee0123456789abcdef012345"},
		{Key: "vcs.modified", Value: "true"},
	}}
	clean := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{stamped, true, Version + " (" + platform + ", revision 3dc8dab2e5f1, modified)"},
		{clean, true, Version + " (" + platform + ", revision abc123)"},
		{&debug.BuildInfo{}, true, Version + " (" + platform + ")"},
		{nil, false, Version + " (" + platform + ")"},
	} {
		if got := describe(c.bi, c.ok); got != c.want {
			t.Errorf("describe = %q, want %q", got, c.want)
		}
	}
	if s := String(); !strings.HasPrefix(s, Version+" ("+platform) {
		t.Errorf("String() = %q", s)
	}
}
