package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func (a *app) newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of cchain (as --version does)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(a.stdout)
		},
	}
}

// runVersion prints the version line.
func runVersion(w io.Writer) error {
	_, err := fmt.Fprintln(w, versionString())
	return err
}

// versionString is "cchain VERSION (GO VERSION)".
func versionString() string {
	v := version
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" {
		v = "dev"
	}
	goVersion := "unknown"
	if ok {
		goVersion = info.GoVersion
	}
	return fmt.Sprintf("cchain %s (%s)", v, goVersion)
}
