// Command conformancecheck is what scripts/conformance.sh runs around the
// MCP conformance suite (npm @modelcontextprotocol/conformance):
//
//	conformancecheck compare -expected FILE -target NAME DIR [DIR...]
//	    reads the per-check results the suite saved (-o DIR) for one
//	    target, directly and through mcpgate, and fails unless every
//	    directory holds the same pass/fail list and every failing check is
//	    one the expected-failures file names for that target
//	conformancecheck signin -username U -- COMMAND [ARG...]
//	    runs the suite's authorization command and, when it prints the
//	    authorization URL, signs in and approves consent on mcpgate's pages
//	    with a cookie jar, as a user at a browser would; the password is
//	    read from $MCPGATE_CONFORMANCE_PASSWORD
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: conformancecheck compare|signin [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "compare":
		err = compareMain(os.Args[2:])
	case "signin":
		err = signinMain(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformancecheck:", err)
		os.Exit(1)
	}
}
