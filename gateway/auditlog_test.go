package gateway

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/redact"
)

// The "mcp request" line says, at info level and through the redacting
// handler the gateway logs with, why a request was refused: the reason
// names survive redaction, and the credential never appears.
func TestAuditLogNamesTheReason(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(redact.NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	a := newAuditWriter(&fakeAuditStore{}, logger)
	for _, reason := range []string{mcpgate.ReasonUnknownKey, mcpgate.ReasonWrongSecret, mcpgate.ReasonRevoked, mcpgate.ReasonBadChecksum} {
		buf.Reset()
		a.closed = true // write directly: no run loop in this test
		a.record(&mcpgate.AuditEvent{Method: "POST", Decision: mcpgate.DecisionUnauthenticated, Reason: reason, Status: 401})
		if got := buf.String(); !strings.Contains(got, " decision=unauthenticated reason="+reason+" ") {
			t.Errorf("log line lacks the reason %s:\n%s", reason, got)
		}
	}
}
