package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

func signinMain(args []string) error {
	fs := flag.NewFlagSet("signin", flag.ExitOnError)
	username := fs.String("username", "", "the mcpgate user to sign in as")
	_ = fs.Parse(args)
	password := os.Getenv("MCPGATE_CONFORMANCE_PASSWORD")
	if *username == "" || password == "" || fs.NArg() == 0 {
		return errors.New("signin needs -username, $MCPGATE_CONFORMANCE_PASSWORD and the suite's command line")
	}

	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	// The suite prints the authorization URL and then waits (up to five
	// minutes) for a browser to bring the authorization response to its
	// callback. A failed sign-in ends the suite at once instead.
	signinErr := make(chan error, 1)
	sc := bufio.NewScanner(out)
	started := false
	for sc.Scan() {
		line := sc.Text()
		fmt.Println(line)
		if u, err := url.Parse(strings.TrimSpace(line)); !started && err == nil && u.Scheme == "http" && u.Query().Get("response_type") == "code" {
			started = true
			go func() {
				err := signIn(u.String(), *username, password)
				if err != nil {
					_ = cmd.Process.Kill()
				}
				signinErr <- err
			}()
		}
	}
	waitErr := cmd.Wait()
	if started {
		if err := <-signinErr; err != nil {
			return fmt.Errorf("sign-in: %w", err)
		}
	}
	if waitErr != nil {
		return fmt.Errorf("the suite: %w", waitErr)
	}
	return nil
}

// signIn follows authURL as a browser would: the sign-in page, then the
// consent page, approving every scope offered, until mcpgate redirects to
// the client's callback, which it then visits.
func signIn(authURL, username, password string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}

	page, err := get(c, authURL)
	if err != nil {
		return err
	}
	for step := 0; step < 4; step++ {
		var f *form
		switch {
		case page.has("password-form"):
			if f, err = page.form("password-form"); err != nil {
				return err
			}
			f.values.Set("username", username)
			f.values.Set("password", password)
			fmt.Printf("signin: signing in as %s at %s\n", username, f.action)
		case page.has("consent-form"):
			if f, err = page.form("consent-form"); err != nil {
				return err
			}
			f.values.Set("action", "approve")
			fmt.Printf("signin: approving scopes %q at %s\n", f.values["scope"], f.action)
		case page.url.Path == "/callback" && page.status == http.StatusOK:
			fmt.Printf("signin: the authorization response reached the callback %s://%s%s\n", page.url.Scheme, page.url.Host, page.url.Path)
			return nil
		default:
			return fmt.Errorf("unexpected page %s (status %d): %.400s", page.url, page.status, page.body)
		}
		if page, err = post(c, f); err != nil {
			return err
		}
	}
	return fmt.Errorf("no redirect to the callback after %s", page.url)
}

// page is a fetched HTML page, after redirects.
type page struct {
	url    *url.URL
	status int
	body   string
}

// form is a form of a page, ready to be posted.
type form struct {
	action *url.URL
	values url.Values
	origin string
}

func get(c *http.Client, u string) (*page, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return do(c, req)
}

// post submits f as a browser does from a page of the same site: with
// Origin and Sec-Fetch-Site, which the sign-in pages' cross-origin
// protection reads.
func post(c *http.Client, f *form) (*page, error) {
	req, err := http.NewRequest(http.MethodPost, f.action.String(), strings.NewReader(f.values.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (*page, error) {
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return &page{url: resp.Request.URL, status: resp.StatusCode, body: string(b)}, nil
}

func (p *page) has(formID string) bool {
	return strings.Contains(p.body, `id="`+formID+`"`)
}

var (
	formTag  = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	inputTag = regexp.MustCompile(`<(?:input|button)\b([^>]*)>`)
	attr     = regexp.MustCompile(`([a-zA-Z-]+)(?:="([^"]*)")?`)
)

// form returns the form with the given id: its action, and the values a
// browser would send without the user typing anything (hidden inputs and
// checked boxes). Buttons are left for the caller to choose.
func (p *page) form(id string) (*form, error) {
	for _, m := range formTag.FindAllStringSubmatch(p.body, -1) {
		fa := attrs(m[1])
		if fa["id"] != id {
			continue
		}
		action, err := p.url.Parse(fa["action"])
		if err != nil {
			return nil, err
		}
		f := &form{action: action, values: url.Values{}, origin: p.url.Scheme + "://" + p.url.Host}
		for _, in := range inputTag.FindAllStringSubmatch(m[2], -1) {
			a := attrs(in[1])
			if a["name"] == "" || strings.HasPrefix(in[0], "<button") {
				continue
			}
			switch a["type"] {
			case "hidden":
				f.values.Add(a["name"], a["value"])
			case "checkbox":
				if _, checked := a["checked"]; checked {
					f.values.Add(a["name"], a["value"])
				}
			}
		}
		return f, nil
	}
	return nil, fmt.Errorf("page %s has no form %q", p.url, id)
}

// attrs returns the attributes of a tag, values unescaped.
func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attr.FindAllStringSubmatch(s, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2])
	}
	return out
}
