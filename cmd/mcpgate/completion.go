package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/demo"
)

// CompletionCmd prints a shell completion script. The script calls mcpgate
// back with the command line in COMP_LINE, and complete answers.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" predictor:"shell" help:"bash, zsh or fish."`
}

// completionScripts are the scripts per shell; ${bin} is how the shell
// finds mcpgate.
var completionScripts = map[string]string{
	"bash": "complete -C ${bin} mcpgate\n",
	"zsh":  "autoload -U +X bashcompinit && bashcompinit\ncomplete -C ${bin} mcpgate\n",
	"fish": `function __complete_mcpgate
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    ${bin}
end
complete -f -c mcpgate -a "(__complete_mcpgate)"
`,
}

// Run prints the script for the shell.
func (c *CompletionCmd) Run(e *env) error {
	script := strings.ReplaceAll(completionScripts[c.Shell], "${bin}", shellWord(selfPath()))
	_, err := fmt.Fprint(e.stdout, script)
	return err
}

// selfPath is "mcpgate" when that is this program on the PATH, else this
// program's absolute path.
func selfPath() string {
	self, err := os.Executable()
	if err != nil {
		return "mcpgate"
	}
	self, _ = filepath.EvalSymlinks(self)
	if p, err := exec.LookPath("mcpgate"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil && p == self {
			return "mcpgate"
		}
	}
	return self
}

// answerCompletion answers a shell's completion request (COMP_LINE is set) and
// reports whether it did; the process then exits without running a
// command.
func answerCompletion(parser *kong.Kong) (done bool) {
	if os.Getenv("COMP_LINE") == "" {
		return false
	}
	scopes := complete.PredictFunc(func(complete.Args) []string {
		return append(demo.Scopes(), scopeAdmin)
	})
	kongplete.Complete(parser,
		kongplete.WithPredictor("scope", scopes),
		kongplete.WithPredictor("shell", complete.PredictSet("bash", "zsh", "fish")),
		kongplete.WithPredictor("decision", complete.PredictSet(mcpgate.Decisions()...)),
		kongplete.WithExitFunc(func(int) { done = true }),
	)
	return true
}
