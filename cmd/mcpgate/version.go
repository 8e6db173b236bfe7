package main

import (
	"fmt"
	"runtime/debug"
)

// version is mcpgate's version. A release build may set it with
// -ldflags "-X main.version=…"; otherwise it comes from the build info.
var version = "dev"

// versionString returns the version to report: the one set at link time,
// else the module version the build info records (`go install
// github.com/mcpgate/mcpgate/cmd/mcpgate@v1.2.0` records v1.2.0), else
// "dev" with the commit a build from a checkout records.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	return versionFrom(version, bi)
}

func versionFrom(linked string, bi *debug.BuildInfo) string {
	if linked != "dev" {
		return linked
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	return fmt.Sprintf("dev (%.12s%s)", rev, modified)
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(e *env) error {
	fmt.Fprintln(e.stdout, "mcpgate", versionString())
	return nil
}
