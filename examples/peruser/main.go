// Command peruser is an MCP server whose tools keep data per caller: a
// to-do list that each user sees alone. The tool handlers learn who is
// calling with one call, authn.PrincipalFromRequest, and key the data by
// the principal's ID (tenant and subject), never by anything the client
// says about itself.
//
//	go run ./examples/peruser -data ./peruser-data
//
// On start it creates API keys for alice and bob and prints them. Adding
// an item needs the scope todo:write, listing todo:read.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "peruser:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("peruser", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8080", "address to listen on")
	data := flags.String("data", "", "data directory of the SQLite store; a temporary one, removed on exit, if empty")
	newKeys := flags.Bool("new-keys", true, "create keys for alice and bob and print them")
	if err := flags.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mcpgate-peruser-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer store.Close()
	if *newKeys {
		for _, who := range []string{"alice", "bob"} {
			key, err := authn.CreateKey(ctx, store, mcpgate.APIKey{Name: who, Subject: who, Scopes: []string{"todo:read", "todo:write"}})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "API key of %s: %s\n", who, key)
		}
	}

	keys := authn.NewKeyVerifier(store, &authn.KeyVerifierOptions{Logger: logger})
	defer keys.Close()
	go func() { _ = authn.WatchChanges(ctx, store, 0, keys.Apply) }()

	auth := authn.New(authn.Chain(keys), &authn.Options{Logger: logger})
	p := pipeline.New(auth, &pipeline.Options{Policy: policy})
	server := newServer(newTodos())
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", p.Handler(authn.SDKTokenInfo(sdk)))
	return serve(ctx, *addr, mux, out)
}

// policy: todo_add needs todo:write, todo_list todo:read.
var policy = &authz.Policy{
	Tools: []authz.Rule{
		{Match: "todo_add", Scopes: []string{"todo:write"}},
		{Match: "todo_list", Scopes: []string{"todo:read"}},
	},
}

// todos are the to-do lists, by owner.
type todos struct {
	mu    sync.Mutex
	lists map[string][]string
}

func newTodos() *todos { return &todos{lists: make(map[string][]string)} }

// AddInput is the input of todo_add.
type AddInput struct {
	Item string `json:"item" jsonschema:"what to do"`
}

// ListOutput is the output of todo_add and todo_list.
type ListOutput struct {
	Owner string   `json:"owner" jsonschema:"whose list it is"`
	Items []string `json:"items"`
}

func newServer(t *todos) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "peruser-example", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "todo_add", Description: "Add an item to your to-do list."}, t.add)
	mcp.AddTool(s, &mcp.Tool{Name: "todo_list", Description: "Your to-do list. Nobody else sees it."}, t.list)
	return s
}

// owner returns whose list a request works on: the caller's.
func owner(ctx context.Context, req *mcp.CallToolRequest) (string, error) {
	caller := authn.PrincipalFromRequest(ctx, req)
	if caller == nil || caller.Subject == "" {
		// Only when the server is mounted without mcpgate in front.
		return "", errors.New("an authenticated caller is required")
	}
	return caller.ID(), nil
}

func (t *todos) add(ctx context.Context, req *mcp.CallToolRequest, in AddInput) (*mcp.CallToolResult, ListOutput, error) {
	who, err := owner(ctx, req)
	if err != nil {
		return nil, ListOutput{}, err
	}
	item := strings.TrimSpace(in.Item)
	if item == "" || len(item) > 500 {
		return nil, ListOutput{}, errors.New("item must be 1 to 500 bytes")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lists[who] = append(t.lists[who], item)
	return nil, ListOutput{Owner: who, Items: append([]string{}, t.lists[who]...)}, nil
}

func (t *todos) list(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, ListOutput, error) {
	who, err := owner(ctx, req)
	if err != nil {
		return nil, ListOutput{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return nil, ListOutput{Owner: who, Items: append([]string{}, t.lists[who]...)}, nil
}

// serve listens on addr, prints the endpoint, and serves h until ctx is
// done; then it gives open requests five seconds to end.
func serve(ctx context.Context, addr string, h http.Handler, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "MCP endpoint: http://%s/mcp\n", ln.Addr())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(shutdown) != nil {
			_ = srv.Close()
		}
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}
