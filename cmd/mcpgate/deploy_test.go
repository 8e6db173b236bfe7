package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The files under deploy/ and the Dockerfile are checked here as far as this
// machine can: the binary built the Dockerfile's way runs alone, the compose
// and Kubernetes files parse and name only settings mcpgate has, the systemd
// unit verifies, and the HAProxy configuration gives MCP sessions their
// affinity in front of two real replicas.

// repoRoot is the repository root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// dockerBuild is the build line of the Dockerfile, which the test below
// runs as written.
var dockerBuildRe = regexp.MustCompile(`RUN (CGO_ENABLED=0) go build ((?:-\S+(?:="[^"]*")? )*)-o /out/mcpgate (\S+)`)

// TestDockerfileBinaryRunsAlone builds mcpgate the Dockerfile's way and runs
// it from an otherwise empty directory: as root in a chroot holding only the
// binary and its data directory, as uid 65532 (the image's user), which is
// what the distroless image gives it; elsewhere from an empty working
// directory with an empty environment.
func TestDockerfileBinaryRunsAlone(t *testing.T) {
	root := repoRoot(t)
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := dockerBuildRe.FindStringSubmatch(string(dockerfile))
	if m == nil {
		t.Fatalf("no `RUN CGO_ENABLED=0 go build … -o /out/mcpgate` line in the Dockerfile")
	}
	for _, want := range []string{"FROM gcr.io/distroless/static", "USER 65532:65532", `ENTRYPOINT ["/mcpgate"]`} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mcpgate")
	args := []string{"build"}
	for _, f := range regexp.MustCompile(`-[^\s=]+(?:="[^"]*"|=\S+)?`).FindAllString(m[2], -1) {
		args = append(args, strings.ReplaceAll(f, `"`, ""))
	}
	args = append(args, "-o", bin, m[3])
	build := exec.Command("go", args...)
	build.Dir = root
	build.Env = append(os.Environ(), m[1])
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (program header %v): the static image cannot run it", p.Type)
		}
	}
	f.Close()

	// An empty directory: the binary and a data directory, nothing else.
	jail := filepath.Join(dir, "jail")
	if err := os.MkdirAll(filepath.Join(jail, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(bin, filepath.Join(jail, "mcpgate")); err != nil {
		t.Fatal(err)
	}
	port, admin := freePort(t), freePort(t)
	cmd := exec.Command("/mcpgate", "serve", "--listen", "127.0.0.1:"+port, "--admin-listen", "127.0.0.1:"+admin, "--data", "/data")
	cmd.Env = []string{}
	if os.Geteuid() == 0 && runtime.GOOS == "linux" {
		if err := os.Chown(filepath.Join(jail, "data"), 65532, 65532); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(jail, 0o755); err != nil { // the image's / is world-readable
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     jail,
			Credential: &syscall.Credential{Uid: 65532, Gid: 65532},
		}
		cmd.Dir = "/"
	} else {
		t.Log("not root: running from an empty working directory instead of a chroot")
		cmd.Path = filepath.Join(jail, "mcpgate")
		cmd.Args = []string{cmd.Path, "serve", "--listen", "127.0.0.1:" + port, "--admin-listen", "127.0.0.1:" + admin, "--data", filepath.Join(jail, "data")}
		cmd.Dir = jail
	}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	get := func(url string) (int, http.Header, error) {
		res, err := http.Get(url)
		if err != nil {
			return 0, nil, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header, nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := get("http://127.0.0.1:" + admin + "/readyz")
		if err == nil && code == 200 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("mcpgate exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s (last: %d %v)\n%s", code, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, h, err := get("http://127.0.0.1:" + port + "/mcp")
	if err != nil || code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Errorf("GET /mcp: %d %v, WWW-Authenticate %q; want 401 with resource_metadata", code, err, h.Get("WWW-Authenticate"))
	}
	for _, name := range []string{"mcpgate.db", "encryption.key"} {
		st, err := os.Stat(filepath.Join(jail, "data", name))
		if err != nil {
			t.Errorf("the data directory has no %s: %v", name, err)
			continue
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: readable by others", name, st.Mode().Perm())
		}
		if os.Geteuid() == 0 {
			if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65532 {
				t.Errorf("%s is owned by uid %d, want 65532", name, uid)
			}
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit 20s after SIGTERM")
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	return port
}

// knownEnv is every MCPGATE_* variable the command line reads, from the
// env:"…" tags of its flags.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`env:"(MCPGATE_[A-Z0-9_]+)"`)
	known := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			known[string(m[1])] = true
		}
	}
	if len(known) < 20 {
		t.Fatalf("found only %d MCPGATE_* variables in the flag tags; the pattern is out of date", len(known))
	}
	return known
}

// secretEnv are the settings whose values are secrets or may hold one: in
// the shipped examples they must be file references.
var secretEnv = []string{"MCPGATE_STORE", "MCPGATE_ENCRYPTION_KEY"}

func checkEnv(t *testing.T, where string, env map[string]string, known map[string]bool) {
	t.Helper()
	for name, value := range env {
		if strings.HasPrefix(name, "MCPGATE_") && !known[name] {
			t.Errorf("%s sets %s, which mcpgate does not read", where, name)
		}
		if slices.Contains(secretEnv, name) && !strings.HasPrefix(value, "file:") {
			t.Errorf("%s gives %s as a value, not a file: reference", where, name)
		}
	}
	for _, name := range secretEnv {
		if _, ok := env[name]; !ok {
			t.Errorf("%s does not set %s", where, name)
		}
	}
}

// TestComposeFile checks deploy/compose.yaml: two replicas of one image on
// Postgres and Redis behind HAProxy, every MCPGATE_* variable one mcpgate
// reads, secrets as file references, and the proxy the only trusted one.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string
			Environment map[string]string
			Volumes     []string
			Networks    yaml.Node
		}
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"mcpgate-1", "mcpgate-2", "postgres", "redis", "haproxy"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("compose.yaml has no service %s", name)
		}
	}
	known := knownEnv(t)
	r1, r2 := compose.Services["mcpgate-1"], compose.Services["mcpgate-2"]
	if r1.Image == "" || r1.Image != r2.Image {
		t.Errorf("the replicas run images %q and %q; want one image", r1.Image, r2.Image)
	}
	checkEnv(t, "compose.yaml mcpgate-1", r1.Environment, known)
	if fmt.Sprint(r1.Environment) != fmt.Sprint(r2.Environment) {
		t.Errorf("the two replicas are configured differently")
	}
	var hap struct {
		Mcpgate struct {
			IPv4 string `yaml:"ipv4_address"`
		}
	}
	networks := compose.Services["haproxy"].Networks
	if err := networks.Decode(&hap); err != nil || hap.Mcpgate.IPv4 == "" {
		t.Fatalf("haproxy has no fixed address (%v); the replicas cannot trust it alone", err)
	}
	if got := r1.Environment["MCPGATE_TRUSTED_PROXIES"]; got != hap.Mcpgate.IPv4+"/32" {
		t.Errorf("MCPGATE_TRUSTED_PROXIES = %q; want only HAProxy, %s/32", got, hap.Mcpgate.IPv4)
	}
	if !slices.ContainsFunc(compose.Services["haproxy"].Volumes, func(v string) bool { return strings.HasPrefix(v, "./haproxy.cfg:") }) {
		t.Errorf("haproxy does not mount ./haproxy.cfg")
	}
	if _, err := exec.LookPath("haproxy"); err == nil {
		out, err := exec.Command("haproxy", "-c", "-f", filepath.Join(repoRoot(t), "deploy", "haproxy.cfg")).CombinedOutput()
		if err != nil {
			t.Errorf("haproxy -c deploy/haproxy.cfg: %v\n%s", err, out)
		}
	}
}

