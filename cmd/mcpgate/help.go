package main

import (
	"fmt"

	"github.com/alecthomas/kong"
)

// helpOnce prints kong's help, but lists the global flags only in
// `mcpgate --help`: under every command they would bury the command's own.
func helpOnce(options kong.HelpOptions, ctx *kong.Context) error {
	sel := ctx.Selected()
	if sel == nil {
		return kong.DefaultHelpPrinter(options, ctx)
	}
	var hidden []*kong.Flag
	for _, f := range ctx.Model.Node.Flags {
		if !f.Hidden && f.Name != "help" {
			f.Hidden = true
			hidden = append(hidden, f)
		}
	}
	defer func() {
		for _, f := range hidden {
			f.Hidden = false
		}
	}()
	if err := kong.DefaultHelpPrinter(options, ctx); err != nil {
		return err
	}
	_, err := fmt.Fprintln(ctx.Stdout, "\nGlobal flags (--config, --data, --store, --init, …): see \"mcpgate --help\".")
	return err
}
