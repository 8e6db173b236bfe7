package leak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotRepository is returned by [History] and [Staged] for a path that
// is not inside a git work tree.
var ErrNotRepository = errors.New("not a git repository")

// maxFileSize is the largest file [Dir] reads; larger files are data, not
// configuration or code.
const maxFileSize = 8 << 20

// Dir scans every regular file under root (or root itself, if it is a
// file), skipping .git directories, binary files and files larger than
// 8 MiB. File names in findings are relative to root and slash-separated.
func Dir(ctx context.Context, root string) ([]Finding, error) {
	var out []Finding
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxFileSize {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
			return nil // binary, as git decides it
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			rel = filepath.Base(path)
		}
		for _, f := range Text(b) {
			f.File = filepath.ToSlash(rel)
			out = append(out, f)
		}
		return nil
	})
	return out, err
}

// History scans every line ever added in any commit reachable from a ref
// of the repository at path, so a secret committed and deleted since is
// found in the commit that added it. A secret added to the same file in
// several commits is reported once, at the oldest.
func History(ctx context.Context, path string) ([]Finding, error) {
	if err := checkRepository(ctx, path); err != nil {
		return nil, err
	}
	found, err := gitDiff(ctx, path, "log", "--all", "--format=%x00%H")
	if err != nil {
		return nil, err
	}
	// git log lists the newest commit first: keep the last occurrence.
	type seen struct{ file, secret string }
	at := map[seen]int{}
	var out []Finding
	for _, f := range found {
		k := seen{f.File, f.Secret}
		if i, ok := at[k]; ok {
			out[i] = f
			continue
		}
		at[k] = len(out)
		out = append(out, f)
	}
	return out, nil
}

// Staged scans the lines a commit of the index would add: what a
// pre-commit hook must refuse. Secrets already committed are not
// reported again (use [History] for those).
func Staged(ctx context.Context, path string) ([]Finding, error) {
	if err := checkRepository(ctx, path); err != nil {
		return nil, err
	}
	return gitDiff(ctx, path, "diff", "--cached")
}

func checkRepository(ctx context.Context, path string) error {
	out, err := exec.CommandContext(ctx, "git", "-C", path, "rev-parse", "--is-inside-work-tree").Output()
	if err != nil || strings.TrimSpace(string(out)) != "true" {
		return fmt.Errorf("%s: %w", path, ErrNotRepository)
	}
	return nil
}

// gitDiff runs a git command that prints patches with no context lines
// and scans the lines they add.
func gitDiff(ctx context.Context, path string, args ...string) ([]Finding, error) {
	full := append([]string{"-C", path, "-c", "core.quotePath=false", "-c", "diff.noprefix=false"}, args...)
	full = append(full, "-p", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--src-prefix=a/", "--dst-prefix=b/")
	cmd := exec.CommandContext(ctx, "git", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	out, perr := parsePatches(stdout)
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, perr
}

// parsePatches reads `git log -p -U0` or `git diff -U0` output. Lines of
// the form "\x00<commit>" (from --format=%x00%H) start a commit.
func parsePatches(r io.Reader) ([]Finding, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		out           []Finding
		commit, file  string
		added         []Line
		next          int  // number of the next added line in the new file
		inHunk, skipF bool // skipF: the file was deleted
	)
	flush := func() {
		if file != "" && len(added) > 0 {
			for _, f := range Lines(added) {
				f.File, f.Commit = file, commit
				out = append(out, f)
			}
		}
		added = added[:0]
	}
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if err == io.EOF {
				err = nil
			}
			flush()
			return out, err
		}
		line = strings.TrimSuffix(line, "\n")
		if inHunk {
			switch {
			case strings.HasPrefix(line, "+"):
				if !skipF {
					added = append(added, Line{N: next, Text: line[1:]})
				}
				next++
				continue
			case strings.HasPrefix(line, "-"), strings.HasPrefix(line, `\`):
				continue
			}
			inHunk = false
		}
		switch {
		case strings.HasPrefix(line, "\x00"):
			flush()
			commit, file = line[1:], ""
		case strings.HasPrefix(line, "diff --git "):
			flush()
			file, skipF = "", false
		case strings.HasPrefix(line, "+++ "):
			name := strings.TrimSuffix(line[4:], "\t")
			if name == "/dev/null" {
				skipF = true
			} else {
				file = strings.TrimPrefix(name, "b/")
			}
		case strings.HasPrefix(line, "@@ "):
			next = hunkStart(line)
			inHunk = true
		}
	}
}

// hunkStart returns c from a hunk header "@@ -a,b +c,d @@".
func hunkStart(h string) int {
	i := strings.Index(h, " +")
	if i < 0 {
		return 1
	}
	s := h[i+2:]
	if j := strings.IndexAny(s, ", "); j >= 0 {
		s = s[:j]
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 1
	}
	return n
}