// TestKubernetesManifests checks deploy/kubernetes/mcpgate.yaml: it parses,
// probes /readyz and /healthz on the admin port, runs as non-root with a
// read-only root, reads its secrets as files from the mounted Secret, and
// its HAProxy configuration is valid.
func TestKubernetesManifests(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "kubernetes", "mcpgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		HTTPGet struct {
			Path string
			Port string
		} `yaml:"httpGet"`
	}
	type doc struct {
		Kind     string
		Metadata struct{ Name string }
		Data     map[string]string
		Spec     struct {
			Replicas int
			Template struct {
				Spec struct {
					SecurityContext struct {
						RunAsNonRoot bool `yaml:"runAsNonRoot"`
					} `yaml:"securityContext"`
					Containers []struct {
						Name  string
						Env   []struct{ Name, Value string }
						Ports []struct {
							Name          string
							ContainerPort int `yaml:"containerPort"`
						}
						ReadinessProbe  probe `yaml:"readinessProbe"`
						LivenessProbe   probe `yaml:"livenessProbe"`
						SecurityContext struct {
							ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
						} `yaml:"securityContext"`
						VolumeMounts []struct {
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					}
				}
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []doc
	for {
		var d doc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("mcpgate.yaml document %d: %v", len(docs)+1, err)
		}
		docs = append(docs, d)
	}
	kinds := map[string]doc{}
	for _, d := range docs {
		kinds[d.Kind+"/"+d.Metadata.Name] = d
	}
	for _, want := range []string{"Deployment/mcpgate", "Service/mcpgate-pods", "ConfigMap/mcpgate-haproxy", "Deployment/mcpgate-haproxy", "Service/mcpgate"} {
		if _, ok := kinds[want]; !ok {
			t.Errorf("mcpgate.yaml has no %s", want)
		}
	}
	dep := kinds["Deployment/mcpgate"]
	if dep.Spec.Replicas < 2 {
		t.Errorf("replicas: %d", dep.Spec.Replicas)
	}
	if !dep.Spec.Template.Spec.SecurityContext.RunAsNonRoot {
		t.Error("the pod may run as root")
	}
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(dep.Spec.Template.Spec.Containers))
	}
	c := dep.Spec.Template.Spec.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	checkEnv(t, "the Deployment", env, knownEnv(t))
	if env["MCPGATE_ADMIN_LISTEN"] != ":"+strconv.Itoa(ports["admin"]) {
		t.Errorf("MCPGATE_ADMIN_LISTEN %q is not the admin port %d", env["MCPGATE_ADMIN_LISTEN"], ports["admin"])
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port != "admin" {
		t.Errorf("readiness probe %+v; want /readyz on admin", c.ReadinessProbe.HTTPGet)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v; want /healthz", c.LivenessProbe.HTTPGet)
	}
	if !c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("the root filesystem is writable")
	}
	for _, name := range secretEnv {
		path := strings.TrimPrefix(env[name], "file:")
		if !slices.ContainsFunc(c.VolumeMounts, func(m struct {
			MountPath string `yaml:"mountPath"`
		}) bool {
			return strings.HasPrefix(path, m.MountPath+"/")
		}) {
			t.Errorf("%s reads %s, which no volume mounts", name, path)
		}
	}
	cfg := kinds["ConfigMap/mcpgate-haproxy"].Data["haproxy.cfg"]
	if !strings.Contains(cfg, "stick store-response res.hdr(mcp-session-id)") {
		t.Error("the HAProxy configuration does not learn Mcp-Session-Id affinity")
	}
	if _, err := exec.LookPath("haproxy"); err == nil {
		p := filepath.Join(t.TempDir(), "haproxy.cfg")
		os.WriteFile(p, []byte(cfg), 0o600)
		if out, err := exec.Command("haproxy", "-c", "-f", p).CombinedOutput(); err != nil {
			t.Errorf("haproxy -c on the ConfigMap: %v\n%s", err, out)
		}
	}
}

