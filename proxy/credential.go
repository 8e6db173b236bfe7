package proxy

import (
	"errors"
	"net/http"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/refusal"
)

// credential sets the Authorization header of the upstream request from
// Options.Credential, or returns the refusal it decided on.
func (h *HTTP) credential(out *http.Request, x *exchange) *refusal.Refusal {
	if h.opts.Credential == nil {
		return nil
	}
	v, err := h.opts.Credential(out.Context(), x.req.Principal)
	if err == nil {
		out.Header.Set("Authorization", v)
		return nil
	}
	var rf *refusal.Refusal
	if !errors.As(err, &rf) {
		rf = &refusal.Refusal{Kind: refusal.Internal, Err: err}
	}
	rf.ID = x.req.SingleID()
	h.opts.Logger.Warn("proxy: no upstream credential for the caller", "upstream", h.target.Host,
		"subject", principalSubject(x.req.Principal), "kind", rf.Kind.String(), "err", rf.Err)
	return rf
}

// auditReason is the audit reason of a refusal: its error's, else its
// kind's.
func auditReason(rf *refusal.Refusal) string {
	if r := mcpgate.Reason(rf.Err); r != "" {
		return r
	}
	return rf.Kind.Reason()
}

func principalSubject(pr *mcpgate.Principal) string {
	if pr == nil {
		return ""
	}
	return pr.Subject
}
