// Package version is Fovea's release number, the one the fovea command
// prints (fovea --version) and the server reports (GET /v2), and a
// description of the running binary's build.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is the Fovea release.
const Version = "0.1.0"

// String describes the running binary: the release, the Go version and
// platform, and the VCS revision when the build recorded one (go build in
// a git checkout does; go run does not), e.g.
//
//	0.1.0 (go1.26.8 linux/amd64, revision 3dc8dab2e5f1, modified)
//
// where "modified" means the checkout had uncommitted changes.
func String() string {
	bi, ok := debug.ReadBuildInfo()
	return describe(bi, ok)
}

// describe is [String] for the build information bi (ok false: none).
func describe(bi *debug.BuildInfo, ok bool) string {
	parts := []string{runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if ok && bi != nil {
		var rev string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value[:min(len(s.Value), 12)]
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			parts = append(parts, "revision "+rev)
			if modified {
				parts = append(parts, "modified")
			}
		}
	}
	return Version + " (" + strings.Join(parts, ", ") + ")"
}