// TestSystemdUnit verifies deploy/mcpgate.service with systemd-analyze: the
// unit is valid, its flags are ones serve takes, and its exposure score
// stays low.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "mcpgate.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	exec1 := regexp.MustCompile(`(?s)ExecStart=(.*?[^\\])\n`).FindStringSubmatch(unit)
	if exec1 == nil {
		t.Fatal("no ExecStart")
	}
	var help []byte
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}} {
		out, err := exec.Command(binPath, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("mcpgate %v: %v", args, err)
		}
		help = append(help, out...)
	}
	for _, flag := range regexp.MustCompile(`--[a-z-]+`).FindAllString(exec1[1], -1) {
		if !bytes.Contains(help, []byte(flag)) {
			t.Errorf("ExecStart passes %s, which serve does not take", flag)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing")
		}
		t.Skip("systemd-analyze is not installed")
	}
	p := filepath.Join(t.TempDir(), "mcpgate.service")
	os.WriteFile(p, []byte(strings.ReplaceAll(unit, "/usr/local/bin/mcpgate", binPath)), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", p).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ := exec.Command("systemd-analyze", "security", "--offline=true", p).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for mcpgate.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd exposure level: %.1f (0 safest, 10 unprotected)", score)
	if score > 2.0 {
		t.Errorf("exposure level %.1f; the unit should stay at 2.0 or below", score)
	}
}

