package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/gateway"
)

// recordServerInfo writes the URLs the server answers at to the store, for
// the commands that print them (keys create, users add, clients add). A
// store that cannot take them costs only those commands' accuracy, so a
// failure is logged and the server runs on.
func recordServerInfo(ctx context.Context, store mcpgate.Store, publicURL string, ups []gateway.Upstream, logger *slog.Logger) {
	s, ok := store.(mcpgate.ServerInfoStore)
	if !ok {
		return
	}
	info := &mcpgate.ServerInfo{PublicURL: publicURL}
	origin := originOf(publicURL)
	for _, u := range ups {
		info.Upstreams = append(info.Upstreams, mcpgate.UpstreamInfo{Name: u.Name, URL: origin + u.Path})
	}
	if err := s.PutServerInfo(ctx, info); err != nil {
		logger.Warn("the CLI will not know this server's URL", "err", err)
	}
}

// useServerURL sets g.PublicURL to the URL clients of the running server
// connect to, as the server recorded it in the store: its MCP endpoint,
// or with upstream the URL of that fronted server. With no record (the
// server never started on this store) it keeps the CLI's own --public-url
// and says so on standard error. An unknown upstream is a usage error.
func (g *Globals) useServerURL(e *env, store mcpgate.Store, upstream string) error {
	var info *mcpgate.ServerInfo
	if s, ok := store.(mcpgate.ServerInfoStore); ok {
		var err error
		info, err = s.ServerInfo(e.ctx)
		if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
			return err
		}
	}
	if info == nil {
		// The config file, if shared with the server, still names the
		// upstreams.
		info = &mcpgate.ServerInfo{PublicURL: g.PublicURL}
		for _, u := range g.file.Upstreams {
			path := u.Path
			if path == "" {
				path = u.Upstream.Path()
			}
			info.Upstreams = append(info.Upstreams, mcpgate.UpstreamInfo{Name: u.Name, URL: originOf(g.PublicURL) + path})
		}
		fmt.Fprintf(e.stderr, "mcpgate: no server has run on this store yet to record its URL; using --public-url %s\n", g.PublicURL)
	} else if !g.publicDefaulted && g.PublicURL != info.PublicURL {
		fmt.Fprintf(e.stderr, "mcpgate: the server records its URL as %s; --public-url %s is not used\n", info.PublicURL, g.PublicURL)
	}
	if upstream == "" {
		g.PublicURL = info.PublicURL
		return nil
	}
	names := make([]string, 0, len(info.Upstreams))
	for _, u := range info.Upstreams {
		if u.Name == upstream {
			g.PublicURL = u.URL
			return nil
		}
		names = append(names, u.Name)
	}
	msg := fmt.Sprintf("--upstream: the server fronts no MCP server named %q", upstream)
	switch near := didYouMean(upstream, names); {
	case near != "":
		msg += fmt.Sprintf("; did you mean %q?", near)
	case len(names) > 0:
		msg += "; it fronts " + strings.Join(names, ", ")
	default:
		msg += "; it serves only its built-in server, at " + info.PublicURL
	}
	return usageError{errors.New(msg)}
}
