// Package oidcprovider starts the real OpenID provider the tests trust:
// interop/oidc-idp.mjs, on oidc-provider (npm), a certified implementation
// nobody here wrote. It is for tests only.
package oidcprovider

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Start runs interop/oidc-idp.mjs with node from the folder interop and
// returns the issuer URL it prints. The provider stops when the test ends
// (stdin closed, then killed after 5 s).
func Start(t testing.TB, node, interop string) string {
	t.Helper()
	return StartWith(t, node, interop)
}

// StartWith is Start with environment variables (NAME=value) added to the
// provider's, such as LOGIN_REDIRECT_URI, which makes it a provider people
// sign in with (see interop/oidc-idp.mjs).
func StartWith(t testing.TB, node, interop string, env ...string) string {
	t.Helper()
	cmd := exec.Command(node, "oidc-idp.mjs")
	cmd.Dir = interop
	cmd.Env = append(os.Environ(), env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case iss := <-line:
		return iss
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("oidc-provider did not start:\n%s", stderr.String())
		return ""
	}
}