// TestHAProxyAffinity runs deploy/haproxy.cfg in front of two mcpgate
// replicas sharing one store: MCP clients keep their sessions through it,
// new sessions are spread over both replicas, and each session is one that
// only its own replica knows, so the affinity is what makes them work.
func TestHAProxyAffinity(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy is missing (scripts/test.sh installs it)")
		}
		t.Skip("haproxy is not installed")
	}
	data := t.TempDir()
	key, _ := createKey(t, data, "--name", "affinity")
	lb := freePort(t)
	public := "http://127.0.0.1:" + lb + "/mcp"
	var replicas [2]*server
	var admins [2]string
	for i := range replicas {
		admins[i] = freePort(t)
		replicas[i] = startServer(t, data, "--public-url", public, "--admin-listen", "127.0.0.1:"+admins[i])
	}
	listenRe := regexp.MustCompile(`msg="mcpgate listening" addr=(\S+)`)
	hostport := func(s *server) string {
		var addr string
		eventually(t, 5*time.Second, func() error {
			m := listenRe.FindStringSubmatch(s.logs.String())
			if m == nil {
				return errors.New("no listening line in the log yet")
			}
			addr = m[1]
			return nil
		})
		return addr
	}
	cfg := filepath.Join(repoRoot(t), "deploy", "haproxy.cfg")
	hap := exec.Command("haproxy", "-db", "-f", cfg)
	hap.Env = append(os.Environ(),
		"HAPROXY_BIND=127.0.0.1:"+lb,
		"MCPGATE_REPLICA1="+hostport(replicas[0]), "MCPGATE_REPLICA1_ADMIN="+admins[0],
		"MCPGATE_REPLICA2="+hostport(replicas[1]), "MCPGATE_REPLICA2_ADMIN="+admins[1],
	)
	var hlog syncBuffer
	hap.Stdout, hap.Stderr = &hlog, &hlog
	if err := hap.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hap.Process.Kill()
		hap.Wait()
		if t.Failed() {
			t.Logf("haproxy:\n%s", hlog.String())
		}
	})
	// Both replicas up in HAProxy's health checks: a call through it works.
	eventually(t, 20*time.Second, func() error {
		res, _, err := doRPC(public, key, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		if err != nil {
			return err
		}
		if res.StatusCode >= 500 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond) // one check interval more, so both are up

	owners := map[int]int{}
	for i := range 6 {
		id := initSession(t, public, key)
		for j := range 5 {
			res, body := postSession(t, public, key, id, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"notes_list","arguments":{}}}`, j+2))
			if res.StatusCode != http.StatusOK || !strings.Contains(body, `"result"`) || strings.Contains(body, `"isError":true`) {
				t.Fatalf("session %d call %d through HAProxy: %d %s", i, j, res.StatusCode, body)
			}
		}
		owner := -1
		for r, rep := range replicas {
			res, body := postSession(t, "http://"+hostport(rep)+"/mcp", key, id, `{"jsonrpc":"2.0","id":99,"method":"tools/list"}`)
			switch res.StatusCode {
			case http.StatusOK:
				if owner >= 0 {
					t.Fatalf("session %d is known to both replicas", i)
				}
				owner = r
			case http.StatusNotFound:
			default:
				t.Fatalf("replica %d answered %d for session %d: %s", r+1, res.StatusCode, i, body)
			}
		}
		if owner < 0 {
			t.Fatalf("session %d is known to neither replica", i)
		}
		owners[owner]++
	}
	t.Logf("6 sessions through HAProxy: %d on replica 1, %d on replica 2", owners[0], owners[1])
	if owners[0] == 0 || owners[1] == 0 {
		t.Errorf("every session landed on one replica (%v): HAProxy is not balancing", owners)
	}
}
